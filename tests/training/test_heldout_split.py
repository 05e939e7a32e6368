"""A reward run keeps the pairs it held out: its health report is computed on them, whatever comes later."""
import pytest

from studio.core.project import Project
from studio.core.rm_health import SCORES_FILE, SPLIT_FILE, load_scored, load_split
from studio.training import runs
from studio.training.configs import RewardConfig
from studio.training.rm_scoring import reward_report
from tests.training.helpers import marker_pairs

CONFIG = RewardConfig(steps=1, batch_size=4, max_length=48, lora_r=4, lora_alpha=8, warmup_steps=0,
                      eval_every=100, checkpoint_every=100, eval_fraction=0.2)


def _rank_three(store, pairs: list[dict], suffix: str = "") -> None:
    """Each pair as a 3-way comparison (chosen, a middle answer, rejected), ranked in that order: 3 pairs of
    weight 1/3 each."""
    for pair in pairs:
        p = store.add_prompt(pair["prompt"] + suffix)
        texts = [pair["chosen"], pair["chosen"] + " maybe", pair["rejected"]]
        c = store.add_comparison(p, [store.add_response(p, t, "base") for t in texts])
        store.add_ranking(c, [[0], [1], [2]], "me")


def _keys(pairs) -> set[tuple]:
    return {(p["prompt"], p["chosen"], p["rejected"]) for p in pairs}


def test_new_prompts_never_enter_the_stored_held_out_set(base, tiny_model_dir, tmp_path):
    project = Project.init(tmp_path / "p", model=str(tiny_model_dir))
    store = project.store
    _rank_three(store, marker_pairs(12, seed=7))
    trained_on = _keys(p.__dict__ for p in store.preference_pairs())
    run_id, result = runs.train(project, base, "reward", CONFIG)
    assert result.status == "finished"
    run_dir = project.run_dir(run_id)
    held, split = load_split(run_dir / SPLIT_FILE)
    assert split == "held-out" and len({p["prompt"] for p in held}) == 2  # 2 of 12 prompts, 3 pairs each
    assert len(held) == 6 and all(p["weight"] == pytest.approx(1 / 3) for p in held)
    first, _ = load_scored(run_dir / SCORES_FILE)
    assert _keys(p.__dict__ for p in first) == _keys(held)

    _rank_three(store, marker_pairs(12, seed=8), " later")  # 12 new prompts: a new split would mix them in
    (run_dir / SCORES_FILE).unlink()
    report = reward_report(project, run_id, lambda: base)
    again, split = load_scored(run_dir / SCORES_FILE)
    assert split == "held-out" and report.pairs == 6
    assert _keys(p.__dict__ for p in again) == _keys(held)
    train_side = trained_on - _keys(held)
    assert len(train_side) == 30 and not _keys(p.__dict__ for p in again) & train_side
    assert all(p.weight == pytest.approx(1 / 3) for p in again)  # each ranking counts once in ECE and Brier


def test_a_run_without_a_stored_split_is_not_re_split(base, tiny_model_dir, tmp_path):
    project = Project.init(tmp_path / "p", model=str(tiny_model_dir))
    _rank_three(project.store, marker_pairs(4, seed=7))
    run_id, _ = runs.train(project, base, "reward", CONFIG)
    held, split = load_split(project.run_dir(run_id) / SPLIT_FILE)
    assert split == "train" and len(held) == 12  # under 10 prompts: nothing held out, the training pairs kept
    (project.run_dir(run_id) / SPLIT_FILE).unlink()
    (project.run_dir(run_id) / SCORES_FILE).unlink()
    with pytest.raises(ValueError, match="train the reward model again"):
        reward_report(project, run_id, lambda: base)


def test_a_resumed_run_keeps_its_stored_held_out_prompts(tmp_path):
    """Training reads the split back when the run folder already holds one (a resume): the stored held-out prompt
    stays out of training, and a new pair on it is held out too, whatever a fresh split of today's pairs says."""
    from studio.core.rm_health import save_split
    from studio.training.batches import split_by_prompt
    from studio.training.reward import stored_split

    pairs = [{**p, "weight": 1.0} for p in marker_pairs(12, seed=7)]
    _, fresh = split_by_prompt(pairs, CONFIG.eval_fraction, CONFIG.seed)
    kept = next(p for i, p in enumerate(pairs) if i not in fresh)  # a prompt a fresh split would train on
    save_split(tmp_path / SPLIT_FILE, [kept], "held-out")
    later = pairs + [{**kept, "chosen": kept["chosen"] + " again"}]
    train_idx, eval_idx = stored_split(later, tmp_path / SPLIT_FILE, CONFIG)
    assert [later[i]["prompt"] for i in eval_idx] == [kept["prompt"]] * 2
    assert sorted(train_idx + eval_idx) == list(range(len(later)))
    save_split(tmp_path / SPLIT_FILE, pairs, "train")  # a run that held nothing out trains on everything
    assert stored_split(later, tmp_path / SPLIT_FILE, CONFIG) == (list(range(len(later))), [])


def _prompts(path) -> set[str]:
    held, split = load_split(path)
    return {p["prompt"] for p in held} if split == "held-out" else set()


def test_a_warm_started_run_never_holds_out_a_prompt_its_warm_run_trained_on(base, tiny_model_dir, tmp_path):
    """20 prompts, then 10 more: a fresh split of the 30 would move some of the warm run's training prompts into
    the held-out set, where the warm weights already fit them. The warm run's held-out prompts stay held out, and
    only the 10 new prompts are split."""
    from studio.training.batches import split_by_prompt

    project = Project.init(tmp_path / "p", model=str(tiny_model_dir))
    store = project.store
    _rank_three(store, marker_pairs(20, seed=7))
    warm_id, _ = runs.train(project, base, "reward", CONFIG)
    warm_held = _prompts(project.run_dir(warm_id) / SPLIT_FILE)
    warm_trained = {p.prompt for p in store.preference_pairs()} - warm_held
    assert len(warm_held) == 4 and len(warm_trained) == 16
    _rank_three(store, marker_pairs(10, seed=8), " later")
    now = [p.__dict__ for p in store.preference_pairs()]
    _, fresh = split_by_prompt(now, CONFIG.eval_fraction, CONFIG.seed)
    assert {now[i]["prompt"] for i in fresh} & warm_trained  # what the warm run would have been checked on before

    run_id, result = runs.train(project, base, "reward", CONFIG, warm=str(warm_id))
    assert result.status == "finished"
    held = _prompts(project.run_dir(run_id) / SPLIT_FILE)
    assert not held & warm_trained and warm_held <= held
    assert len(held - warm_held) == 2 and all(p.endswith(" later") for p in held - warm_held)  # 2 of the 10 new
