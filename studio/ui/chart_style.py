"""The charts' colours and text size, following the theme (`studio.ui.theme`): imported with the first page that has
charts, it sets pyqtgraph's colours from the application's palette and hooks into `Appearance.apply` for later
changes, so that the theme never imports pyqtgraph and a window without charts starts without it."""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QFont, QGuiApplication
from PySide6.QtWidgets import QApplication

from studio.ui.theme import CHART_HOOKS, palette_colours


def fit_fonts(plot: pg.PlotWidget) -> None:
    """Draw `plot`'s title, axis names, tick labels and legend at the application's text size (all but the title a
    little smaller), so that presenter mode enlarges them all, not the tick labels alone."""
    size = QApplication.font().pointSizeF()
    item = plot.getPlotItem()
    item.titleLabel.setText(item.titleLabel.text, size=f"{size:g}pt")
    small = QFont(QApplication.font())
    small.setPointSizeF(size * 0.9)
    for name in ("left", "bottom", "right"):
        axis = item.getAxis(name)
        axis.setStyle(tickFont=small)
        axis.setLabel(axis.labelText, axis.labelUnits, **{**axis.labelStyle, "font-size": f"{size * 0.9:g}pt"})
    if item.legend is not None:
        item.legend.setLabelTextSize(f"{size * 0.9:g}pt")
        for _sample, label in item.legend.items:
            label.setText(label.text)
        item.legend.updateSize()


def plot_colours() -> tuple[str, str]:
    """The charts' (background, foreground) colours, as the theme last set them."""
    return pg.getConfigOption("background"), pg.getConfigOption("foreground")


def recolour_plots(app: QApplication, colours: dict[str, str]) -> None:
    """Make `colours` (a row of `theme.COLOURS`) the charts' colours, and give every chart on screen them and the
    text size."""
    pg.setConfigOptions(background=colours["plot_bg"], foreground=colours["plot_fg"])
    background, foreground = plot_colours()
    for widget in app.allWidgets():
        if isinstance(widget, pg.PlotWidget):
            fit_fonts(widget)
            widget.setBackground(background)
            item = widget.getPlotItem()
            for name in ("left", "bottom", "right"):
                axis = item.getAxis(name)
                axis.setPen(foreground)
                axis.setTextPen(foreground)
            item.titleLabel.setText(item.titleLabel.text, color=foreground)
            if item.legend is not None:  # a legend's labels keep the colour they were drawn with otherwise
                item.legend.setLabelTextColor(foreground)
                for _sample, label in item.legend.items:
                    label.setText(label.text, color=foreground)


_start = palette_colours(QGuiApplication.palette())  # the theme applied so far (light before any)
pg.setConfigOptions(antialias=True, background=_start["plot_bg"], foreground=_start["plot_fg"])
CHART_HOOKS.append(recolour_plots)
