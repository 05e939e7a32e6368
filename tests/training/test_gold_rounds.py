"""Gold checks of each round draw the starting policy's answers afresh (a seed of their own per round and run), so
two rounds' checks of one prompt are not the same draw; each check is stored under its own round and run."""
from types import SimpleNamespace

from studio.core import oversight_store as ov
from studio.core.project import Project
from studio.training import gold


def test_each_round_draws_the_start_with_its_own_seed(tmp_path, monkeypatch):
    project = Project.init(tmp_path / "p")
    store = project.store
    drawn = []
    monkeypatch.setattr(gold, "sample", lambda project, base, policy, prompts, sampling, hooks=None: drawn.append(
        (policy, sampling.seed)) or [f"start answer {len(drawn)}"] * len(prompts))
    run = store.create_run("ppo", {"_init": "base", "temperature": 0.9})
    for round_ in (1, 2):
        store.add_samples(run, round_, [{"prompt": "Q", "response": f"policy answer {round_}", "reward": 0.5}])
    made = [gold.make_gold_checks(project, SimpleNamespace(device="cpu"), str(run), round_)[0] for round_ in (1, 2)]
    assert [policy for policy, _ in drawn] == ["base", "base"] and drawn[0][1] != drawn[1][1]
    assert [(c.comparison_id, c.round) for c in ov.gold_checks(store, run)] == [(made[0], 1), (made[1], 2)]
    assert gold.make_gold_checks(project, SimpleNamespace(device="cpu"), str(run), 2) == []  # checked already
    project.close()
