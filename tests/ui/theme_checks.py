"""The View menu: themes reach every custom colour and the charts; text size and presenter mode; remembered.

Each check restyles the whole application, so it runs alone in a fresh process (`test_theme.py`), never in
the suite's shared QApplication; run one directly with `pytest tests/ui/theme_checks.py::NAME`.
"""
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from studio.ui.main_window import PAGES, MainWindow
from studio.ui.plots import LivePlot
from studio.ui.theme import COLOURS, PRESENTER_POINT_SIZE, Appearance, role_colour
from tests.ui.helpers import show


def test_dark_theme_covers_banner_labels_and_plots_and_is_remembered(qtbot, ctx):
    window = show(qtbot, MainWindow(ctx))
    window.show_error("Something went wrong")
    plot = LivePlot("loss", ["loss", "eval_loss"])
    qtbot.addWidget(plot)
    window.theme_actions["dark"].trigger()
    app = QApplication.instance()
    assert app.palette().color(QPalette.ColorRole.Window).lightness() < 100
    banner = window.banner
    background = banner.grab().toImage().pixelColor(2, 2)
    text = banner.label.palette().color(QPalette.ColorRole.WindowText)
    assert background.lightness() < 100 and text.lightness() > 150  # light text on a dark banner
    assert plot.backgroundBrush().color().lightness() < 60  # the chart that already existed went dark
    legend_label = plot.getPlotItem().legend.items[0][1]
    assert legend_label.item.defaultTextColor().lightness() > 150 or COLOURS["dark"]["plot_fg"] in \
        legend_label.item.toHtml()  # and its legend's text went light
    assert LivePlot("new", ["x"]).backgroundBrush().color().lightness() < 60
    window.rank_page._say("Not saved: test", error=True)
    colour = window.rank_page.message.palette().color(QPalette.ColorRole.WindowText).name()
    assert colour == COLOURS["dark"]["error"]
    assert Appearance().theme == "dark"  # remembered for the next start
    window.theme_actions["light"].trigger()
    assert plot.backgroundBrush().color().lightness() > 200
    window.close()


def test_dark_theme_reaches_the_newer_pages(qtbot, ctx):
    """The Rate, Oversight and reward-health views, the alarms and the read-only banner take their colours
    from the theme, not fixed light-theme ones (grey or dark red text on a dark window was unreadable)."""
    window = show(qtbot, MainWindow(ctx))
    window.theme_actions["dark"].trigger()
    rate, oversight, train = (window.tabs.widget(PAGES.index(name)) for name in ("Rate", "Oversight", "Train"))
    oversight._say("Not saved: test", error=True)

    def text(widget):
        widget.ensurePolished()
        return widget.palette().color(QPalette.ColorRole.WindowText).name()

    dark = COLOURS["dark"]
    assert text(rate.keys) == dark["muted"] and text(rate.balance) == dark["muted"]
    assert text(oversight.message) == dark["error"] and text(train.rm_report.warnings) == dark["error"]
    assert role_colour(train.alarms, "error").name() == dark["error"]
    window.read_only_banner.setText("read only")
    window.read_only_banner.show()
    assert window.read_only_banner.grab().toImage().pixelColor(2, 2).lightness() < 100
    window.theme_actions["light"].trigger()
    assert text(rate.keys) == COLOURS["light"]["muted"]
    assert role_colour(train.alarms, "error").name() == COLOURS["light"]["error"]
    assert window.read_only_banner.grab().toImage().pixelColor(2, 2).name() == COLOURS["light"]["notice_bg"]
    window.close()


def test_text_size_and_presenter_mode(qtbot, ctx):
    window = show(qtbot, MainWindow(ctx))
    app = QApplication.instance()
    before = app.font().pointSize()
    reader = window.rank_page.prompt_view
    _view_action(window, "Larger text").trigger()
    assert app.font().pointSize() > before and Appearance().point_size == app.font().pointSize()
    assert reader.font().pointSizeF() == pytest.approx(app.font().pointSizeF() * 1.15)
    window.theme_actions["dark"].trigger()  # after a theme change too, every widget takes the large text
    window.presenter_action.setChecked(True)
    assert app.font().pointSize() == PRESENTER_POINT_SIZE and Appearance().presenter
    QApplication.processEvents()
    assert window.tabs.tabBar().font().pointSize() == PRESENTER_POINT_SIZE
    assert reader.font().pointSizeF() == pytest.approx(PRESENTER_POINT_SIZE * 1.15)
    assert _widgets_off_the_application_size(app) == []
    window.presenter_action.setChecked(False)
    assert app.font().pointSize() < PRESENTER_POINT_SIZE
    window.close()


def test_switching_themes_over_and_over_with_every_page_shown(qtbot, ctx):
    """light, dark, system, dark, five times, with each page shown once: every switch takes, none crashes."""
    window = show(qtbot, MainWindow(ctx))
    for index in range(window.tabs.count()):
        window.tabs.setCurrentIndex(index)
        QApplication.processEvents()
    app = QApplication.instance()
    system = app.palette().color(QPalette.ColorRole.Window).name()
    for _ in range(5):
        for theme in ("light", "dark", "system", "dark"):
            window.theme_actions[theme].trigger()
            QApplication.processEvents()
            window_colour = app.palette().color(QPalette.ColorRole.Window)
            if theme == "dark":
                assert window_colour.lightness() < 100
            elif theme == "light":
                assert window_colour.lightness() > 150
            else:
                assert window_colour.name() == system
            assert window.theme_actions[theme].isChecked() and Appearance().theme == theme
    window.close()


def _widgets_off_the_application_size(app):
    """Widgets that neither have a font of their own nor sit inside one that has, yet differ from the app's."""
    def sized_by_hand(widget):
        return widget is not None and (widget.testAttribute(Qt.WidgetAttribute.WA_SetFont)
                                       or sized_by_hand(widget.parentWidget()))
    size = app.font().pointSizeF()
    return [f"{type(w).__name__} {w.objectName()}" for w in app.allWidgets()
            if not sized_by_hand(w) and w.font().pointSizeF() != size]


def _view_action(window, text):
    view = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    return next(a for a in view.actions() if a.text() == text)
