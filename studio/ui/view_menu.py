"""The View menu: theme (system, light, dark), text size and presenter mode, applied at once and remembered."""
from __future__ import annotations

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QApplication, QMainWindow

from studio.ui.theme import THEMES

THEME_LABELS = {"system": "System theme", "light": "Light theme", "dark": "Dark theme"}


def add_view_menu(window: QMainWindow) -> None:
    """Add the View menu to `window`, which holds an `appearance` (studio.ui.theme.Appearance)."""
    appearance = window.appearance
    menu = window.menuBar().addMenu("&View")
    group = QActionGroup(menu, exclusive=True)
    window.theme_actions = {}
    for theme in THEMES:
        action = QAction(THEME_LABELS[theme], menu, checkable=True, checked=appearance.theme == theme)
        action.triggered.connect(lambda _=False, theme=theme: _set(window, theme=theme))
        group.addAction(action)
        menu.addAction(action)
        window.theme_actions[theme] = action
    menu.addSeparator()
    menu.addAction("Larger text", QKeySequence.StandardKey.ZoomIn, lambda: _set(window, steps=1))
    menu.addAction("Smaller text", QKeySequence.StandardKey.ZoomOut, lambda: _set(window, steps=-1))
    presenter = QAction("Presenter mode (large text)", menu, checkable=True, checked=appearance.presenter,
                        shortcut=QKeySequence("Ctrl+Shift+P"))
    presenter.setToolTip("Large text everywhere, readable from the back of a room")
    presenter.toggled.connect(lambda on: _set(window, presenter=on))
    menu.addAction(presenter)
    window.presenter_action = presenter


def _set(window: QMainWindow, theme: str | None = None, steps: int = 0, presenter: bool | None = None) -> None:
    appearance = window.appearance
    if theme is not None:
        appearance.theme = theme
    if steps:
        appearance.step_size(steps)
    if presenter is not None:
        appearance.presenter = presenter
    appearance.apply(QApplication.instance())
