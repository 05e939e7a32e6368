"""What reaches the Plackett-Luce losses from the reward and DPO loops: each ranking's answers' own scores (or
log-probs) in its row, in answer order, and each answer's place with ties kept; and both engines learn from
whole rankings end to end."""
import json

import pytest
import torch

from studio.core.preferences import pair_records, ranking_record
from studio.core.rm_health import SPLIT_FILE
from studio.training import dpo, reward
from studio.training.batches import encode_example, pad_batch
from studio.training.configs import DPOConfig, RewardConfig
from studio.training.engine import Hooks, TrainResult
from studio.training.response_logprobs import sequence_logprobs
from tests.training.helpers import FILLER, TOPICS

# (order, expected places of answers 0..K-1): a strict 4-way, one with a tie in the middle, a 3-way with a tie at
# the top, and a pair
ORDERS = [([[2], [0], [3], [1]], [1, 3, 0, 2]), ([[1], [0, 3], [2]], [1, 0, 2, 1]),
          ([[0, 2], [1]], [0, 1, 0, -1]), ([[1], [0]], [1, 0, -1, -1])]


def rankings() -> list[dict]:
    out = []
    for i, (order, _) in enumerate(ORDERS):
        k = len([a for group in order for a in group])
        out.append(ranking_record(f"tell me about {TOPICS[i]}", [f"{FILLER[j]} {TOPICS[i]} {j}" for j in range(k)],
                                  order, i))
    return out


def capture(monkeypatch, module, loss_name: str):
    """Run the engine up to its loop; return the loop's arguments and a list the loss's arguments go to."""
    captured, calls = {}, []
    stopped = TrainResult("cancelled", 0, {}, None, None)
    monkeypatch.setattr(module, "run_supervised", lambda **kwargs: captured.update(kwargs) or stopped)
    real = getattr(module, loss_name)
    monkeypatch.setattr(module, loss_name, lambda *args: calls.append(args) or real(*args))
    return captured, calls


def answers(base, ranking: dict) -> torch.Tensor:
    rows = [encode_example(base.tokenizer, ranking["prompt"], a, None, 48) for a in ranking["responses"]]
    return pad_batch(rows, base.tokenizer.pad_token_id, base.device)


def nudge(base, adapter: str) -> None:
    """Move a fresh adapter away from zero, so that its outputs differ from the bare base's."""
    with torch.no_grad():
        for name, p in base.peft.named_parameters():
            if f".{adapter}." in name and "lora_B" in name:
                p.add_(torch.randn_like(p, generator=torch.Generator().manual_seed(0)) * 0.3)


BATCH = [3, 1, 0, 2]  # not the data's order


def check_rows(values: torch.Tensor, places: torch.Tensor, each: list[torch.Tensor]) -> None:
    assert places.tolist() == [ORDERS[i][1] for i in BATCH]
    for row, expected in zip(values, each):
        assert row[:len(expected)].tolist() == pytest.approx(expected.tolist(), abs=1e-4)


def test_reward_loss_gets_each_answer_score_and_place(base, tmp_path, monkeypatch):
    data = rankings()
    captured, calls = capture(monkeypatch, reward, "plackett_luce_loss")
    config = RewardConfig(ranking_loss="plackett_luce", max_length=48, lora_r=4, lora_alpha=8, eval_fraction=0.0)
    reward.train_reward(base, data, config, tmp_path)
    head = captured["heads"][reward.HEAD]
    torch.nn.init.normal_(head.linear.weight, std=1.0)
    nudge(base, reward.ADAPTER)
    with base.use(reward.ADAPTER), torch.no_grad():
        captured["loss_fn"](BATCH)
        each = [reward.score(base, head, *answers(base, data[i])[:2]) for i in BATCH]
    scores, places, weights = calls[-1]
    check_rows(scores, places, each)
    assert weights.tolist() == [1.0] * 4
    assert len({round(v, 4) for row in each for v in row.tolist()}) > 8  # the answers' scores differ


def test_dpo_loss_gets_each_answer_logprobs_and_place(base, tmp_path, monkeypatch):
    data = rankings()
    captured, calls = capture(monkeypatch, dpo, "listwise_dpo_loss")
    config = DPOConfig(ranking_loss="plackett_luce", beta=0.5, max_length=48, lora_r=4, lora_alpha=8,
                       eval_fraction=0.0)
    dpo.train_dpo(base, data, config, tmp_path, init_adapter=None)
    nudge(base, dpo.ADAPTER)
    with torch.no_grad():
        with base.use(dpo.ADAPTER):
            captured["loss_fn"](BATCH)
            policy = [sequence_logprobs(base, *answers(base, data[i])) for i in BATCH]
        with base.use(None):
            ref = [sequence_logprobs(base, *answers(base, data[i])) for i in BATCH]
    pi, ref_seen, places, beta, _ = calls[-1]
    assert beta == 0.5
    check_rows(pi, places, policy)
    check_rows(ref_seen, places, ref)
    assert (torch.cat(policy) - torch.cat(ref)).abs().min() > 1e-3  # the policy moved: pi and ref differ


def marker_rankings(n: int) -> list[dict]:
    """4 answers per prompt: the more bananas, the better (3, 2, 1, 0), shuffled positions."""
    gen, out = torch.Generator().manual_seed(0), []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)] + (f" {i}" if i >= len(TOPICS) else "")
        perm = torch.randperm(4, generator=gen).tolist()  # answer j has perm[j] bananas
        texts = [" ".join(["banana"] * perm[j] + ["cherry"] * (3 - perm[j])) for j in range(4)]
        out.append(ranking_record(f"tell me about {topic}", texts, [[perm.index(b)] for b in (3, 2, 1, 0)], i))
    return out


def test_reward_learns_from_whole_rankings_and_stores_the_held_out_pairs(base, tmp_path):
    data, seen = marker_rankings(20), []
    config = RewardConfig(ranking_loss="plackett_luce", steps=15, batch_size=4, lr=1e-3, max_length=48, lora_r=4,
                          lora_alpha=8, eval_fraction=0.2, eval_every=15)
    result = reward.train_reward(base, data, config, tmp_path, Hooks(on_metrics=lambda s, m: seen.append(m)))
    assert result.status == "finished" and (tmp_path / "heads.safetensors").exists()
    assert result.metrics["eval_accuracy"] >= 0.9
    held = [json.loads(line) for line in (tmp_path / SPLIT_FILE).read_text().splitlines()]
    held_prompts = {p["prompt"] for p in held}
    assert len(held_prompts) == 4 and all(p["split"] == "held-out" for p in held)
    assert [{k: v for k, v in p.items() if k != "split"} for p in held] == pair_records(
        [r for r in data if r["prompt"] in held_prompts])


def test_dpo_on_whole_rankings_starts_at_log_k_factorial_over_choices(base, tmp_path):
    seen = []
    config = DPOConfig(ranking_loss="plackett_luce", steps=2, batch_size=4, max_length=48, lora_r=4, lora_alpha=8,
                       eval_fraction=0.2, eval_every=2)
    result = dpo.train_dpo(base, marker_rankings(12), config, tmp_path, Hooks(on_metrics=lambda s, m: seen.append(m)),
                           init_adapter=None)
    assert result.status == "finished" and result.metrics["eval_size"] == 2
    assert {"eval_loss", "eval_reward_accuracy", "eval_margin", "reward_accuracy", "margin"} <= set(result.metrics)
    assert seen[0]["loss"] == pytest.approx(torch.tensor(24.0).log().item() / 3, abs=1e-5)


def test_a_stored_auto_run_on_rankings_of_4_holds_out_the_prompts_and_pairs_a_pairs_run_would(base, tiny_model_dir,
                                                                                              tmp_path):
    import dataclasses

    from studio.core.project import Project
    from studio.core.ratings import training_pairs
    from studio.core.rm_health import load_split
    from studio.training import runs
    from studio.training.batches import split_by_prompt

    project = Project.init(tmp_path / "p", model=str(tiny_model_dir))
    for r in marker_rankings(12):
        p = project.store.add_prompt(r["prompt"])
        c = project.store.add_comparison(p, [project.store.add_response(p, t, "base") for t in r["responses"]])
        project.store.add_ranking(c, r["order"])
    config = RewardConfig(steps=2, batch_size=2, max_length=48, lora_r=4, lora_alpha=8, eval_fraction=0.2,
                          eval_every=2)  # ranking_loss auto: whole rankings of 4 places
    run_id, result = runs.train(project, base, "reward", config)
    stored = project.store.run(run_id).config
    assert result.status == "finished" and (stored["ranking_loss"], stored["_ranking_loss"]) == ("auto",
                                                                                                  "plackett_luce")
    assert result.metrics["eval_size"] == 2 and 0 <= result.metrics["eval_accuracy"] <= 1
    pairs = [dataclasses.asdict(p) for p in training_pairs(project.store)]
    _, held_idx = split_by_prompt(pairs, 0.2, 0)
    held, split = load_split(project.run_dir(run_id) / SPLIT_FILE)
    assert split == "held-out" and [{k: v for k, v in p.items() if k != "split"} for p in held] == [
        pairs[i] for i in held_idx]
    assert len(held) == 12  # 2 prompts x 6 pairs


def k2_data() -> list[dict]:
    """Rankings of 2 places only: a pair dict, a 2-answer ranking and ratings' [liked, 2 disliked] (3 answers)."""
    return [{"prompt": "tell me about rain", "chosen": "rain is wet", "rejected": "rain"},
            ranking_record("tell me about snow", ["snow", "snow is cold"], [[1], [0]], 1),
            ranking_record("tell me about fog", ["fog is grey", "fog", "no"], [[0], [1, 2]], None)]


def spy(monkeypatch, module, name: str) -> list:
    """A list that gets the arguments of every call of `module.name`, which still runs."""
    calls, real = [], getattr(module, name)
    monkeypatch.setattr(module, name, lambda *args: calls.append(args) or real(*args))
    return calls


@pytest.mark.parametrize("k", [2, 3])
def test_auto_reward_learns_from_whole_rankings_only_where_one_has_more_than_2_places(base, tmp_path, monkeypatch, k):
    data = k2_data() + ([ranking_record("tell me about wind", ["wind", "wind blows", "no"], [[1], [0], [2]], 2)]
                        if k == 3 else [])
    captured, whole = capture(monkeypatch, reward, "plackett_luce_loss")
    pairs, said = spy(monkeypatch, reward, "bradley_terry_loss"), []
    config = RewardConfig(max_length=48, lora_r=4, lora_alpha=8, eval_fraction=0.0)
    assert config.ranking_loss == "auto"
    reward.train_reward(base, data, config, tmp_path, Hooks(on_message=said.append))
    with torch.no_grad():
        captured["loss_fn"](captured["train_idx"])
    if k == 2:  # the pair path as ever: every pair of the data, none of it whole
        assert not whole and not said and len(captured["train_idx"]) == len(pair_records(data)) == 4
        assert len(pairs[-1][0]) == 4
    else:
        assert not pairs and said == ["Learning from whole rankings (K=3): Plackett-Luce"]
        assert whole[-1][1].shape == (4, 3)  # the 4 rankings whole, 3 answers wide


@pytest.mark.parametrize("k", [2, 3])
def test_auto_dpo_learns_from_whole_rankings_only_where_one_has_more_than_2_places(base, tmp_path, monkeypatch, k):
    data = k2_data() + ([ranking_record("tell me about wind", ["wind", "wind blows", "no"], [[1], [0], [2]], 2)]
                        if k == 3 else [])
    captured, whole = capture(monkeypatch, dpo, "listwise_dpo_loss")
    pairs, said = spy(monkeypatch, dpo, "dpo_loss"), []
    config = DPOConfig(max_length=48, lora_r=4, lora_alpha=8, eval_fraction=0.0)
    assert config.ranking_loss == "auto"
    dpo.train_dpo(base, data, config, tmp_path, Hooks(on_message=said.append), init_adapter=None)
    with torch.no_grad():
        captured["loss_fn"](captured["train_idx"])
    if k == 2:
        assert not whole and not [s for s in said if "whole" in s] and len(pairs[-1][0]) == 4
    else:
        assert not pairs and "Learning from whole rankings (K=3): Plackett-Luce" in said
        assert whole[-1][2].shape == (4, 3)


def test_a_run_stores_the_loss_auto_chose_and_resumes_with_it(base, tiny_model_dir, tmp_path):
    from studio.core.project import Project
    from studio.training import runs

    project = Project.init(tmp_path / "p", model=str(tiny_model_dir))
    store = project.store

    def rank(prompt: str, texts: list[str], order: list[list[int]]) -> None:
        p = store.add_prompt(prompt)
        store.add_ranking(store.add_comparison(p, [store.add_response(p, t, "base") for t in texts]), order)

    rank("tell me about rain", ["rain is wet", "rain"], [[0], [1]])
    config = DPOConfig(steps=1, batch_size=1, max_length=48, lora_r=4, lora_alpha=8, eval_fraction=0.0)
    run_id, result = runs.train(project, base, "dpo", config)
    assert result.status == "finished" and store.run(run_id).config["_ranking_loss"] == "pairs"
    rank("tell me about wind", ["wind", "wind blows", "no"], [[1], [0], [2]])  # K = 3 from now on
    assert runs.config_of(store.run(run_id)).ranking_loss == "auto"  # a copy of its settings chooses again
    assert runs.config_of(store.run(run_id), resumed=True).ranking_loss == "pairs"  # a resume keeps its loss
    older = store.create_run("dpo", {"steps": 1})  # from before the setting: it learnt from the pairs
    assert runs.config_of(store.run(older), resumed=True).ranking_loss == "pairs"
    assert runs.config_of(store.run(older)).ranking_loss == "auto"
