"""The window fits common screens on every page, every run kind, both text sizes, and no text is clipped.

Each check restyles the whole application (presenter mode), so it runs alone in a fresh process
(`test_window_fit.py`); run one directly with `pytest tests/ui/window_fit_checks.py::NAME`.
"""
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import (QAbstractScrollArea, QApplication, QCheckBox, QHeaderView, QLabel, QLineEdit,
                               QPushButton, QRadioButton, QStyle, QWidget)

from studio.core.run_kinds import KINDS
from studio.ui.main_window import PAGES, MainWindow
from tests.ui.helpers import show
from tests.ui.seed import seed_data

MODEL_INFO = {"name": "HuggingFaceTB/SmolLM2-135M-Instruct", "device": "cpu", "params": 134.5e6, "memory_mb": 513}
SCREENS = {False: QSize(1366, 768), True: QSize(1920, 1080)}  # presenter mode is for a projector's full HD


def _settle() -> None:
    for _ in range(3):
        QApplication.processEvents()


def _views(window: MainWindow):
    """Show every page and, on the Train page, every run kind; yield a name for each view shown."""
    train = window.tabs.widget(PAGES.index("Train"))
    for index, name in enumerate(PAGES):
        window.tabs.setCurrentIndex(index)
        _settle()
        yield name
    window.tabs.setCurrentWidget(train)
    for kind in KINDS:
        train.set_kind(kind)
        _settle()
        yield f"Train {kind}"


def _walk_fits(qtbot, ctx, presenter: bool) -> None:
    seed_data(ctx.store)
    window = show(qtbot, MainWindow(ctx))
    ctx.model_changed.emit(MODEL_INFO)
    window.presenter_action.setChecked(presenter)
    screen = SCREENS[presenter]
    window.resize(screen)
    _settle()
    train = window.tabs.widget(PAGES.index("Train"))
    for view in _views(window):
        hint = window.minimumSizeHint()
        assert hint.width() <= screen.width() and hint.height() <= screen.height(), \
            f"{view}: the window needs {hint.toTuple()}, more than a {screen.toTuple()} screen"
        assert window.size() == screen, f"{view}: the window grew to {window.size().toTuple()}"
        if view.startswith("Train "):  # every chart lies within the board's width: none cut off at the right
            visible = train.board.width()
            cut = [plot.title for plot in train.board.plots if plot.mapTo(train.board, plot.rect().topRight()).x()
                   > visible]
            assert not cut, f"{view}: charts cut off at {visible} px: {cut}"
    window.close()


def test_every_view_fits_a_laptop_screen(qtbot, ctx):
    _walk_fits(qtbot, ctx, presenter=False)


def test_every_view_fits_full_hd_in_presenter_mode(qtbot, ctx):
    _walk_fits(qtbot, ctx, presenter=True)


def _clipped(window: MainWindow) -> list[str]:
    """Texts wider than the visible label, button, check box, radio button, header section or empty line edit's
    placeholder that shows them (word-wrapped labels and texts elided by design aside)."""
    found = []
    for widget in window.findChildren(QWidget):
        seen = widget.viewport() if isinstance(widget, QAbstractScrollArea) else widget  # a header paints there
        if not widget.isVisible() or seen.visibleRegion().isEmpty():
            continue
        metrics = QFontMetrics(widget.font())
        if isinstance(widget, QLabel) and not widget.wordWrap() and widget.text() and not widget.pixmap() \
                and not Qt.mightBeRichText(widget.text()) and widget.property("elided") is None:
            room = widget.contentsRect().width() - 2 * widget.margin() - widget.indent() * (widget.indent() > 0)
            if _widest_line(metrics, widget.text()) > room:
                found.append(f"label {widget.text()!r}: {room} px")
        elif isinstance(widget, (QPushButton, QCheckBox, QRadioButton)) and widget.text():
            text = widget.text().replace("&&", "\0").replace("&", "").replace("\0", "&")
            option_width = widget.width() - (widget.sizeHint().width() - metrics.horizontalAdvance(text))
            if metrics.horizontalAdvance(text) > option_width:
                found.append(f"{type(widget).__name__} {text!r}: {widget.width()} px")
        elif isinstance(widget, QLineEdit) and not widget.text() and widget.placeholderText():
            frame = widget.style().pixelMetric(QStyle.PixelMetric.PM_DefaultFrameWidth)
            room = widget.contentsRect().width() - 2 * frame - 4
            if metrics.horizontalAdvance(widget.placeholderText()) > room:
                found.append(f"placeholder {widget.placeholderText()!r}: {room} px")
        elif isinstance(widget, QHeaderView):
            model = widget.model()
            for section in range(widget.count()):
                if widget.isSectionHidden(section) or model is None:
                    continue
                text = str(model.headerData(section, widget.orientation()) or "")
                need = QFontMetrics(widget.font()).horizontalAdvance(text) + 2 * widget.style().pixelMetric(
                    QStyle.PixelMetric.PM_HeaderMargin)
                if text and widget.orientation() == Qt.Orientation.Horizontal and need > widget.sectionSize(section):
                    found.append(f"header {text!r}: {widget.sectionSize(section)} px")
    return found


def _widest_line(metrics: QFontMetrics, text: str) -> int:
    return max(metrics.horizontalAdvance(line) for line in text.split("\n"))


def test_no_text_clipped_in_presenter_mode(qtbot, ctx):
    seed_data(ctx.store)
    window = show(qtbot, MainWindow(ctx))
    ctx.model_changed.emit(MODEL_INFO)
    window.presenter_action.setChecked(True)
    window.resize(SCREENS[True])
    _settle()
    clipped = {view: _clipped(window) for view in _views(window)}
    assert not {view: texts for view, texts in clipped.items() if texts}
    window.close()


def test_chart_titles_axis_names_and_legends_grow_with_the_text(qtbot, ctx):
    """In presenter mode a chart's title, axis name and legend are drawn at about the application's text size,
    as its tick labels are (they stayed at pyqtgraph's 9 pt while the ticks grew)."""
    window = show(qtbot, MainWindow(ctx))
    train = window.tabs.widget(PAGES.index("Train"))
    window.tabs.setCurrentWidget(train)
    train.set_kind("ppo")
    window.presenter_action.setChecked(True)
    _settle()
    line = QFontMetrics(QApplication.font()).height()
    assert line > 25  # 20 pt
    for plot in train.board.plots:
        item = plot.getPlotItem()
        texts = {"title": item.titleLabel.item, "axis name": item.getAxis("bottom").label}
        if item.legend is not None:
            texts.update({f"legend {label.text}": label.item for _sample, label in item.legend.items})
        small = {name: text.boundingRect().height() for name, text in texts.items()
                 if text.boundingRect().height() < 0.8 * line}
        assert not small, f"{plot.title}: drawn smaller than the {line} px text: {small}"
    window.close()
