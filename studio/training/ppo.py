"""PPO from a score: the RL step of InstructGPT, one file read top to bottom in the order it runs (CleanRL's shape).

Each iteration: sample responses from the policy (rollout), score them, turn each score into per-token
rewards with a KL penalty toward the reference, credit tokens with GAE, then a few epochs of clipped PPO
updates over minibatches, and report. The small maths lives in `ppo_losses`.

Everything shares ONE base model (docs/ARCHITECTURE.md):
- policy: LoRA adapter "policy", a trainable copy of `init_adapter` (normally "sft"), else a fresh LoRA;
- reference: `init_adapter` switched on (or every adapter off when there is none), never a second copy;
- value function: a small `ScalarHead` on the policy's last hidden state. The trunk is shared (like TRL's
  former `AutoModelForCausalLMWithValueHead`), so one forward gives both logits and values; the price is
  that the value loss also nudges the policy adapter, which `vf_coef` keeps small.

Scores are normalised by `score_norm`, the reward model's mean and std over its training responses; without
one, by the first rollout's (before any update; kept in the checkpoint). `missing_eos_penalty` is added after
that. Round i always samples with seed (seed, i), so a resumed run repeats the rounds an uninterrupted one
would have run. Stop takes effect within one layer's work anywhere in a round (sampling, scoring, log-probs,
updates: `stopping.stops_inside`); the round is then dropped whole, its updates undone, before the final
checkpoint, so it is run again whole on resume and resumed == uninterrupted holds after Stop too.
The adaptive KL controller's horizon defaults to one round's responses, so beta can move by up to 20% a round
and hold the KL near its target within a short run.

Metrics per round: reward (mean normalised score, penalty included), reward_raw, kl (mean over responses
of the summed log p - log p_ref, in nats), beta, policy_loss, value_loss, entropy, clip_frac, approx_kl
(k3 estimate of KL(old || new) per token: how far the round's updates moved the policy), logprob_mismatch
(nats per token between the sampler's log-probs and the scoring pass's, `sampler_logprobs`), grad_norm,
response_length, eos_fraction, distinct_2 and reward_length_corr (for the hacking monitor, `text_stats`),
returns, value, samples_per_s, iteration_s, and any round metric the score function returns with its scores
(`engine.Scores`: a reward run with an ensemble adds ensemble_disagreement).
"""
from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file

from studio.core.text_stats import round_stats
from studio.training.checkpoints import (checkpoint_extra, has_checkpoint, load_checkpoint, save_checkpoint,
                                        trainable_parameters)
from studio.training.chosen_logprobs import response_logprobs
from studio.training.configs import with_device_lengths
from studio.training.online_configs import PPOConfig
from studio.training.engine import (Diverged, Hooks, ScoreFn, TrainResult, batch_for_step, check_finite, end_run,
                                    heap_trimmer, score_round, stoppable, wants_bf16)
from studio.training.generation import generate_tokens
from studio.training.online_policy import POLICY, ended_with_eos, rollout_sampling, sampling_progress, start_policy
from studio.training.precision import on_bf16_weights
from studio.training.ppo_losses import (AdaptiveKLController, FixedKLController, gae, kl_k1, kl_penalty_rewards,
                                        masked_mean, masked_whiten, policy_loss, value_loss)
from studio.training.sampler_logprobs import mismatch, recording
from studio.training.heads import ScalarHead, load_heads, save_heads
from studio.training.shared_base import SharedBase
from studio.training.stopping import Cancelled, all_or_nothing
from studio.training.term_rewards import TermReward


@dataclass
class Rollout:
    """One round of sampled responses and everything PPO needs about them (response tensors are (B, R))."""

    ids: torch.Tensor          # (B, Q + R) left-padded prompt, then response padded after its first EOS
    attention: torch.Tensor    # (B, Q + R)
    prompt_width: int          # Q
    mask: torch.Tensor         # 1.0 on response tokens up to and including the first EOS
    ended: torch.Tensor        # bool (B,): the response produced an EOS
    texts: list[str]
    logprobs: torch.Tensor
    values: torch.Tensor
    ref_logprobs: torch.Tensor
    logprob_mismatch: float    # nats per token between the sampler's log-probs and `logprobs` (`sampler_logprobs`)


def kl_horizon(config: PPOConfig) -> int:
    """Responses over which the adaptive beta may change by about 20%: the setting, else one round's. Over the
    whole run's size, beta could move 20% in all and the KL of a 20-round run reached 2.3x its target
    (bench/RESULTS.md section 21)."""
    return config.kl_horizon or config.batch_size


def forward(base: SharedBase, head: ScalarHead | None, ids: torch.Tensor, attention: torch.Tensor,
            prompt_width: int, temperature: float, mask: torch.Tensor | None = None, entropy: bool = True
            ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Log-probs of the response tokens, the value head's estimates (when given a head) and the entropies
    (None unless `entropy`).

    Log-probs and entropies are computed where `mask` (B, R) is non-zero (everywhere when None), 0 elsewhere."""
    positions = (attention.cumsum(1) - 1).clamp(min=0)  # as `generate` numbers left-padded rows
    # the last token predicts nothing: by causality the other positions do not need it
    hidden = base.hidden_states(ids[:, :-1], attention[:, :-1], positions[:, :-1])[:, prompt_width - 1:]
    values = head(hidden.float()) if head is not None else None
    logprobs, entropies = response_logprobs(base.lm_logits, hidden, ids[:, prompt_width:], mask, temperature,
                                            base.plain_head, entropy)
    return logprobs, values, entropies


@torch.no_grad()
def rollout(base: SharedBase, head: ScalarHead, prompts: list[str], reference: str | None, config: PPOConfig,
            seed: int, hooks: Hooks | None = None, iteration: int = 1) -> Rollout:
    """Sample one response per prompt from the policy, then score its tokens with the policy and the reference.

    On a float32 model the policy's log-probs and values come from the hidden states `generate` computed
    (equal to a separate forward's within float rounding, which a test checks), saving that forward. Under
    `bf16_autocast` sampling decodes on bf16 weights (`SharedBase.bf16_decoding`) and both scoring passes run
    in the update's precision, so its first ratio is 1."""
    hooks = hooks or Hooks()
    sampling = rollout_sampling(config, seed)
    bf16 = wants_bf16(config.bf16_autocast, base)
    # bf16 rounds cached and full passes apart
    reuse = next(base.base.parameters()).dtype == torch.float32 and not bf16
    with base.use(POLICY) as model:
        with base.bf16_decoding(bf16), recording(base, config.temperature) as sampler:
            batch = generate_tokens(model, base.tokenizer, prompts, sampling,
                                    sampling_progress(hooks, iteration, len(prompts), config.max_new_tokens),
                                    keep_hidden=reuse)
        hooks.say(f"Round {iteration}: log-probs and values of the answers under the policy…")
        width, mask = batch.query_ids.size(1), batch.response_mask.float()
        ids = torch.cat([batch.query_ids, batch.response_ids], 1)
        attention = torch.cat([batch.query_mask, torch.ones_like(batch.response_ids)], 1)
        if batch.hidden is not None:
            logprobs, _ = response_logprobs(base.lm_logits, batch.hidden, batch.response_ids, mask,
                                            config.temperature)
            values = head(batch.hidden.float())
        else:
            with base.bf16_trunk(bf16):
                logprobs, values, _ = forward(base, head, ids, attention, width, config.temperature, mask,
                                              entropy=False)
    hooks.say(f"Round {iteration}: log-probs of the answers under the reference model…")
    with base.use(reference), base.bf16_trunk(bf16):
        ref_logprobs, _, _ = forward(base, None, ids, attention, width, config.temperature, mask, entropy=False)
    ended = ended_with_eos(base, batch)
    gap = mismatch(sampler.logprobs(batch.response_ids, mask), logprobs, mask)
    return Rollout(ids, attention, width, mask, ended, batch.texts, logprobs, values, ref_logprobs, gap)


def ppo_update(base: SharedBase, head: ScalarHead, roll: Rollout, advantages: torch.Tensor, returns: torch.Tensor,
               optimizer: torch.optim.Optimizer, config: PPOConfig, hooks: Hooks, iteration: int, seed: int
               ) -> dict[str, float]:
    """`ppo_epochs` passes of clipped PPO over shuffled minibatches; their mean stats."""
    params = optimizer.param_groups[0]["params"]
    stats: dict[str, list[float]] = defaultdict(list)
    shuffle = torch.Generator().manual_seed(seed)
    trim = heap_trimmer(base.device)
    with base.use(POLICY), base.bf16_trunk(wants_bf16(config.bf16_autocast, base)):
        base.model.train()
        for epoch in range(config.ppo_epochs):
            minibatches = torch.randperm(roll.ids.size(0), generator=shuffle).chunk(config.minibatches)
            for i, mb in enumerate(minibatches):
                hooks.say(f"Round {iteration}: updating the policy, epoch {epoch + 1} of {config.ppo_epochs}, "
                          f"minibatch {i + 1} of {len(minibatches)}…")
                mask = roll.mask[mb]
                logprobs, values, entropies = forward(base, head, roll.ids[mb], roll.attention[mb],
                                                      roll.prompt_width, config.temperature, mask)
                pg_loss, clip_frac, approx_kl = policy_loss(logprobs, roll.logprobs[mb], advantages[mb], mask,
                                                            config.cliprange)
                vf_loss = value_loss(values, roll.values[mb], returns[mb], mask, config.cliprange_value)
                loss = pg_loss + config.vf_coef * vf_loss
                check_finite(loss, iteration)
                trim()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm).item()
                if not math.isfinite(grad_norm):
                    raise Diverged(f"gradient became {grad_norm} at iteration {iteration}; stopped, "
                                   "keeping the last good checkpoint")
                optimizer.step()
                for name, value in [("policy_loss", pg_loss.item()), ("value_loss", vf_loss.item()),
                                    ("clip_frac", clip_frac.item()), ("approx_kl", approx_kl.item()),
                                    ("entropy", masked_mean(entropies, mask).item()),
                                    ("grad_norm", grad_norm)]:
                    stats[name].append(value)
        base.model.eval()
    trim()
    return {name: sum(values) / len(values) for name, values in stats.items()}


def scored_rollout(base: SharedBase, head: ScalarHead, prompts: list[str], reference: str | None, score_fn: ScoreFn,
                   config: PPOConfig, seed: int, hooks: Hooks, iteration: int
                   ) -> tuple[Rollout, torch.Tensor, dict[str, float]]:
    """The round's rollout, its raw scores and the scorer's round metrics (scored in the passes' precision)."""
    roll = rollout(base, head, prompts, reference, config, seed, hooks, iteration)
    hooks.say(f"Round {iteration}: scoring the {len(prompts)} answers with the reward model…")
    with base.bf16_trunk(wants_bf16(config.bf16_autocast, base)):
        raw, scorer_metrics = score_round(score_fn, prompts, roll.texts, base.device, iteration)
    return roll, raw, scorer_metrics


def _check_inputs(prompts: list[str], config: PPOConfig) -> None:
    """Refuse a run that could not sample: no prompts, or a temperature that is not above 0."""
    if not prompts:
        raise ValueError("PPO needs at least one prompt")
    if config.temperature <= 0:
        raise ValueError("PPO samples from the policy: temperature must be above 0")


def _start(base: SharedBase, init_adapter: str | None, config: PPOConfig, policy_start: str | None = None,
           start_dir: Path | None = None
           ) -> tuple[str | None, ScalarHead, torch.optim.Optimizer, AdaptiveKLController | FixedKLController]:
    """The reference adapter, the value head, the optimizer over the policy adapter and the head, and the KL
    controller that sets beta; going on from PPO run folder `start_dir`, its value head and last adaptive beta."""
    torch.manual_seed(config.seed)
    reference = start_policy(base, init_adapter, config.lora_r, config.lora_alpha, policy_start)
    head = ScalarHead(base.hidden_size, std=1e-3).to(base.device)
    # no weight decay: it would pull the copied SFT adapter toward the bare base, not toward the reference
    optimizer = torch.optim.AdamW(trainable_parameters(base, [POLICY], {"value_head": head}), lr=config.lr, eps=1e-5,
                                  weight_decay=0.0)
    kl_ctl = (AdaptiveKLController(config.init_kl_coef, config.target_kl, kl_horizon(config))
              if config.adaptive_kl else FixedKLController(config.init_kl_coef))
    if start_dir is not None:
        _go_on(Path(start_dir), head, kl_ctl if config.adaptive_kl else None)
    return reference, head, optimizer, kl_ctl


def _go_on(start_dir: Path, head: ScalarHead, kl_ctl: AdaptiveKLController | None) -> None:
    """Keep the critic and beta of the PPO run a round goes on from: its saved value head and the beta its adaptive
    controller ended at (`kl_ctl`; None keeps a fixed beta). A start of another kind has no value head: both fresh."""
    heads = start_dir / "heads.safetensors"
    if not heads.exists() or not any(k.startswith("value_head.") for k in load_file(str(heads))):
        return
    load_heads({"value_head": head}, heads)
    beta = checkpoint_extra(start_dir).get("beta")
    if kl_ctl is not None and beta is not None:
        kl_ctl.value = beta


def _resume(run_dir: Path, base: SharedBase, heads: dict[str, ScalarHead], optimizer: torch.optim.Optimizer,
            kl_ctl: AdaptiveKLController | FixedKLController, norm: list[float] | None
            ) -> tuple[int, list[float] | None]:
    """(the round to start from, the score statistics) from the run's checkpoint, which also sets the policy,
    the heads, the optimizer and beta; (0, `norm`) when there is none."""
    if not has_checkpoint(run_dir):
        return 0, norm
    iteration, extra = load_checkpoint(run_dir, base, [POLICY], heads, optimizer)
    kl_ctl.value = extra["beta"]
    return iteration, extra.get("score_norm")


def normalised_scores(raw: torch.Tensor, norm: list[float] | None, roll: Rollout, config: PPOConfig,
                      normalise: bool, hooks: Hooks, round_no: int) -> tuple[torch.Tensor, list[float] | None]:
    """The round's scores, normalised (by the first round's when no statistics were given) and with the
    missing-EOS penalty added; and the (mean, std) used, to keep for the next rounds."""
    if normalise and norm is None:
        std = raw.std().item() if raw.numel() > 1 else 0.0
        norm = [raw.mean().item(), std if std > 1e-6 else 1.0]
        hooks.say(f"Round {round_no}: normalising every round's scores by this first round's "
                  f"(mean {norm[0]:.3g}, std {norm[1]:.3g})…")
    scores = (raw - norm[0]) / norm[1] if normalise else raw
    if config.missing_eos_penalty is not None:
        scores = scores + config.missing_eos_penalty * (~roll.ended).float()
    return scores, norm


def advantages_of(scores: torch.Tensor, roll: Rollout, beta: float, config: PPOConfig
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(summed KL per response, advantages, returns): per-token rewards are -beta * KL on every token and the
    score on the last one, credited by GAE."""
    kl = (kl_k1(roll.logprobs, roll.ref_logprobs) * roll.mask).sum(1)
    rewards = kl_penalty_rewards(scores, roll.logprobs, roll.ref_logprobs, roll.mask, beta)
    advantages, returns = gae(rewards, roll.values, roll.mask, config.gamma, config.lam)
    if config.whiten_advantages:
        advantages = masked_whiten(advantages, roll.mask)
    return kl, advantages, returns


def round_metrics(roll: Rollout, raw: torch.Tensor, scores: torch.Tensor, kl: torch.Tensor, beta: float,
                  returns: torch.Tensor, stats: dict[str, float], scorer_metrics: dict[str, float],
                  elapsed: float) -> dict[str, float]:
    """The round's metrics (the module docstring lists them)."""
    return {"reward": scores.mean().item(), "reward_raw": raw.mean().item(), "kl": kl.mean().item(),
            "beta": beta, **stats, "response_length": roll.mask.sum(1).mean().item(),
            "eos_fraction": roll.ended.float().mean().item(), "logprob_mismatch": roll.logprob_mismatch,
            **round_stats(roll.texts, scores.tolist()), **scorer_metrics,
            "returns": masked_mean(returns, roll.mask).item(),
            "value": masked_mean(roll.values, roll.mask).item(),
            "samples_per_s": len(roll.texts) / elapsed, "iteration_s": elapsed}


def report_round(hooks: Hooks, iteration: int, metrics: dict[str, float], prompts: list[str], roll: Rollout,
                 scores: torch.Tensor, config: PPOConfig) -> None:
    """Send the round's metrics, its first samples and the progress to the hooks."""
    hooks.metrics(iteration, metrics)
    hooks.samples(iteration, [{"prompt": prompt, "response": text, "reward": score}
                              for prompt, text, score in zip(prompts, roll.texts, scores.tolist())
                              ][:config.samples_per_iteration])
    hooks.progress(iteration, config.iterations)


@stoppable
@on_bf16_weights
def train_ppo(base: SharedBase, prompts: list[str], score_fn: ScoreFn, config: PPOConfig, run_dir: Path,
              hooks: Hooks | None = None, resume: bool = False, init_adapter: str | None = "sft",
              normalise_scores: bool = True, score_norm: tuple[float, float] | None = None,
              policy_start: str | None = None, start_dir: Path | None = None) -> TrainResult:
    """Train adapter "policy" so that `score_fn(prompts, responses)` (one number per response) goes up.

    `score_norm` (mean, std) normalises the raw scores when given (a reward model's saved statistics); `start_dir`
    (with `policy_start`, a round) is the folder of the run it goes on from, whose critic and beta it keeps."""
    _check_inputs(prompts, config)
    hooks, run_dir = hooks or Hooks(), Path(run_dir)
    config = with_device_lengths(config, str(base.device))  # an empty length: the device's default
    reference, head, optimizer, kl_ctl = _start(base, init_adapter, config, policy_start, start_dir)
    heads = {"value_head": head}
    norm = list(score_norm) if score_norm is not None else None  # (mean, std) of raw scores
    iteration, norm = _resume(run_dir, base, heads, optimizer, kl_ctl, norm) if resume else (0, norm)

    def checkpoint() -> None:
        save_checkpoint(run_dir, iteration, base, [POLICY], heads, optimizer,
                        extra={"beta": kl_ctl.value, "score_norm": norm})

    def save() -> Path:
        save_heads(heads, run_dir / "heads.safetensors", meta={"value_head": "PPO value head on the policy adapter"})
        return base.save_adapter(POLICY, run_dir / "adapter")

    status, last = "finished", {}
    try:
        while iteration < config.iterations:
            if hooks.stop_requested():
                status = "cancelled"
                break
            t0 = time.perf_counter()
            seed = config.seed * 1_000_003 + iteration  # a resumed round samples what it would have
            idx = batch_for_step(list(range(len(prompts))), iteration, config.batch_size, config.seed)
            asked = [prompts[i] for i in idx]
            try:  # a Stop mid-round drops the round whole (its updates undone): a resume runs it again
                roll, raw, scorer_metrics = scored_rollout(base, head, asked, reference, score_fn, config, seed,
                                                           hooks, iteration + 1)
                scores, round_norm = normalised_scores(raw, norm, roll, config, normalise_scores, hooks,
                                                       iteration + 1)
                hooks.say(f"Round {iteration + 1}: advantages (KL penalty, GAE)…")
                beta = kl_ctl.value
                kl, advantages, returns = advantages_of(scores, roll, beta, config)
                with all_or_nothing(optimizer):
                    stats = ppo_update(base, head, roll, advantages, returns, optimizer, config, hooks,
                                       iteration + 1, seed)
            except Cancelled:
                status = "cancelled"
                break
            kl_ctl.update(kl.mean().item(), len(idx))
            iteration, norm = iteration + 1, round_norm
            last = round_metrics(roll, raw, scores, kl, beta, returns, stats, scorer_metrics,
                                 time.perf_counter() - t0)
            report_round(hooks, iteration, last, asked, roll, scores, config)
            if iteration % config.checkpoint_every == 0 and iteration < config.iterations:
                hooks.say(f"Round {iteration}: saving a checkpoint…")
                checkpoint()
    except Diverged as exc:
        return TrainResult("diverged", iteration, last, None, str(exc))
    finally:
        base.model.eval()
    return end_run(run_dir, TrainResult(status, iteration, last), hooks, checkpoint, save)


def train_ppo_online(base: SharedBase, prompts: list[str], config: PPOConfig, run_dir: Path, hooks: Hooks | None = None,
                     *, resume: bool = False, init_adapter: str | None, reward: TermReward,
                     policy_start: str | None = None, start_dir: Path | None = None) -> TrainResult:
    """`train_ppo` in the run-kind registry's uniform call; PPO normalises the raw scores itself, with the reward
    model's training statistics (a reward of other terms comes in its own units: `TermReward.norm` is (0, 1))."""
    score = reward.score_fn(normalised=False, penalty=config.uncertainty_penalty, in_reach=config.stay_in_reach)
    return train_ppo(base, prompts, score, config, run_dir, hooks, resume=resume,
                     init_adapter=init_adapter, score_norm=reward.norm, policy_start=policy_start,
                     start_dir=start_dir)
