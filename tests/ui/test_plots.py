import csv
import math

from PySide6.QtGui import QImage

from studio.ui.plots import LivePlot, MetricsBoard


def test_live_plot_buffers_points_and_redraws_on_its_timer(qtbot):
    plot = LivePlot("reward", ["reward", "eval_reward"])
    qtbot.addWidget(plot)
    for step in range(1, 6):
        plot.append("reward", step, step * 0.5)
    assert plot.series("reward") == ([1, 2, 3, 4, 5], [0.5, 1.0, 1.5, 2.0, 2.5])
    assert plot.drawn("reward") == 0  # not drawn per point
    qtbot.waitUntil(lambda: plot.drawn("reward") == 5, timeout=2000)
    assert plot.drawn("eval_reward") == 0


def test_board_routes_metrics_to_charts_and_exports_csv(qtbot, tmp_path):
    board = MetricsBoard([("loss", ["loss", "eval_loss"]), ("KL", ["kl"])])
    qtbot.addWidget(board)
    for step in (1, 2, 3):
        board.add(step, {"loss": 1 / step, "kl": step / 10, "lr": 0.001})
    board.add(3, {"eval_loss": 0.4})
    board.redraw()
    assert board.plot("loss").drawn("loss") == 3
    assert board.plot("loss").series("eval_loss") == ([3], [0.4])
    assert board.plot("KL").series("kl")[1] == [0.1, 0.2, 0.3]

    with board.export_csv(tmp_path / "m.csv").open() as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["step", "loss", "eval_loss", "kl", "lr"]  # charted first, then the rest
    assert [r[0] for r in rows[1:]] == ["1", "2", "3"]
    assert rows[1] == ["1", "1.0", "", "0.1", "0.001"]
    assert float(rows[3][2]) == 0.4

    png = board.export_png(tmp_path / "m.png")
    image = QImage(str(png))
    assert image.width() >= 800 and image.height() > 100


def test_board_loads_store_rows_and_clears(qtbot):
    board = MetricsBoard([("reward", ["reward"])])
    qtbot.addWidget(board)
    rows = [{"step": s, "name": "reward", "value": v, "time": 0.0} for s, v in [(1, 0.1), (2, math.nan), (3, 0.3)]]
    board.load(rows)
    xs, ys = board.plot("reward").series("reward")
    assert xs == [1, 2, 3] and ys[0] == 0.1 and math.isnan(ys[1])
    assert board.plot("reward").drawn("reward") == 3
    board.clear()
    assert board.plot("reward").series("reward") == ([], [])
    assert board.table() == (["step"], [])


def test_a_single_point_is_visible_and_the_exported_image_carries_the_title(qtbot):
    board = MetricsBoard([("reward", ["reward"]), ("KL", ["kl"])], columns=2)
    qtbot.addWidget(board)
    board.add(1, {"reward": 0.3, "kl": 0.01})
    board.redraw()
    reward = board.plot("reward")
    assert reward.drawn("reward") == 1 and reward.visible_points("reward") == 1  # a dot, not an empty chart
    board.add(2, {"reward": 0.4})
    board.redraw()
    assert reward.visible_points("reward") == 2 and reward._curves["reward"].opts["symbol"] is None
    board.image(300)  # the first export settles the charts' layout
    plain, titled = board.image(300), board.image(300, title="Run 7 · PPO · finished")
    assert titled.height() == plain.height() + 40 and titled.width() == plain.width()
    band = [titled.pixelColor(x, y).value() for x in range(0, 280, 2) for y in range(8, 32)]
    assert min(band) < 128  # dark title text on the white band


def test_a_board_redraws_one_chart_a_turn_only_those_with_new_points_and_only_when_shown(qtbot):
    board = MetricsBoard([("loss", ["loss"]), ("KL", ["kl"]), ("reward", ["reward"])])
    qtbot.addWidget(board)
    board.add(1, {"loss": 0.5, "kl": 0.1})
    board._redraw_next()  # hidden: nothing is drawn, the new points wait
    assert [p.drawn(p.names[0]) for p in board.plots] == [0, 0, 0]
    board.show()
    qtbot.waitExposed(board)
    qtbot.waitUntil(lambda: not board._timer.isActive(), timeout=2_000)  # the queue drained once shown
    assert [p.drawn(p.names[0]) for p in board.plots] == [1, 1, 0] and not board.plot("reward").stale
    board.add(2, {"loss": 0.4, "kl": 0.2, "reward": 1.0})
    board._timer.stop()
    board._redraw_next()  # one turn of the event loop: one chart, the first to get points
    assert [p.drawn(p.names[0]) for p in board.plots] == [2, 1, 0]
    assert board._timer.isActive() and board._timer.interval() == MetricsBoard.STAGGER_MS  # the next one, later
    board._redraw_next()
    board._redraw_next()
    assert [p.drawn(p.names[0]) for p in board.plots] == [2, 2, 1] and not any(p.stale for p in board.plots)


def test_the_same_charts_are_kept_and_emptied_unless_a_term_series_was_added(qtbot):
    board = MetricsBoard([("loss", ["loss"]), ("reward", ["reward/*"])])
    qtbot.addWidget(board)
    loss, reward = board.plots
    board.add(1, {"loss": 0.5})
    loss.getViewBox().setRange(xRange=(5, 6))  # the user zoomed
    board.set_groups([("loss", ["loss"]), ("reward", ["reward/*"])])
    assert board.plots == [loss, reward] and loss.series("loss") == ([], []) and board.table() == (["step"], [])
    assert loss.getViewBox().autoRangeEnabled()[0]
    board.add(1, {"reward/number": 0.5})  # a term's series joins the chart
    board.set_groups([("loss", ["loss"]), ("reward", ["reward/*"])])
    assert board.plots[0] is not loss and board.plot("reward").names == []  # made anew: no stale term series
    board.set_groups([("loss", ["loss"])])
    assert [p.title for p in board.plots] == ["loss"]
