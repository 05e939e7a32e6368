"""Reward model: a LoRA adapter plus a scalar head learns which of two responses people prefer.

Each response is scored by the head on the hidden state of its last token. The loss (`ranking_loss`) is the
Bradley-Terry loss on the score difference, weighted as in InstructGPT (the C(K,2) pairs of one K-way ranking
share weight 1), or the Plackett-Luce likelihood of each whole ranking ("auto", the default: where one has more
than 2 places, `preferences.ranking_loss_for`). The mean and std of the scores are saved with the head, so scores
can be normalised later.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from studio.core.preferences import pair_records, ranking_records
from studio.core.reach import Reach
from studio.core.rm_health import SPLIT_FILE, load_split, save_split
from studio.training.batches import (Example, by_ranking, chunks, encode_example, encode_pairs, encode_rankings,
                                     over_chunks, pad_batch, pair_halves, pair_step_tokens, pair_weights,
                                     prompt_split, ranking_batch, ranking_places, ranking_step_tokens, split_by_prompt,
                                     whole_rankings)
from studio.training.configs import RewardConfig
from studio.training.engine import Hooks, TrainResult, run_supervised, stoppable
from studio.training.preference_losses import bradley_terry_loss, plackett_luce_loss, ranked_pairs
from studio.training.heads import ScalarHead, load_heads, save_heads
from studio.training.shared_base import SharedBase
from studio.training.stopping import Cancelled

ADAPTER = "reward"
HEAD = "reward_head"
TRAINED_FILE = "trained_prompts.json"  # the prompts a reward run trained on (`stored_split`)
# A fresh head scores every answer (nearly) alike: no preference before any data. The usual 1/sqrt(d) draw gives
# SmolLM2's last-token states (norm ~46) a random spread of ~2 between answers, more than a few dozen steps on a
# small set of pairs undo; the reward model then mostly ranks by its initial draw (bench/RESULTS.md 19b).
HEAD_INIT_STD = 1e-3


def stored_split(pairs: list[dict], path: Path, config: RewardConfig, warm: Path | None = None
                 ) -> tuple[list[int], list[int]]:
    """The run's split of `pairs` (or rankings), kept at `path` (`rm_health.SPLIT_FILE`) as pairs: written when the
    run starts, so its health report never splits newer pairs again; read back when it resumes (pairs added
    meanwhile on a held-out prompt stay held out, never trained on). The prompts it trains on go to
    `TRAINED_FILE` beside it, so that a run warm-started from it (`warm`, its folder) splits only new prompts."""
    if not path.exists():
        held = _held_prompts(pairs, config, warm)
        eval_pairs = [p for p in pairs if p["prompt"] in held]
        path.parent.mkdir(parents=True, exist_ok=True)
        save_split(path, pair_records(eval_pairs or pairs), "held-out" if eval_pairs else "train")
        (path.parent / TRAINED_FILE).write_text(json.dumps(sorted({p["prompt"] for p in pairs} - held)),
                                                encoding="utf-8")
    else:
        held = _split_prompts(path)
    return ([i for i, p in enumerate(pairs) if p["prompt"] not in held],
            [i for i, p in enumerate(pairs) if p["prompt"] in held])


def _split_prompts(path: Path) -> set[str]:
    """The held-out prompts of the split stored at `path`."""
    stored, split = load_split(path)
    return {p["prompt"] for p in stored} if split == "held-out" else set()


def _held_prompts(pairs: list[dict], config: RewardConfig, warm: Path | None) -> set[str]:
    """The prompts a new run holds out. Warm-started: the warm run's held-out ones stay held out, a prompt it trained
    on never is (its weights fit it already), and only prompts it never saw are split (when it did not record what
    it trained on, every prompt but its held-out ones counts as seen)."""
    held: set[str] = set()
    new = pairs
    if warm is not None:
        held = _split_prompts(warm / SPLIT_FILE)
        trained = warm / TRAINED_FILE
        seen = held | (set(json.loads(trained.read_text(encoding="utf-8"))) if trained.exists()
                       else {p["prompt"] for p in pairs})
        new = [p for p in pairs if p["prompt"] not in seen]
    _, eval_idx = split_by_prompt(new, config.eval_fraction, config.seed)
    return held | {new[i]["prompt"] for i in eval_idx}


def last_token_hidden(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The hidden state at each row's last non-pad position (left or right padding)."""
    last = (mask * torch.arange(mask.size(1), device=mask.device)).argmax(1)
    return hidden[torch.arange(hidden.size(0), device=hidden.device), last]


def last_token_features(base: SharedBase, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """What a reward head reads: each row's last-token hidden state (float32), with the active adapter."""
    return last_token_hidden(base.hidden_states(ids, mask), mask).float()


def score(base: SharedBase, head: ScalarHead, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The head on the last-token hidden state of each row, with the active adapter."""
    return head(last_token_features(base, ids, mask))


def score_metrics(chosen: torch.Tensor, rejected: torch.Tensor) -> dict[str, float]:
    """Accuracy as the exact share of pairs won (9 of 10 is 0.9, as the health report counts it, not float32's
    0.8999999761581421) and the mean score margin."""
    return {"accuracy": (chosen > rejected).sum().item() / chosen.numel(), "margin": (chosen - rejected).mean().item()}


class RewardScorer:
    """Scores responses with a trained reward adapter and head (raw, or normalised by the training stats)."""

    def __init__(self, base: SharedBase, adapter: str, head: ScalarHead, mean: float = 0.0, std: float = 1.0,
                 max_length: int = 512):
        self.base, self.adapter, self.head = base, adapter, head
        self.mean, self.std, self.max_length = mean, std, max_length

    @classmethod
    def load(cls, base: SharedBase, run_dir: Path) -> RewardScorer:
        """Load `run_dir/adapter` as adapter `reward` and the head and stats from `run_dir/heads.safetensors`."""
        run_dir = Path(run_dir)
        base.load_adapter(ADAPTER, run_dir / "adapter")
        head = ScalarHead(base.hidden_size).to(base.device)
        meta = load_heads({HEAD: head}, run_dir / "heads.safetensors")
        return cls(base, ADAPTER, head, meta.get("mean", 0.0), meta.get("std", 1.0), meta.get("max_length", 512))

    @torch.no_grad()
    def score_ids(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Raw scores of already tokenised chat sequences (any padding side)."""
        with self.base.use(self.adapter):
            return score(self.base, self.head, input_ids, attention_mask)

    def encode(self, prompts: list[str], responses: list[str]) -> list[Example]:
        """Each response after its chat-formatted prompt, cut at `max_length` tokens."""
        return [encode_example(self.base.tokenizer, p, r, None, self.max_length) for p, r in zip(prompts, responses)]

    @torch.no_grad()
    def features(self, examples: list[Example], batch_size: int = 8) -> torch.Tensor:
        """The features (N, D) the head reads, of examples already encoded by `batches.encode_example`."""
        pad, device = self.base.tokenizer.pad_token_id, self.base.device
        out = [torch.zeros(0, self.base.hidden_size, device=device)]
        with self.base.use(self.adapter):
            for rows in chunks(examples, batch_size):
                out.append(last_token_features(self.base, *pad_batch(rows, pad, device)[:2]))
        return torch.cat(out)

    @torch.no_grad()
    def score_examples(self, examples: list[Example], batch_size: int = 8) -> torch.Tensor:
        """Raw scores of examples already encoded by `batches.encode_example`."""
        return self.head(self.features(examples, batch_size))

    @torch.no_grad()
    def scores_and_features(self, prompts: list[str], responses: list[str], batch_size: int = 8
                            ) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw scores (N,) of each response to its prompt, and the features (N, D) they were read from."""
        features = self.features(self.encode(prompts, responses), batch_size)
        return self.head(features), features

    def __call__(self, prompts: list[str], responses: list[str], batch_size: int = 8) -> torch.Tensor:
        """Raw scores of each response to its prompt."""
        return self.scores_and_features(prompts, responses, batch_size)[0]

    def normalise(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw scores shifted and scaled by the mean and std measured on the training responses."""
        return (raw - self.mean) / self.std

    def normalised(self, prompts: list[str], responses: list[str], batch_size: int = 8) -> torch.Tensor:
        """Normalised scores of each response to its prompt."""
        return self.normalise(self(prompts, responses, batch_size))


# what a loss needs of the loop: loss_fn(batch), eval_fn(), the most tokens of one step, every encoded answer
Objective = tuple[Callable, Callable[[], dict[str, float]], int, list[Example]]


@stoppable
def train_reward(base: SharedBase, data: list[dict], config: RewardConfig, run_dir: Path,
                 hooks: Hooks | None = None, resume: bool = False, warm_start: Path | None = None) -> TrainResult:
    """Train a `reward` adapter and head on pairs (dicts with prompt, chosen, rejected, optional weight
    (default 1) and system) or whole rankings (`preferences.ranking_record`), by `config.ranking_loss`. Fresh ones,
    or with `warm_start` (an earlier reward run's folder) a trainable copy of its adapter and head (its LoRA rank
    then wins over the config's)."""
    if not data:
        raise ValueError("the reward model needs at least one preference pair")
    torch.manual_seed(config.seed)
    hooks = hooks or Hooks()
    listwise = whole_rankings(data, config.ranking_loss, hooks.say)
    items = ranking_records(data) if listwise else pair_records(data)
    train_idx, eval_idx = stored_split(items, Path(run_dir) / SPLIT_FILE, config,
                                       Path(warm_start) if warm_start is not None else None)
    if warm_start is None:
        base.add_lora(ADAPTER, r=config.lora_r, alpha=config.lora_alpha)
    else:
        base.load_adapter(ADAPTER, Path(warm_start) / "adapter", trainable=True)
    head = ScalarHead(base.hidden_size, std=HEAD_INIT_STD).to(base.device)  # after the LoRA: the same draws as ever
    if warm_start is not None:
        load_heads({HEAD: head}, Path(warm_start) / "heads.safetensors")
    objective = ranking_objective if listwise else pair_objective
    loss_fn, eval_fn, tokens, answers = objective(base, head, items, train_idx, eval_idx, config)
    result = run_supervised(base=base, adapter=ADAPTER, heads={HEAD: head}, train_idx=train_idx, loss_fn=loss_fn,
                            eval_fn=eval_fn if eval_idx else None, split=prompt_split(items, eval_idx),
                            config=config, run_dir=run_dir, hooks=hooks, tokens=tokens, resume=resume)
    if result.status == "finished":
        try:
            save_statistics(base, head, answers, config, Path(run_dir), ranking_records(data))
        except Cancelled:  # stopped while scoring its answers: a resume at this last step only scores them again
            return dataclasses.replace(result, status="cancelled", artifact=None)
    return result


def save_statistics(base: SharedBase, head: ScalarHead, answers: list[Example], config: RewardConfig,
                    run_dir: Path, rankings: list[dict]) -> None:
    """Save the head with the mean and std of its scores over the distinct training `answers` (what normalises
    them later), and the labels' reach (`core.reach`: of the training `rankings`, its floor the lowest score)."""
    responses = list({tuple(ex[0]): ex for ex in answers}.values())
    scores = RewardScorer(base, ADAPTER, head).score_examples(responses, config.batch_size * 2)
    std = scores.std().item() if len(scores) > 1 else 1.0
    save_heads({HEAD: head}, run_dir / "heads.safetensors",
               meta={"mean": scores.mean().item(), "std": max(std, 1e-6), "max_length": config.max_length})
    reach = Reach.of(rankings, scores.min().item())
    if reach is not None:
        reach.save(run_dir)


def pair_objective(base: SharedBase, head: ScalarHead, pairs: list[dict], train_idx: list[int],
                   eval_idx: list[int], config: RewardConfig) -> Objective:
    """Bradley-Terry on each batch of pairs, InstructGPT-weighted."""
    encoded = encode_pairs(base.tokenizer, pairs, config.max_length)
    weights = pair_weights(pairs, train_idx, base.device)

    def pair_scores(idx: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return pair_halves(base, encoded, idx, lambda ids, mask, _labels: score(base, head, ids, mask))

    def loss_fn(idx: list[int]):
        chosen, rejected, mask = pair_scores(idx)
        loss = bradley_terry_loss(chosen, rejected, weights[idx])
        return loss, {**score_metrics(chosen.detach(), rejected.detach()), "tokens": float(mask.sum())}

    def eval_fn() -> dict[str, float]:
        chosen, rejected = over_chunks(pair_scores, eval_idx, config.batch_size)
        values = {"loss": bradley_terry_loss(chosen, rejected, weights[eval_idx]).item(),
                  **score_metrics(chosen, rejected)}
        return {f"eval_{k}": v for k, v in values.items()}

    return (loss_fn, eval_fn, pair_step_tokens(encoded, config.batch_size),
            [ex for pair in encoded for ex in pair])


def ranking_objective(base: SharedBase, head: ScalarHead, rankings: list[dict], train_idx: list[int],
                      eval_idx: list[int], config: RewardConfig) -> Objective:
    """Plackett-Luce on each batch of whole rankings; accuracy and margin over their pairs, as the pair loss's."""
    encoded = encode_rankings(base.tokenizer, rankings, config.max_length)
    weights = pair_weights(rankings, train_idx, base.device)

    def ranking_scores(idx: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        ids, mask, _ = ranking_batch(base, encoded, idx)
        places = ranking_places(rankings, idx, base.device)
        return by_ranking(score(base, head, ids, mask), places), places, mask

    def loss_fn(idx: list[int]):
        scores, places, mask = ranking_scores(idx)
        loss = plackett_luce_loss(scores, places, weights[idx])
        return loss, {**score_metrics(*ranked_pairs(scores.detach(), places)), "tokens": float(mask.sum())}

    def eval_fn() -> dict[str, float]:
        losses, better, worse = [], [], []
        for idx in chunks(eval_idx, config.batch_size):
            scores, places, _ = ranking_scores(idx)
            losses.append(plackett_luce_loss(scores, places, weights[idx]) * len(idx))
            for side, values in zip((better, worse), ranked_pairs(scores, places)):
                side.append(values)
        values = {"loss": (sum(losses) / len(eval_idx)).item(), **score_metrics(torch.cat(better), torch.cat(worse))}
        return {f"eval_{k}": v for k, v in values.items()}

    return loss_fn, eval_fn, ranking_step_tokens(encoded, config.batch_size), [ex for r in encoded for ex in r]
