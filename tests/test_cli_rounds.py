"""`round DIR` refuses with one line, before the model loads, and changes nothing: no online run, a run of another
kind, too few answers, a round not sampled or not ranked yet, and a gold win rate that stopped rising."""
import pytest

from studio.cli import main
from studio.core import rounds as plan
from studio.core.store import Store
from tests.core.test_rounds import _gold, _online_run
from tests.kill_harness import seed_project


@pytest.fixture
def root(tmp_path):
    """A project whose model is an empty folder: a command that got as far as loading it would fail otherwise."""
    (tmp_path / "model").mkdir()
    return seed_project(tmp_path / "p", tmp_path / "model").root


def _snapshot(root) -> tuple:
    with Store(root / "studio.db") as store:
        return (store.counts(), [(r.id, r.status) for r in store.runs()],
                store.db.execute("SELECT * FROM meta ORDER BY key").fetchall())


def _refused(root, capsys, argv: list[str], message: str) -> None:
    before = _snapshot(root)
    capsys.readouterr()
    assert main(["round", str(root), *argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert _snapshot(root) == before


def test_no_online_run_to_go_on_from(root, capsys):
    _refused(root, capsys, [], "a round goes on from a finished PPO, RLOO or GRPO run: train one first")
    _refused(root, capsys, ["--train"], "train one first")


def test_a_run_that_is_not_a_finished_online_one(root, capsys):
    with Store(root / "studio.db") as store:
        sft = store.create_run("sft", {})
        store.update_run(sft, status="finished")
        running = store.create_run("ppo", {})
    _refused(root, capsys, ["--run", str(sft)], f"run {sft} is a finished sft run")
    _refused(root, capsys, ["--run", str(running), "--train"], f"run {running} is a running ppo run")
    _refused(root, capsys, ["--run", "99"], "99")


def test_too_few_answers_per_prompt(root, capsys):
    with Store(root / "studio.db") as store:
        _online_run(store)
    _refused(root, capsys, ["--per-prompt", "1"], "at least 2 answers per prompt, got 1")


def test_training_a_round_that_was_not_sampled_or_not_ranked(root, capsys):
    with Store(root / "studio.db") as store:
        run = _online_run(store)
    _refused(root, capsys, ["--train"], f"no round is sampled after run {run}: sample it first")
    with Store(root / "studio.db") as store:
        pid = store.add_prompt("a round prompt")
        cid = store.add_comparison(pid, [store.add_response(pid, t, str(run)) for t in ("one", "two")])
        plan.record_prepared(store, run, [cid], [])
    _refused(root, capsys, ["--train"], "none of the round's 1 comparisons is ranked yet")


@pytest.mark.parametrize("train", [False, True])
def test_no_further_round_once_the_gold_win_rate_stopped_rising(root, capsys, train):
    with Store(root / "studio.db") as store:
        first = _online_run(store)
        second = _online_run(store, start=first)
        _gold(store, first, [True, False, True, False])
        made = _gold(store, second, [True, False])  # 50 % after 50 %: the boundary stops
        plan.record_prepared(store, second, [], made)
    _refused(root, capsys, ["--train"] if train else [], "the gold win rate stopped rising (50% in round 1, 50% in "
                                                         "round 2): no further round")


def test_the_window_path_refuses_as_the_cli_does(root):
    """`prepare_round` and `train_round` (what the Train page's button calls) check the stop rule themselves."""
    from studio.core.project import Project
    from studio.training import rounds

    project = Project.open(root)
    first = _online_run(project.store)
    second = _online_run(project.store, start=first)
    _gold(project.store, first, [True])
    plan.record_prepared(project.store, second, [], _gold(project.store, second, [False]))
    for action in (rounds.prepare_round, rounds.train_round):
        with pytest.raises(ValueError, match=r"stopped rising \(100% in round 1, 0% in round 2\)"):
            action(project, None)
    project.close()


def test_training_a_round_after_a_run_that_used_a_reward_file(root, capsys):
    """Its function's code is never stored: the round's policy run could not score, so it is refused up front, before
    the reward model retrains (no new run) and before the model loads."""
    with Store(root / "studio.db") as store:
        run = store.create_run("ppo", {"_init": "base", "_reward": "1", "_reward_terms": ["rm", "0.5*file:score"]})
        store.update_run(run, status="finished", artifact=f"runs/{run}/adapter")
        pid = store.add_prompt("a round prompt")
        cid = store.add_comparison(pid, [store.add_response(pid, t, str(run)) for t in ("one", "two")])
        store.add_ranking(cid, [[0], [1]], "me")
        plan.record_prepared(store, run, [cid], [])
    _refused(root, capsys, ["--train"], f"run {run} used a --reward-file function, whose code is never stored")


def test_sampling_after_a_run_that_already_went_on_is_refused_before_the_model_loads(root, capsys, monkeypatch):
    """The CLI and the window's round job both refuse before opening the model (a run that already went on can
    take no second round)."""
    from types import SimpleNamespace

    from studio.core.project import Project
    from studio.workers.model_jobs import round_job

    def no_model(*_args, **_kw):
        pytest.fail("the model loaded")

    monkeypatch.setattr("studio.training.models.load_model", no_model)
    monkeypatch.setattr("studio.cli.rounds.open_base", no_model)
    with Store(root / "studio.db") as store:
        first = _online_run(store)
        second = _online_run(store, start=first)
    message = f"run {first} already went on in run {second}: a round goes on from the latest"
    _refused(root, capsys, ["--run", str(first)], message)
    project = Project.open(root)
    try:
        with pytest.raises(ValueError, match=message):
            round_job(first, "sample")(SimpleNamespace(project=project, base=no_model, hooks=None))
    finally:
        project.close()


@pytest.mark.parametrize("config, message", [
    ({"_init": "base", "_reward": "1", "_reward_terms": ["rm", "0.5*file:score"]}, "used a --reward-file function"),
    ({"_init": "base", "_reward": None, "_reward_terms": ["rule:number"]}, "used no reward model")])
def test_a_round_that_could_never_train_is_refused_before_it_is_sampled(root, capsys, monkeypatch, config, message):
    """Sampling a round the person would rank for nothing (its training is refused) stops at once, before the model
    loads and before any gold check or comparison is made."""
    def no_model(*_args, **_kw):
        pytest.fail("the model loaded")

    monkeypatch.setattr("studio.training.models.load_model", no_model)
    monkeypatch.setattr("studio.cli.rounds.open_base", no_model)
    with Store(root / "studio.db") as store:
        run = store.create_run("ppo", config)
        store.update_run(run, status="finished", artifact=f"runs/{run}/adapter")
    _refused(root, capsys, ["--run", str(run)], message)
