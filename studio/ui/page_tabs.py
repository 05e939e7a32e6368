"""The main window's pages as tabs, each in a scroll area, so that no page makes the window grow."""
from __future__ import annotations

from PySide6.QtWidgets import QFrame, QScrollArea, QTabWidget, QWidget


class PageTabs(QTabWidget):
    """Tabs whose pages scroll when the window is smaller than they need (Qt sizes a window to fit its largest
    page otherwise). `widget`, `currentWidget`, `indexOf` and `setCurrentWidget` speak of the pages themselves."""

    def addTab(self, page: QWidget, label: str) -> int:
        area = QScrollArea(widgetResizable=True, frameShape=QFrame.Shape.NoFrame)
        area.setWidget(page)
        return super().addTab(area, label)

    def widget(self, index: int) -> QWidget | None:
        area = super().widget(index)
        return area.widget() if isinstance(area, QScrollArea) else area

    def currentWidget(self) -> QWidget | None:
        return self.widget(self.currentIndex())

    def indexOf(self, page: QWidget) -> int:
        return next((i for i in range(self.count()) if self.widget(i) is page), -1)

    def setCurrentWidget(self, page: QWidget) -> None:
        self.setCurrentIndex(self.indexOf(page))

    def remove_pages(self) -> None:
        """Take every page away (deleted later, with its scroll area)."""
        while self.count():
            area = super().widget(0)
            self.removeTab(0)
            area.deleteLater()
