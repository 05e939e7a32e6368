"""Appearance: light, dark or the system's theme, the text size and a presenter mode, remembered.

Every custom colour lives in `COLOURS`, one row per theme, and reaches widgets through one application
style sheet keyed on a `role` property (`set_role(label, "error")`), so switching theme recolours
every page at once; the charts (`studio.ui.chart_style`, imported with the first page that has charts, and with it
pyqtgraph) follow through `CHART_HOOKS`.
"""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory, QWidget

from studio.ui.settings import settings

THEMES = ("system", "light", "dark")
COLOURS = {
    "light": {"error": "#b00020", "error_bg": "#fdecea", "error_border": "#f5c2c0", "muted": "#666666",
              "picked_bg": "#d8f0d8", "notice_bg": "#fff4ce", "plot_bg": "#ffffff", "plot_fg": "#000000"},
    "dark": {"error": "#ff8a80", "error_bg": "#4a1c1c", "error_border": "#8c3a3a", "muted": "#a8a8a8",
             "picked_bg": "#1f4d2a", "notice_bg": "#4d4219", "plot_bg": "#1e1e1e", "plot_fg": "#e0e0e0"},
}
DEFAULT_POINT_SIZE = 10
PRESENTER_POINT_SIZE = 20  # readable from the back of a room
FONT_STEPS = (8, 9, 10, 11, 12, 14, 16, 18, 20, 24)
SCALE_PROPERTY = "font_scale"  # a widget with its own font keeps it at this multiple of the app's
CHART_HOOKS: list[Callable[[QApplication, dict[str, str]], None]] = []  # `apply` calls each with the new colours


def set_role(widget: QWidget, role: str) -> None:
    """Colour `widget` by role ("error", "muted", "picked", "notice", "" for none) from the current theme."""
    widget.setProperty("role", role)
    widget.style().unpolish(widget)
    widget.style().polish(widget)


def role_colour(widget: QWidget, role: str) -> QColor:
    """The current theme's colour for `role` (a key of `COLOURS`), for what a style sheet cannot reach
    (e.g. list items); the theme is read from `widget`'s palette."""
    return QColor(COLOURS["dark" if _is_dark(widget.palette()) else "light"][role])


def scaled_font(widget: QWidget, scale: float) -> None:
    """Give `widget` the application font times `scale`, kept when the text size changes."""
    widget.setProperty(SCALE_PROPERTY, scale)
    font = QFont(QApplication.font())
    font.setPointSizeF(font.pointSizeF() * scale)
    widget.setFont(font)


def palette_colours(palette: QPalette) -> dict[str, str]:
    """The colour row that suits `palette` (light or dark by its window colour)."""
    return COLOURS["dark" if _is_dark(palette) else "light"]


def _is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def _dark_palette() -> QPalette:
    palette = QPalette()
    roles = QPalette.ColorRole
    for role, colour in [(roles.Window, "#2b2b2b"), (roles.WindowText, "#e6e6e6"), (roles.Base, "#1e1e1e"),
                         (roles.AlternateBase, "#262626"), (roles.ToolTipBase, "#3a3a3a"),
                         (roles.ToolTipText, "#e6e6e6"), (roles.PlaceholderText, "#8a8a8a"),
                         (roles.Text, "#e6e6e6"), (roles.Button, "#353535"), (roles.ButtonText, "#e6e6e6"),
                         (roles.BrightText, "#ff5252"), (roles.Link, "#8ab4f8"), (roles.Highlight, "#3d6fb6"),
                         (roles.HighlightedText, "#ffffff")]:
        palette.setColor(role, QColor(colour))
    for role in (roles.Text, roles.ButtonText, roles.WindowText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7a7a7a"))
    return palette


def style_sheet(colours: dict[str, str]) -> str:
    """The application style sheet for one row of `COLOURS`."""
    return (f"ErrorBanner {{ background: {colours['error_bg']}; border: 1px solid {colours['error_border']}; }}\n"
            f"*[role=\"error\"] {{ color: {colours['error']}; }}\n"
            f"*[role=\"muted\"] {{ color: {colours['muted']}; }}\n"
            f"*[role=\"picked\"] {{ background: {colours['picked_bg']}; padding: 2px; }}\n"
            f"*[role=\"notice\"] {{ background: {colours['notice_bg']}; padding: 4px; }}\n")


class Appearance:
    """The current theme and text size of the application; `apply()` makes them so and remembers them."""

    def __init__(self) -> None:
        stored = settings()
        self.theme = str(stored.value("view/theme", "system"))
        self.theme = self.theme if self.theme in THEMES else "system"
        self.point_size = int(stored.value("view/point_size", 0, type=int))  # 0: the system's size
        self.presenter = bool(stored.value("view/presenter", False, type=bool))
        self._system_palette: QPalette | None = None
        self._system_point_size: int | None = None

    def colours(self) -> dict[str, str]:
        """The colour row in use (the system theme picks light or dark by its window colour)."""
        if self.theme == "system":
            return palette_colours(self._system_palette or QGuiApplication.palette())
        return COLOURS[self.theme]

    def apply(self, app: QApplication) -> None:
        """Set palette, style sheet, font and chart colours on `app`, and remember the choice."""
        if self._system_palette is None:
            self._system_palette = QPalette(app.palette())
        if self.theme == "system":
            app.setPalette(self._system_palette)
        else:
            if app.style().name().lower() != "fusion":
                app.setStyle(QStyleFactory.create("Fusion"))  # the one style that follows a palette everywhere
            app.setPalette(_dark_palette() if self.theme == "dark" else app.style().standardPalette())
        colours = self.colours()
        if self._system_point_size is None:
            self._system_point_size = app.font().pointSize()
        font = QFont(app.font())
        font.setPointSize(PRESENTER_POINT_SIZE if self.presenter else self.point_size or self._system_point_size)
        app.setStyleSheet("")  # widgets polished under a style sheet keep their font: unpolish, then set both
        app.setFont(font)
        # Polishing under a style sheet marks a widget's inherited size as its own (Qt's directFontResolveMask),
        # in an order that follows QApplication's widget set, and a widget so marked misses the new size (the
        # tab bar stayed small in presenter mode). Resetting the font of each widget without one of its own
        # clears the mark (before the style sheet is back, so that the font reaches the children).
        for widget in app.allWidgets():
            if not widget.testAttribute(Qt.WidgetAttribute.WA_SetFont):
                widget.setFont(QFont())
        app.setStyleSheet(style_sheet(colours))
        for widget in app.allWidgets():  # after the style sheet, which puts back the font of the last polish
            scale = widget.property(SCALE_PROPERTY)
            if scale:
                scaled_font(widget, float(scale))
        for hook in CHART_HOOKS:
            hook(app, colours)
        stored = settings()
        stored.setValue("view/theme", self.theme)
        stored.setValue("view/point_size", self.point_size)
        stored.setValue("view/presenter", self.presenter)
        stored.sync()

    def step_size(self, steps: int) -> None:
        """Make the text `steps` sizes larger (negative: smaller)."""
        sizes = FONT_STEPS
        current = self.point_size or self._system_point_size or DEFAULT_POINT_SIZE
        nearest = min(range(len(sizes)), key=lambda i: abs(sizes[i] - current))
        self.point_size = sizes[max(0, min(len(sizes) - 1, nearest + steps))]
