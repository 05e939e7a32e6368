"""The Train page's "Reward terms" field: a bad term is one line on the page and starts nothing; a rule-only GRPO run
needs no reward model, plots its term and keeps the terms with the run."""
from studio.ui.train_page import TrainPage
from tests.ui.seed import seed_data

TINY = {"iterations": 2, "batch_size": 2, "samples_per_prompt": 2, "max_new_tokens": 6, "lora_r": 4,
        "lora_alpha": 8, "checkpoint_every": 100}


def test_a_bad_term_starts_nothing(qtbot, ctx):
    seed_data(ctx.store)
    page = TrainPage(ctx)
    qtbot.addWidget(page)
    page.set_kind("grpo")
    for text, message in [("rule:regex:(", "is invalid"), ("x*rule:json", "the weight 'x'"),
                          ("rule:number", "needs a reference answer for every prompt")]:
        page.terms.setPlainText(text)
        assert page.start() is None and page.job is None
        assert message in page.error.text(), page.error.text()
    assert ctx.store.runs() == []


def test_a_rule_only_run_from_the_page_plots_its_term(qtbot, ctx):
    seed_data(ctx.store)  # no reward model in this project
    page = TrainPage(ctx)
    qtbot.addWidget(page)
    page.set_kind("grpo")
    page.form.set_values(TINY)
    page.terms.setPlainText("2*rule:longer:3\n\n")
    job = page.start()
    assert job is not None, page.error.text()
    qtbot.waitUntil(lambda: page.job is None, timeout=120_000)
    run = ctx.store.runs("grpo")[-1]
    assert run.status == "finished" and run.config["_reward_terms"] == ["2*rule:longer:3"]
    assert run.config["_reward"] is None
    assert page.board.plot("reward").series("reward/longer:3")[0] == [1, 2]
