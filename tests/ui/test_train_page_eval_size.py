"""The Train page shows the held-out size a run recorded beside every eval figure: the note above the charts,
the eval curves' legends and tooltips, and the run history's final metrics (issue 10, item 7)."""
from tests.ui.test_train_page import make_page

TINY_REWARD = {"steps": 2, "batch_size": 2, "max_length": 64, "lora_r": 4, "lora_alpha": 8, "warmup_steps": 1,
               "eval_fraction": 0.1}


def rank_prompts(store, topics) -> None:
    """One ranked comparison of two answers per prompt."""
    for topic in topics:
        pid = store.add_prompt(f"tell me about {topic}")
        ids = [store.add_response(pid, f"a {fruit} answer", "imported") for fruit in ("banana", "lemon")]
        store.add_ranking(store.add_comparison(pid, ids), [[0], [1]])


def legend(plot) -> list[str]:
    return [label.text for _sample, label in plot.getPlotItem().legend.items]


def test_a_reward_run_shows_the_size_it_recorded_beside_its_eval_figures(qtbot, ctx):
    rank_prompts(ctx.store, [f"topic {i}" for i in range(12)])  # 12 prompts x 0.1: 1 held out
    page = make_page(qtbot, ctx)
    page.set_kind("reward")
    page.form.set_values(TINY_REWARD)
    job = page.start()
    with qtbot.waitSignal(job.finished, timeout=120_000):
        pass
    qtbot.waitUntil(lambda: page.job is None)
    accuracy = page.board.plot("accuracy")
    assert legend(accuracy) == ["accuracy", "eval_accuracy (1 held-out prompt)"]
    warning = "Eval figures rest on 1 held-out prompt (of 12): too few to mean much. About 188 more ranked prompts"
    assert page.eval_note.text().startswith(warning) and warning in accuracy.toolTip()
    assert legend(page.board.plot("loss")) == ["loss", "eval_loss (1 held-out prompt)"]
    assert warning not in page.board.plot("accuracy").toolTip().split("\n")[0]  # the chart's own help comes first
    final = page.history.item(0, 4).text()
    assert final.startswith("held-out accuracy ") and final.split(" · ")[0].endswith("(1 pair)")  # one figure, its set

    rank_prompts(ctx.store, ["late one", "late two"])  # the data grows after the run: it still rested on 1 of 12
    run_id = ctx.store.runs("reward")[-1].id
    page.set_kind("sft")
    assert page.eval_note.text().startswith("Eval figures rest on 0 held-out demonstrations")
    page.show_run(run_id)
    assert page.eval_note.text().startswith(warning)
    assert legend(page.board.plot("accuracy"))[1] == "eval_accuracy (1 held-out prompt)"
    page.set_kind("sft")
    page.set_kind("reward")  # a new run with these settings: 14 prompts now, still 1 held out
    assert page.eval_note.text().startswith("Eval figures rest on 1 held-out prompt (of 14)")
    assert legend(page.board.plot("accuracy"))[1] == "eval_accuracy"  # no size before a run records one
