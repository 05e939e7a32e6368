"""The online kinds' reward chart draws every `reward/<term>` metric a run records, each as its own series."""
from studio.core.run_kinds import run_kind
from studio.ui.plots import MetricsBoard
from studio.ui.train_charts import groups


def test_each_reward_term_becomes_a_series_of_the_reward_chart(qtbot):
    for kind in ("ppo", "rloo", "grpo"):
        board = MetricsBoard(groups(kind), x_label="iteration")
        qtbot.addWidget(board)
        board.add(1, {"reward": 1.5, "reward/number": 0.25, "reward/shorter:20": 1.0, "kl": 0.1})
        board.add(2, {"reward": 2.0, "reward/number": 0.5, "reward/shorter:20": 0.75, "kl": 0.2})
        reward = board.plot("reward")
        assert {"reward/number", "reward/shorter:20"} <= set(reward.names) and "kl" not in reward.names, kind
        assert reward.series("reward/number") == ([1, 2], [0.25, 0.5])
        assert "reward/number" not in board.plot("KL").names
        assert board.table()[0][1:4] == ["reward", "reward/number", "reward/shorter:20"]  # in chart order (CSV)
        assert run_kind(kind).charts[0][1][-1] == "reward/*"
