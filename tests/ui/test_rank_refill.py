"""The Rank page keeps its queue ahead of a fast ranker (tiny model): a job starts whenever fewer than READY_AHEAD
comparisons are ready, for REFILL_PROMPTS prompts in calls that grow; a cut answer is marked."""
from studio.ui import rank_page
from studio.ui.rank_page import RankPage
from tests.ui.helpers import show


def press(qtbot, page, key: str) -> None:
    qtbot.keyClick(page.windowHandle(), key)


def generation_jobs(ctx) -> list[list[tuple[int, int]]]:
    """Each generation job the context starts, as the list of its progress reports (prompts done, of total)."""
    jobs: list[list[tuple[int, int]]] = []

    def started(job) -> None:
        jobs.append(reports := [])
        job.progress.connect(lambda done, total: reports.append((done, total)))
    ctx.job_started.connect(started)
    return jobs


def test_the_first_job_answers_all_its_prompts_in_calls_that_grow(qtbot, ctx):
    for n in range(7):
        ctx.store.add_prompt(f"prompt {n}")
    jobs = generation_jobs(ctx)
    page = RankPage(ctx)
    page.tokens_spin.setValue(4)
    show(qtbot, page)  # nothing to rank: the page asks for answers at once
    qtbot.waitUntil(lambda: page._job is None, timeout=60_000)
    assert jobs == [[(4, 7), (7, 7)]]  # K = 2: 4 prompts (8 answers), then the other 3
    assert "Left: <b>7</b>" in page.counters.text() and not ctx.store.prompts_without_responses("base")


def test_a_job_starts_whenever_fewer_than_the_lookahead_are_ready(qtbot, ctx, monkeypatch):
    monkeypatch.setattr(rank_page, "READY_AHEAD", 3)
    monkeypatch.setattr(rank_page, "REFILL_PROMPTS", 4)
    for n in range(10):
        ctx.store.add_prompt(f"prompt {n}")
    jobs = generation_jobs(ctx)
    page = RankPage(ctx)
    page.tokens_spin.setValue(4)
    show(qtbot, page)
    qtbot.waitUntil(lambda: page._job is None and bool(jobs[0]), timeout=60_000)
    assert jobs == [[(4, 4)]] and len(ctx.store.comparisons()) == 4
    press(qtbot, page, "1")  # 3 ready: enough
    assert page._job is None and len(jobs) == 1
    press(qtbot, page, "1")  # 2 ready: fewer than 3
    assert page._job is not None
    qtbot.waitUntil(lambda: page._job is None, timeout=60_000)
    assert jobs[1] == [(4, 4)] and len(ctx.store.comparisons()) == 8
    assert "Left: <b>6</b>" in page.counters.text()


def test_a_cut_answer_is_marked_and_a_finished_one_is_not(qtbot, ctx):
    prompt = ctx.store.add_prompt("Q")
    settings = {"max_new_tokens": 48}
    ids = [ctx.store.add_response(prompt, "...creating a throat", "base", settings, cut=True),
           ctx.store.add_response(prompt, "A whole answer.", "base", settings, cut=False)]
    ctx.store.add_comparison(prompt, ids)
    page = show(qtbot, RankPage(ctx))
    cut, whole = page.panes
    assert cut.cut.isVisible() and cut.cut.text() == "… (cut at 48 tokens)" and "mid-sentence" in cut.cut.toolTip()
    assert not whole.cut.isVisible()
