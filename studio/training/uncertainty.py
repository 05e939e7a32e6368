"""How sure the reward model is about each unranked comparison: a bootstrap ensemble of reward heads.

Why an ensemble of heads and not the margin alone: the margin says which answer the model prefers,
not how much the labels so far support that preference. A comparison can sit far from 1/2 only
because one lucky direction of the head says so; heads fitted on bootstrap resamples of the labels
disagree exactly there. Refitting the LoRA trunk per resample would cost one training run each,
so the heads share the trained reward trunk (its adapter, frozen): each head is the run's head
refitted on a resample of the rankings, with an L2 pull back to it, on last-token features
computed once. Five heads cost one forward pass over the answers plus a few milliseconds.
A resample draws whole rankings (all pairs of one comparison; the pairs implied by one prompt's ratings),
never single pairs: the C(K,2) pairs of a K-way ranking come from one decision and stand or fall together.
With fewer than MIN_RANKINGS rankings there is little to resample and the margin (the run's own head)
is the fallback: spread 0, ordered by how unsure its pairwise preferences are.

The order is: features of every answer; fit the heads (cached in the run folder); per comparison,
each head's scores of its K answers. From them: each head's softmax (Plackett-Luce: P(answer wins)), averaged;
and, for every pair of answers, each head's Bradley-Terry P(i beats j) = sigmoid(s_i - s_j). The spread is the
heads' disagreement on those pairs: the mutual information between a pair's outcome and the head (BALD:
entropy of the mean prediction minus the mean of the heads' entropies), summed over the C(K,2) pairs, in nats
(one ranking settles all its pairs at once, so its label tells as much as they do together). It looks at every
answer, so heads split between answers 1 and 2 are as unsure as heads split on answer 0. "Unsure": the heads
do not all pick the same winner.

The same heads watch PPO and RLOO (`round_scorer`): each round's answers are scored by every head on the
features the run's own head reads, each head's scores normalised by its own mean and std over the training
answers (saved with the heads), and their spread is the round metric `ensemble_disagreement`, which the
reward-hacking monitor (`studio.core.monitor`) raises an alarm on when it grows with the reward.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from studio.core.active import Guess, save_guesses, unscored
from studio.core.project import Project
from studio.core.ratings import training_pairs
from studio.core.reach import Reach
from studio.core.records import Comparison
from studio.core.run_kinds import REWARD
from studio.training.engine import ScoreFn, Scores
from studio.training.reward import RewardScorer
from studio.training.shared_base import SharedBase

N_HEADS = 5
MIN_RANKINGS = 4
FIT_STEPS = 200
PULL = 1e-2              # L2 pull of each refitted head towards the trained head
MARGIN_UNSURE = 0.1      # margin fallback: unsure when P(best beats the runner-up) - 1/2 is below this
ENSEMBLE_FILE = "ensemble.safetensors"
PROGRESS_BATCHES = 4     # `features` reports its progress every this many batches


def features(scorer: RewardScorer, prompts: list[str], responses: list[str], batch_size: int = 8,
             progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """Last-token hidden states of each response after its prompt, under the reward adapter (on the CPU);
    `progress(done, total)` after every few batches."""
    examples = scorer.encode(prompts, responses)
    chunk = batch_size * PROGRESS_BATCHES
    out = []
    for start in range(0, max(len(examples), 1), chunk):
        out.append(scorer.features(examples[start:start + chunk], batch_size).cpu())
        if progress and examples:
            progress(min(start + chunk, len(examples)), len(examples))
    return torch.cat(out)


def bootstrap_counts(groups: torch.Tensor, n_heads: int, generator: torch.Generator) -> torch.Tensor:
    """(n_heads, N): how many times each pair is drawn in each head's resample, when each resample draws G
    rankings with replacement (G = number of distinct `groups`: the ranking of each pair, (N,) ids 0..G-1) and
    takes all pairs of each ranking drawn."""
    n_groups = int(groups.max()) + 1
    drawn = torch.randint(n_groups, (n_heads, n_groups), generator=generator)
    counts = torch.stack([torch.bincount(row, minlength=n_groups) for row in drawn])   # (H, G)
    return counts[:, groups].float()


def fit_heads(chosen: torch.Tensor, rejected: torch.Tensor, weights: torch.Tensor, init: torch.Tensor,
              groups: torch.Tensor, n_heads: int = N_HEADS, seed: int = 0, steps: int = FIT_STEPS,
              pull: float = PULL, lr: float = 1e-2) -> torch.Tensor:
    """`n_heads` weight vectors (n_heads, D), each fitted by the weighted Bradley-Terry loss on its own
    bootstrap resample of the rankings (`groups`: each pair's ranking, see `bootstrap_counts`; features
    `chosen`, `rejected`: (N, D)), starting from and pulled towards `init` (D,). The bias cancels in every
    score difference, so a head is its weights alone."""
    generator = torch.Generator().manual_seed(seed)
    diff = chosen - rejected                                                   # (N, D)
    w = weights[None, :] * bootstrap_counts(groups, n_heads, generator)        # (H, N)
    heads = init.detach().clone().repeat(n_heads, 1).requires_grad_(True)
    optimizer = torch.optim.Adam([heads], lr=lr)
    for _ in range(steps):
        margins = heads @ diff.T                                               # (H, N)
        loss = ((-F.logsigmoid(margins) * w).sum(1) / w.sum(1)).sum()
        loss = loss + pull * ((heads - init) ** 2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return heads.detach()


def binary_entropy(p: torch.Tensor) -> torch.Tensor:
    """Entropy in nats of a two-way outcome with probability `p` (0 at p = 0 or 1)."""
    return -(torch.xlogy(p, p) + torch.xlogy(1 - p, 1 - p))


def pairwise_disagreement(scores: torch.Tensor) -> float:
    """The heads' disagreement about a comparison, from their scores (K answers, H heads): per pair of answers,
    the mutual information between its Bradley-Terry outcome and the head, H(mean_h p) - mean_h H(p), p =
    sigmoid(s_i - s_j); summed over the C(K, 2) pairs."""
    i, j = torch.triu_indices(scores.size(0), scores.size(0), offset=1)
    p = torch.sigmoid(scores[i] - scores[j])                                   # (pairs, H)
    return (binary_entropy(p.mean(1)) - binary_entropy(p).mean(1)).clamp(min=0).sum().item()


def guesses_from(heads: torch.Tensor, answer_features: list[torch.Tensor], comparison_ids: list[int],
                 run_id: int, method: str) -> list[Guess]:
    """Per comparison (features (K, D)): mean P(each answer wins) over heads, the heads' pairwise disagreement
    (`pairwise_disagreement`, the spread), and unsure = the heads do not all pick the same winner (margin
    method: the best answer beats the runner-up with P within MARGIN_UNSURE of 1/2)."""
    out = []
    for cid, feats in zip(comparison_ids, answer_features):
        scores = feats @ heads.T                                               # (K, H)
        probs = torch.softmax(scores, dim=0)
        mean = probs.mean(1)
        if method == "margin":
            best, second = mean.topk(2).values.tolist()
            unsure = best / (best + second) - 0.5 < MARGIN_UNSURE
        else:
            unsure = len(set(probs.argmax(0).tolist())) > 1
        out.append(Guess(cid, run_id, mean[0].item(), pairwise_disagreement(scores),
                         [round(p, 6) for p in mean.tolist()], unsure, method))
    return out


def ranking_groups(pairs: list) -> torch.Tensor:
    """Each pair's ranking as an id 0..G-1: its comparison, or its prompt for pairs implied by ratings."""
    keys = [("c", p.comparison_id) if p.comparison_id is not None else ("p", p.prompt) for p in pairs]
    ids = {key: i for i, key in enumerate(dict.fromkeys(keys))}
    return torch.tensor([ids[key] for key in keys])


def ensemble(scorer: RewardScorer, pairs: list, run_dir: Path, n_heads: int = N_HEADS,
             say: Callable[[str], None] = lambda _text: None) -> tuple[torch.Tensor, str]:
    """The run's heads and the method. Fitted once, on the pairs there when the run is first asked (right
    after training), and cached in the run folder: guessing new comparisons later (after each generation)
    then costs only their own forward passes, however many labels the project has. `say` tells how far it is."""
    init = scorer.head.linear.weight.detach().float().cpu()[0]
    cache = Path(run_dir) / ENSEMBLE_FILE
    if cache.exists():
        stored = load_file(str(cache))
        return stored["heads"], "bootstrap" if stored["heads"].size(0) > 1 else "margin"
    groups = ranking_groups(pairs) if pairs else torch.zeros(0, dtype=torch.long)
    if len(groups.unique()) < MIN_RANKINGS:
        return init[None], "margin"
    answers = list(dict.fromkeys((p.prompt, text) for p in pairs for text in (p.chosen, p.rejected)))
    feats = features(scorer, [prompt for prompt, _ in answers], [text for _, text in answers],
                     progress=lambda done, total: say(f"Fitting the uncertainty heads: read {done} of {total} "
                                                      f"training answers…"))
    say(f"Fitting the uncertainty heads: {n_heads} heads on {len(pairs)} pairs…")
    row = {answer: i for i, answer in enumerate(answers)}
    chosen = feats[[row[(p.prompt, p.chosen)] for p in pairs]]
    rejected = feats[[row[(p.prompt, p.rejected)] for p in pairs]]
    weights = torch.tensor([p.weight for p in pairs], dtype=torch.float)
    heads = fit_heads(chosen, rejected, weights, init, groups, n_heads)
    scores = feats @ heads.T  # each head on every training answer: its own statistics, as the run's head has
    save_file({"heads": heads.contiguous(), "mean": scores.mean(0).contiguous(),
               "std": scores.std(0).clamp(min=1e-6).contiguous()}, str(cache))
    return heads, "bootstrap"


def score_comparisons(project: Project, base: SharedBase, comparisons: list[Comparison],
                      reward: str = f"latest:{REWARD}", say: Callable[[str], None] = lambda _text: None) -> list[Guess]:
    """Guesses of reward run `reward` for `comparisons`, stored at once; `say` tells how far it is."""
    store = project.store
    run = store.resolve_run(reward)
    if run.kind != REWARD:
        raise ValueError(f"run {run.id} is a {run.kind} run, not a reward model")
    run_dir = project.run_dir(run.id)
    scorer = RewardScorer.load(base, run_dir)
    heads, method = ensemble(scorer, training_pairs(store), run_dir, say=say)
    feats = features(scorer, [c.prompt for c in comparisons for _ in c.responses],
                     [r for c in comparisons for r in c.responses],
                     progress=lambda done, total: say(f"Guessing {len(comparisons)} unranked comparisons: read "
                                                      f"{done} of {total} answers…"))
    split = list(torch.split(feats, [len(c.responses) for c in comparisons])) if comparisons else []
    found = guesses_from(heads, split, [c.id for c in comparisons], run.id, method)
    save_guesses(store, run.id, found)
    return found


def score_unranked(project: Project, base: SharedBase, reward: str = f"latest:{REWARD}") -> int:
    """Guess every unranked comparison reward run `reward` has not guessed yet; returns how many."""
    run = project.store.resolve_run(reward)
    todo = unscored(project.store, run.id)
    return len(score_comparisons(project, base, todo, str(run.id))) if todo else 0


# -- the ensemble during PPO and RLOO: does the policy move where the reward models disagree? ----------------------
@dataclass(frozen=True)
class Ensemble:
    """A reward run's bootstrap heads (H, D), and each head's mean and std (H,) over the training answers."""

    heads: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor

    def normalised(self, features: torch.Tensor) -> torch.Tensor:
        """(N, H): each head's score of each answer (features (N, D)) minus the head's mean, over its std, as the
        run's own head is normalised."""
        return (features @ self.heads.to(features).T - self.mean.to(features)) / self.std.to(features)

    def disagreement(self, features: torch.Tensor) -> float:
        """Mean over answers (features (N, D)) of the standard deviation over heads (population: divided by H)
        of their normalised scores. Heads that agree up to scale and offset give 0."""
        return self.normalised(features).std(dim=1, unbiased=False).mean().item()

    def lower_bound(self, features: torch.Tensor, penalty: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Per answer, the heads' mean normalised score minus `penalty` times their standard deviation (population),
        and that penalty term: a lower confidence bound in the score's own units. Coste et al. 2023's
        uncertainty-weighted optimisation takes off a multiple of the variance instead; the std keeps `penalty`
        readable as "standard deviations" whatever the scale."""
        scores = self.normalised(features)
        term = penalty * scores.std(dim=1, unbiased=False)
        return scores.mean(dim=1) - term, term


def load_ensemble(run_dir: Path) -> Ensemble | None:
    """The ensemble cached in a reward run's folder; None without one (no file, the margin's single head, or a
    file written before the heads' statistics were saved: retraining the reward model writes a new one)."""
    cache = Path(run_dir) / ENSEMBLE_FILE
    stored = load_file(str(cache)) if cache.exists() else {}
    if "std" not in stored or stored["heads"].size(0) < 2:
        return None
    return Ensemble(stored["heads"], stored["mean"], stored["std"])


@dataclass(frozen=True)
class OnlineReward:
    """The reward model an online engine maximises: its scorer, its ensemble when the reward run fitted one (whose
    disagreement each round reports), and the labels' reach when the run saved one (`core.reach`)."""

    scorer: RewardScorer
    ensemble: Ensemble | None
    reach: Reach | None = None

    @classmethod
    def load(cls, base: SharedBase, run_dir: Path) -> OnlineReward:
        return cls(RewardScorer.load(base, run_dir), load_ensemble(run_dir), Reach.load(run_dir))

    def score_fn(self, normalised: bool, penalty: float = 0.0, in_reach: bool = False) -> ScoreFn:
        """The round's score function (`round_scorer`), raw or normalised by the training statistics, with
        `penalty` > 0 the ensemble's lower bound, and with `in_reach` answers past the labels' reach at its floor."""
        return round_scorer(self.scorer, self.ensemble, normalised, penalty, self.reach if in_reach else None)

    @property
    def norm(self) -> tuple[float, float]:
        """(mean, std) of the reward model's scores on its training pairs."""
        return self.scorer.mean, self.scorer.std


def round_scorer(scorer: RewardScorer, ensemble: Ensemble | None, normalised: bool, penalty: float = 0.0,
                 reach: Reach | None = None) -> ScoreFn:
    """The score function of an online run on this reward model, called on every round's fresh answers: its scores
    (raw, or normalised by the training statistics) and, with an ensemble, the round metric `ensemble_disagreement`,
    read off the same features as the scores (the heads add a matrix product, not a forward pass).

    With `penalty` c > 0 and an ensemble the score is the ensemble's lower bound instead, mean - c * std of the heads'
    normalised scores (`Ensemble.lower_bound`), in the scorer's units (raw: mapped back through the run's mean and
    std, so that the engine's own normalisation gives mean - c * std), and the mean penalty term c * std is the round
    metric `uncertainty_penalty` (the round's reward and reward_raw then report the bound). c = 0, or no ensemble,
    scores with the run's own head as before. With a `reach`, an answer past it scores no more than the reach's
    floor (in the same units), and the share of such answers is the round metric `outside_reach`."""
    def score(prompts: list[str], responses: list[str]) -> Scores:
        raw, feats = scorer.scores_and_features(prompts, responses)
        values, metrics = scorer.normalise(raw) if normalised else raw, {}
        if ensemble is not None:
            metrics["ensemble_disagreement"] = ensemble.disagreement(feats)
            if penalty > 0:
                bound, term = ensemble.lower_bound(feats, penalty)
                values = bound if normalised else scorer.mean + scorer.std * bound
                metrics["uncertainty_penalty"] = term.mean().item()
        if reach is not None:
            floor = (reach.floor - scorer.mean) / scorer.std if normalised else reach.floor
            past = torch.tensor([reach.outside(r) is not None for r in responses], device=values.device)
            values = torch.where(past, values.clamp(max=floor), values)
            metrics["outside_reach"] = past.float().mean().item()
        return Scores(values, metrics)

    return score
