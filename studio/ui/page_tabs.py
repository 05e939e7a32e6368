"""The main window's pages as tabs, each in a scroll area, so that no page makes the window grow; a page may be
built the first time it is shown, so that starting the window builds only the page it opens on."""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QFrame, QScrollArea, QTabWidget, QWidget


class PageTabs(QTabWidget):
    """Tabs whose pages scroll when the window is smaller than they need (Qt sizes a window to fit its largest
    page otherwise). `widget`, `currentWidget`, `indexOf` and `setCurrentWidget` speak of the pages themselves;
    `widget` and `currentWidget` build a page added with `add_lazy` that was not built yet."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._builders: dict[QScrollArea, Callable[[], QWidget]] = {}
        self.currentChanged.connect(self.widget)  # a tab being shown builds its page

    def addTab(self, page: QWidget, label: str) -> int:
        area = QScrollArea(widgetResizable=True, frameShape=QFrame.Shape.NoFrame)
        area.setWidget(page)
        return super().addTab(area, label)

    def add_lazy(self, build: Callable[[], QWidget], label: str) -> int:
        """A tab whose page `build()` makes the first time the tab is shown or its page asked for."""
        area = QScrollArea(widgetResizable=True, frameShape=QFrame.Shape.NoFrame)
        self._builders[area] = build
        return super().addTab(area, label)

    def widget(self, index: int) -> QWidget | None:
        area = super().widget(index)
        if not isinstance(area, QScrollArea):
            return area
        build = self._builders.pop(area, None)
        if build is not None:
            area.setWidget(build())
        return area.widget()

    def currentWidget(self) -> QWidget | None:
        return self.widget(self.currentIndex())

    def indexOf(self, page: QWidget) -> int:
        """The tab of `page`, -1 for none (a page not built yet is no page)."""
        areas = [super(PageTabs, self).widget(i) for i in range(self.count())]
        return next((i for i, area in enumerate(areas) if isinstance(area, QScrollArea) and area.widget() is page), -1)

    def setCurrentWidget(self, page: QWidget) -> None:
        self.setCurrentIndex(self.indexOf(page))

    def remove_pages(self) -> None:
        """Take every page away (deleted later, with its scroll area)."""
        self._builders.clear()
        while self.count():
            area = super().widget(0)
            self.removeTab(0)
            area.deleteLater()
