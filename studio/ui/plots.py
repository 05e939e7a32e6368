"""Live training curves: `LivePlot` (one chart, several named series) and `MetricsBoard` (a grid of them).

Points are appended to plain lists and drawn with `setData` from a timer (pyqtgraph's PanningPlot pattern), never
once per incoming point: a lone chart at most five times a second; a board's charts one at a time, a chart on each
turn of the event loop, and only those with new points, so that while a job trains no single turn of the GUI
thread redraws them all (each chart costs it tens of ms while the training thread holds the GIL).
"""
from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import pyqtgraph as pg
from pyqtgraph.exporters import ImageExporter
from PySide6.QtCore import QRect, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QImage, QPainter
from PySide6.QtWidgets import QFrame, QGridLayout, QScrollArea, QVBoxLayout, QWidget

from studio.ui.chart_style import fit_fonts, plot_colours

REDRAW_MS = 200  # a chart redraws at most five times a second
TITLE_BAND = 40  # pixels above the charts in an exported image, for the run's title
Group = tuple[str, Sequence[str]]  # (chart title, metric names drawn on it; "prefix/*": every metric under prefix/)
COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"]


def grown_with_text(chart: QWidget, size: QSize) -> QSize:
    """A chart's minimum `size` at 10 pt, grown in proportion to larger text (the axes take more room)."""
    return size * max(1.0, chart.font().pointSizeF() / 10)


class LivePlot(pg.PlotWidget):
    """One chart of named series that grow point by point; a name ending in "/*" draws every metric under that
    prefix as a series of its own, added when it first arrives (an online run's `reward/<term>`)."""

    def __init__(self, title: str, names: Sequence[str], x_label: str = "step", parent: QWidget | None = None):
        super().__init__(parent)
        self.title = title
        self.setTitle(title)
        self.setLabel("bottom", x_label)
        self.showGrid(x=True, y=True, alpha=0.3)
        self._prefixes = tuple(name[:-1] for name in names if name.endswith("/*"))
        names = [name for name in names if not name.endswith("/*")]
        if len(names) > 1 or self._prefixes:
            self.addLegend(offset=(-10, 10))
        self._points: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in names}
        self._curves = {name: self._curve(name, COLOURS[i % len(COLOURS)]) for i, name in enumerate(names)}
        self._made = len(self._curves)
        self._stale: set[str] = set()  # series with points not drawn yet
        fit_fonts(self)
        self._timer = QTimer(self, singleShot=True, interval=REDRAW_MS)
        self._timer.timeout.connect(self.redraw_stale)
        self.on_stale: Callable[[LivePlot], None] | None = None  # who redraws it instead of its timer (a board)

    def minimumSizeHint(self) -> QSize:
        return grown_with_text(self, QSize(220, 160))

    def _curve(self, name: str, colour: str) -> pg.PlotDataItem:
        """A line; evaluation series (sparse points) also get a dot per point."""
        dots = {"symbol": "o", "symbolSize": 6, "symbolBrush": colour} if name.startswith("eval_") else {}
        return self.plot([], [], name=name, pen=pg.mkPen(colour, width=2), connect="finite", **dots)

    @property
    def names(self) -> list[str]:
        return list(self._points)

    def set_label(self, name: str, label: str) -> None:
        """Show series `name` as `label` in the legend (a chart of one series has none)."""
        legend = self.getPlotItem().legend
        for sample, text in legend.items if legend is not None else []:
            if sample.item is self._curves[name] and text.text != label:
                text.setText(label)

    def accepts(self, name: str) -> bool:
        """Whether metric `name` is drawn here: one of its series, or under one of its "prefix/*" names."""
        return name in self._points or name.startswith(self._prefixes)

    def append(self, name: str, x: float, y: float) -> None:
        """Add one point to series `name` (a new series when it comes under a "prefix/*" name); the chart redraws
        within ~100 ms."""
        if name not in self._points:
            self._points[name] = ([], [])
            self._curves[name] = self._curve(name, COLOURS[(len(self._curves)) % len(COLOURS)])
        xs, ys = self._points[name]
        xs.append(x)
        ys.append(y)
        self._stale.add(name)
        if self.on_stale is not None:
            self.on_stale(self)
        elif not self._timer.isActive():
            self._timer.start()

    @property
    def grown(self) -> bool:
        """Whether series were added under a "prefix/*" name since the chart was made."""
        return len(self._curves) > self._made

    @property
    def stale(self) -> bool:
        """Whether some points are not drawn yet."""
        return bool(self._stale)

    def series(self, name: str) -> tuple[list[float], list[float]]:
        """The points of `name` received so far (drawn or not yet)."""
        xs, ys = self._points[name]
        return list(xs), list(ys)

    def drawn(self, name: str) -> int:
        """How many points of `name` are on screen."""
        xs, _ = self._curves[name].getData()
        return 0 if xs is None else len(xs)

    def clear_points(self) -> None:
        """Forget every point; the axes fit the next ones (even after the user zoomed). On a board the emptied chart
        is redrawn in its turn, else now."""
        for xs, ys in self._points.values():
            xs.clear()
            ys.clear()
        self.enableAutoRange()
        if self.on_stale is None:
            self.redraw()
        else:
            self._stale.update(self._points)
            self.on_stale(self)

    def redraw(self) -> None:
        """Draw every series as it is now."""
        self._draw(list(self._points))

    def redraw_stale(self) -> None:
        """Draw the series with new points."""
        self._draw([name for name in self._points if name in self._stale])

    def _draw(self, names: list[str]) -> None:
        self._timer.stop()
        self._stale.difference_update(names)
        for name in names:
            xs, ys = self._points[name]
            curve = self._curves[name]
            curve.setData(xs, ys, connect="finite")
            symbol = "o" if len(xs) == 1 else None
            if not name.startswith("eval_") and curve.opts["symbol"] != symbol:  # a lone point is drawn as a dot
                curve.setSymbol(symbol)
                curve.setSymbolBrush(curve.opts["pen"].color())

    def visible_points(self, name: str) -> int:
        """How many points of `name` can be seen: a line's points once it has two, else its dots."""
        curve = self._curves[name]
        drawn = self.drawn(name)
        return drawn if drawn >= 2 or curve.opts["symbol"] is not None else 0

    def image(self, width: int | None = None) -> QImage:
        """The chart rendered off screen (pyqtgraph's ImageExporter), by default at its size on screen."""
        self.redraw()
        exporter = ImageExporter(self.getPlotItem())
        exporter.parameters()["width"] = width or max(self.width(), 400)
        return exporter.export(toBytes=True)


class TwoScalePlot(pg.PlotWidget):
    """One chart of two series measured in different units: `left` on the left axis, `right` on a right axis of its
    own (a second ViewBox sharing the x axis, pyqtgraph's MultiplePlotAxes pattern), both in one legend."""

    def __init__(self, title: str, x_label: str, left: str, right: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setTitle(title)
        item = self.getPlotItem()
        self.setLabel("bottom", x_label)
        self.setLabel("left", left)
        self.setLabel("right", right)
        self.showGrid(x=True, y=True, alpha=0.3)
        self.right_view = pg.ViewBox()
        item.scene().addItem(self.right_view)
        item.getAxis("right").linkToView(self.right_view)
        self.right_view.setXLink(item)
        item.vb.sigResized.connect(self._match_views)
        legend = self.addLegend(offset=(-10, 10))
        self.left_curve = self.plot([], [], name=left, pen=pg.mkPen(COLOURS[2], width=2), symbol="o",
                                    symbolBrush=COLOURS[2])
        self.right_curve = pg.PlotDataItem([], [], pen=pg.mkPen(COLOURS[0], width=2), symbol="s",
                                           symbolBrush=COLOURS[0])
        self.right_view.addItem(self.right_curve)
        legend.addItem(self.right_curve, right)
        fit_fonts(self)

    def minimumSizeHint(self) -> QSize:
        return grown_with_text(self, QSize(300, 200))  # room for the names along both vertical axes

    def _match_views(self) -> None:
        vb = self.getPlotItem().vb
        self.right_view.setGeometry(vb.sceneBoundingRect())
        self.right_view.linkedViewChanged(vb, self.right_view.XAxis)

    def set_data(self, xs: Sequence[float], left: Sequence[float], right: Sequence[float]) -> None:
        """Draw both series over `xs`; each axis fits its own series."""
        self.left_curve.setData(list(xs), list(left))
        self.right_curve.setData(list(xs), list(right))
        if len(xs):
            self.right_view.autoRange()
        self._match_views()


class MetricsBoard(QWidget):
    """A grid of LivePlots fed with `add(step, {name: value})`; keeps every metric for CSV export.

    The grid reflows with the width (as many columns as charts of `CELL_WIDTH` fit, up to `columns`) and scrolls
    vertically, so a kind with many charts never makes the window taller or cuts its last chart off."""

    CELL_WIDTH = 300  # the narrowest a chart gets before the grid drops a column
    STAGGER_MS = 10  # between two charts' redraws: each turn of the event loop redraws one chart at most

    def __init__(self, groups: Sequence[Group] = (), columns: int = 3, x_label: str = "step",
                 parent: QWidget | None = None):
        super().__init__(parent)
        self._cells = QWidget()
        self._grid = QGridLayout(self._cells)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._scroll = QScrollArea(widgetResizable=True, frameShape=QFrame.Shape.NoFrame,
                                   horizontalScrollBarPolicy=Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._scroll.setWidget(self._cells)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self._scroll)
        self.max_columns = columns
        self._columns = columns
        self._rows: dict[int, dict[str, float]] = {}
        self._names: set[str] = set()  # every metric seen
        self.plots: list[LivePlot] = []
        self._queue: dict[LivePlot, None] = {}  # charts with points to draw, in the order they got them
        self._spec: tuple[list, str] | None = None  # the groups and x label the charts were made for
        self._timer = QTimer(self, singleShot=True)
        self._timer.timeout.connect(self._redraw_next)
        self.set_groups(groups, x_label)

    def set_groups(self, groups: Sequence[Group], x_label: str = "step") -> None:
        """Replace the charts (and forget every point); the same charts as now are kept, emptied, when no series
        was added to them under a "prefix/*" name (building a grid of charts takes the GUI thread ~0.1 s)."""
        spec = ([(title, list(names)) for title, names in groups], x_label)
        if spec == self._spec and not any(plot.grown for plot in self.plots):
            self.clear()
            return
        self._spec = spec
        for plot in self.plots:
            self._grid.removeWidget(plot)
            plot.setParent(None)
            plot.deleteLater()
        self.plots = [LivePlot(title, names, x_label, self._cells) for title, names in groups]
        self._queue.clear()
        for plot in self.plots:
            plot.on_stale = self._queue_redraw
        self._place()
        self._rows.clear()
        self._names.clear()

    @property
    def columns(self) -> int:
        """How many charts side by side at the board's present width."""
        return self._columns

    def _place(self) -> None:
        """Put the charts in rows of `columns`."""
        for plot in self.plots:
            self._grid.removeWidget(plot)
        for i, plot in enumerate(self.plots):
            self._grid.addWidget(plot, *divmod(i, self._columns))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        cell = max([self.CELL_WIDTH] + [plot.minimumSizeHint().width() + self._grid.spacing() for plot in self.plots])
        columns = max(1, min(self.max_columns, event.size().width() // cell))
        if columns != self._columns:
            self._columns = columns
            self._place()

    def _queue_redraw(self, plot: LivePlot) -> None:
        """Draw `plot`'s new points soon: within REDRAW_MS, after the charts queued before it, one chart a turn."""
        self._queue[plot] = None
        if not self._timer.isActive() and self.isVisible():
            self._timer.start(REDRAW_MS)

    def _redraw_next(self) -> None:
        if not self._queue or not self.isVisible():  # a hidden board draws when it is shown again
            return
        plot = next(iter(self._queue))
        del self._queue[plot]
        plot.redraw_stale()
        if self._queue:
            self._timer.start(self.STAGGER_MS)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._queue and not self._timer.isActive():
            self._timer.start(self.STAGGER_MS)

    def plot(self, title: str) -> LivePlot:
        return next(p for p in self.plots if p.title == title)

    def add(self, step: int, values: dict[str, float]) -> None:
        self._rows.setdefault(step, {}).update(values)
        self._names.update(values)
        for name, value in values.items():
            for plot in self.plots:
                if plot.accepts(name):
                    plot.append(name, step, _number(value))

    def load(self, rows: Iterable[dict]) -> None:
        """Show a stored run: rows {step, name, value} as returned by `Store.metrics`."""
        self.clear()
        for row in rows:
            self.add(row["step"], {row["name"]: row["value"]})
        self.redraw()

    def clear(self) -> None:
        self._rows.clear()
        self._names.clear()
        for plot in self.plots:
            plot.clear_points()

    def redraw(self) -> None:
        """Draw every chart now."""
        self._queue.clear()
        self._timer.stop()
        for plot in self.plots:
            plot.redraw()

    def table(self) -> tuple[list[str], list[list[float]]]:
        """Header (step + one column per metric: charted ones in chart order, then the rest A-Z) and rows
        sorted by step; missing values are blank."""
        charted = list(dict.fromkeys(n for plot in self.plots for n in plot.names if n in self._names))
        names = charted + sorted(self._names.difference(charted))
        rows = [[step, *(self._rows[step].get(name, "") for name in names)] for step in sorted(self._rows)]
        return ["step", *names], rows

    def image(self, plot_width: int | None = None, title: str = "") -> QImage:
        """Every chart, laid out as on screen, in one image; `title` (the run) is written above them."""
        images = [plot.image(plot_width) for plot in self.plots]
        if not images:
            raise ValueError("there are no charts to export")
        cell_w = max(im.width() for im in images)
        cell_h = max(im.height() for im in images)
        columns = min(self._columns, len(images))
        band = TITLE_BAND if title else 0
        canvas = QImage(cell_w * columns, band + cell_h * math.ceil(len(images) / columns),
                        QImage.Format.Format_ARGB32)
        background, foreground = plot_colours()
        canvas.fill(QColor(background))
        painter = QPainter(canvas)
        if title:
            font = QFont()
            font.setPointSize(14)
            font.setBold(True)
            painter.setFont(font)
            painter.setPen(QColor(foreground))
            painter.drawText(QRect(12, 0, canvas.width() - 24, band), Qt.AlignmentFlag.AlignVCenter, title)
        for i, image in enumerate(images):
            row, column = divmod(i, columns)
            painter.drawImage(column * cell_w, band + row * cell_h, image)
        painter.end()
        return canvas

    def export_csv(self, path: str | Path) -> Path:
        return write_csv(path, *self.table())

    def export_png(self, path: str | Path) -> Path:
        return save_image(self.image(), path)


def write_csv(path: str | Path, header: Sequence[str], rows: Iterable[Sequence]) -> Path:
    """Write a header and rows as CSV (safe to call from a worker thread)."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def save_image(image: QImage, path: str | Path) -> Path:
    """Save an already rendered image (safe to call from a worker thread)."""
    path = Path(path)
    if not image.save(str(path)):
        raise OSError(f"cannot write {path}")
    return path


def _number(value: object) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
