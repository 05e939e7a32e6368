"""The Rank page keeps its queue ahead of a fast ranker (tiny model): the first job answers one prompt alone, then
the rest in growing calls; a job starts whenever fewer than READY_AHEAD comparisons are ready; a cut answer is
marked."""
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


def test_the_first_job_answers_one_prompt_alone_then_the_rest_in_one_call(qtbot, ctx):
    for n in range(5):
        ctx.store.add_prompt(f"prompt {n}")
    jobs = generation_jobs(ctx)
    page = RankPage(ctx)
    page.tokens_spin.setValue(4)
    show(qtbot, page)  # nothing to rank: the page asks for answers at once
    qtbot.waitUntil(lambda: page._job is None, timeout=60_000)
    assert jobs == [[(1, 5), (5, 5)]]  # K = 2: 1 prompt (2 answers), then 4 prompts (8 answers)
    assert "Left: <b>5</b>" in page.counters.text() and not ctx.store.prompts_without_responses("base")


def test_a_job_starts_whenever_fewer_than_the_lookahead_are_ready(qtbot, ctx, monkeypatch):
    monkeypatch.setattr(rank_page, "READY_AHEAD", 3)
    monkeypatch.setattr(rank_page, "REFILL_PROMPTS", 4)
    for n in range(10):
        ctx.store.add_prompt(f"prompt {n}")
    jobs = generation_jobs(ctx)
    page = RankPage(ctx)
    page.tokens_spin.setValue(4)
    show(qtbot, page)
    qtbot.waitUntil(lambda: page._job is None and len(jobs[0]) == 2, timeout=60_000)
    assert jobs == [[(1, 4), (4, 4)]] and len(ctx.store.comparisons()) == 4
    press(qtbot, page, "1")  # 3 ready: enough
    assert page._job is None and len(jobs) == 1
    press(qtbot, page, "1")  # 2 ready: fewer than 3, and a comparison on screen: no lone first prompt
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
