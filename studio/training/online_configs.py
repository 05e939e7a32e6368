"""The online engines' settings (PPO, RLOO, GRPO): the fields they share once in `OnlineConfig`, each engine's own
in `XSettings`, with the help text the GUI shows as tooltips. Torch-free, like `configs`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from studio.core.rounds import CAUTIOUS_PENALTY
from studio.training.configs import ANSWER_LENGTH, LEARNING_RATE, ROUNDS, STAY_CLOSE, bf16_field, help_field


def _max_new_tokens_field():
    """The online engines' `max_new_tokens` setting, where they word it the same, written once."""
    return help_field(None, "Longest response (in tokens) the policy may write while "
                            "training. Empty = the default answer length of the device "
                            "(48 on a CPU, 128 on Apple MPS, 256 on CUDA), as for the "
                            "answers ranked on it.", **ANSWER_LENGTH)


def _lr_field():
    """The online engines' `lr` setting, where they word it the same, written once."""
    return help_field(1e-4, "Learning rate of the policy adapter. LoRA takes about ten times the 1e-5 "
                            "that full fine-tuning uses.", **LEARNING_RATE)


def _max_grad_norm_field():
    """The online engines' `max_grad_norm` setting, where they word it the same, written once."""
    return help_field(1.0, "Gradients longer than this are scaled down, which keeps updates "
                           "stable.")


def _prompts_per_pass_field():
    """The online engines' `prompts_per_pass` setting, where they word it the same, written once."""
    return help_field(1, "Prompts whose responses go through the model together while "
                         "learning. The round's gradients add up either way: more is a little "
                         "faster, fewer needs less memory; results are the same.")


def _missing_eos_penalty_field():
    """The online engines' `missing_eos_penalty` setting, where they word it the same, written once."""
    return help_field(None, "Added to the score of a response that never ends "
                            "within the token limit, e.g. -1.0. Empty = none; a "
                            "penalty also teaches shorter answers.")


@dataclass
class OnlineConfig:
    """The settings every online engine (PPO, RLOO, GRPO) shares, written once. They come after the engine's own in its
    form and in `asdict`: an engine's config is `XConfig(OnlineConfig, XSettings)`, and a dataclass lists the
    fields of its last base first."""

    # 1.0 since bench/RESULTS.md section 36: against 0, one round, +29 points of win rate where PPO exploited the
    # reward model, +4 and -4 on two tastes where it did not
    uncertainty_penalty: float = help_field(CAUTIOUS_PENALTY, "Optimise a cautious reward: the reward model's "
                                            "five bootstrap heads' mean score minus this many times their spread, "
                                            "so the policy gains nothing by moving where the labels say little "
                                            "(after Coste et al. 2023). 0 = the reward model's own score. Needs a "
                                            "reward model with an ensemble (4 or more rankings); without one the "
                                            "own score is used.")
    stay_in_reach: bool = help_field(True, "Score an answer past what the labels cover (shorter than every "
                                     "answer you preferred, more non-words than any of them, or a loop "
                                     "where you never ranked a loop first) no higher than the reward "
                                     "model's lowest score on its training answers, so the policy gains "
                                     "nothing by leaving them. Needs a reward model trained since the "
                                     "studio saves its reach.")
    lora_r: int = help_field(16, "LoRA rank of a fresh policy adapter (a copy of the SFT adapter keeps its own).")
    lora_alpha: int = help_field(32, "LoRA scaling of a fresh policy adapter; the update is multiplied by "
                                     "alpha / r.")
    checkpoint_every: int = help_field(5, "Save a resumable checkpoint every this many rounds.")
    samples_per_iteration: int = help_field(4, "Responses shown per round, with their scores.")
    seed: int = help_field(0, "Random seed for prompt order and sampling, so runs are reproducible.")
    bf16_autocast: bool | None = bf16_field("while sampling and learning from each round")


@dataclass
class PPOSettings:
    """PPO's own settings (`PPOConfig` adds the shared `OnlineConfig` after them)."""

    iterations: int = help_field(20, "Rounds of PPO. Each round writes responses to a batch of prompts, scores "
                                     "them and learns from the scores.", **ROUNDS)
    batch_size: int = help_field(8, "Prompts answered per round. More gives steadier updates, but each round "
                                    "takes longer.")
    max_new_tokens: int | None = _max_new_tokens_field()
    temperature: float = help_field(1.0, "Sampling temperature while training. Keep 1.0: PPO must learn from "
                                         "samples of the very policy it updates.")
    ppo_epochs: int = help_field(2, "Passes over each round's responses. More gets more out of each (slow) "
                                    "round, but moves the policy further per round; on a CPU each pass costs "
                                    "about as much as writing the round's responses.")
    minibatches: int = help_field(2, "Each round's responses are split into this many groups; one update per "
                                     "group per pass.")
    lr: float = help_field(1e-4, "Learning rate of the policy adapter and value head. LoRA takes about ten "
                                 "times the 1e-5 that full fine-tuning uses for PPO.", **LEARNING_RATE)
    max_grad_norm: float = _max_grad_norm_field()
    init_kl_coef: float = help_field(0.05, "Beta: the price, per token, of moving away from the reference (the "
                                           "SFT model). Higher keeps answers close to the SFT style; lower lets "
                                           "the reward pull harder (and risks gibberish that games it).", **STAY_CLOSE)
    adaptive_kl: bool = help_field(True, "Adjust beta automatically: raise it when the KL is above the target, "
                                         "lower it when below (never below half its start).")
    target_kl: float = help_field(6.0, "The KL the adaptive beta aims for. KL (nats per response) measures how "
                                       "far the policy's answers have drifted from the reference's; 0 = same.")
    kl_horizon: int | None = help_field(None, "How slowly beta adapts: it changes by at most about 20% over this "
                                              "many responses. Smaller reacts faster. Empty = one round's "
                                              "responses (the batch size), so that beta can hold the KL near "
                                              "its target within a run of a few dozen rounds.")
    gamma: float = help_field(1.0, "Discount: how much later rewards count for earlier tokens. 1.0 (none) is "
                                   "standard for text, where the score arrives at the end.")
    lam: float = help_field(0.95, "GAE lambda: how tokens share credit. 1.0 uses the actual final score (noisy); "
                                  "lower leans on the value head's estimates (smoother, more biased).")
    cliprange: float = help_field(0.2, "Clip range: one update may change a sampled token's probability by about "
                                       "this fraction at most (0.2 = 20%), which keeps learning stable.")
    cliprange_value: float = help_field(0.2, "Value clip: how far the value head's estimates may move in one "
                                             "update, in reward units.")
    vf_coef: float = help_field(0.1, "Weight of the value head's loss next to the policy loss. They share the "
                                     "adapter, so keep it small.")
    whiten_advantages: bool = help_field(True, "Rescale each round's advantages (how much better than expected "
                                               "each token did) to mean 0, spread 1, so steps don't depend on "
                                               "the reward's scale.")
    missing_eos_penalty: float | None = help_field(None, "Added to the (normalised) score of a response that "
                                                         "never ends within the token limit, e.g. -1.0. Empty = "
                                                         "none; a penalty also teaches shorter answers.")


@dataclass
class PPOConfig(OnlineConfig, PPOSettings):
    """Settings for PPO; defaults suit a ~135M model on a laptop CPU."""


@dataclass
class RLOOSettings:
    """RLOO's own settings (`RLOOConfig` adds the shared `OnlineConfig` after them)."""

    iterations: int = help_field(20, "Rounds of RLOO. Each round writes several responses to a batch of prompts, "
                                     "scores them and learns from the scores.", **ROUNDS)
    batch_size: int = help_field(4, "Prompts answered per round. More gives steadier updates, but each round "
                                    "takes longer.")
    samples_per_prompt: int = help_field(4, "Responses written to each prompt (k, at least 2). Each response is "
                                            "judged against the mean score of the other k - 1, so no value head "
                                            "is needed; more gives a steadier baseline.")
    max_new_tokens: int | None = _max_new_tokens_field()
    temperature: float = help_field(1.0, "Sampling temperature while training. Keep 1.0: RLOO must learn from "
                                         "samples of the very policy it updates.")
    beta: float = help_field(0.05, "The price of moving away from the reference (the SFT model), per nat of KL, "
                                   "taken off each response's score. Higher keeps answers close to the SFT "
                                   "style; lower lets the reward pull harder (and risks gibberish that games it).",
                                   **STAY_CLOSE)
    epochs: int = help_field(1, "Passes over each round's responses, one update each. 1 is plain RLOO; more gets "
                                "more out of each (slow) round, with PPO's clip keeping the later passes small.")
    cliprange: float = help_field(0.2, "Clip range of the passes after the first: one update may change a "
                                       "response's probability by about this fraction at most.")
    lr: float = _lr_field()
    max_grad_norm: float = _max_grad_norm_field()
    prompts_per_pass: int = _prompts_per_pass_field()
    missing_eos_penalty: float | None = _missing_eos_penalty_field()


@dataclass
class RLOOConfig(OnlineConfig, RLOOSettings):
    """Settings for RLOO (REINFORCE leave-one-out): PPO's goal without a value head; defaults suit a laptop CPU."""

    def trl_settings(self) -> dict[str, int | float]:
        """TRL's RLOOTrainer counts completions, not prompts (bench/trl_rloo.py: prompts x k), and optimizer
        steps, not rounds: one step per pass over a round's batch_size x k completions, `epochs` passes per
        generation (TRL's num_iterations), the later ones clipped at `cliprange` (TRL's epsilon)."""
        return {"per_device_train_batch_size": self.batch_size * self.samples_per_prompt,
                "gradient_accumulation_steps": 1, "num_iterations": self.epochs, "epsilon": self.cliprange,
                "max_steps": self.iterations * self.epochs}


@dataclass
class GRPOSettings:
    """GRPO's own settings (`GRPOConfig` adds the shared `OnlineConfig` after them), named as TRL's GRPOConfig
    names them where TRL has the setting."""

    iterations: int = help_field(20, "Rounds of GRPO. Each round writes several responses to a batch of prompts, "
                                     "scores them and learns from how each did against its group.", **ROUNDS)
    batch_size: int = help_field(4, "Prompts answered per round. More gives steadier updates, but each round "
                                    "takes longer.")
    samples_per_prompt: int = help_field(4, "Responses written to each prompt (k, at least 2; TRL's "
                                            "num_generations). Each is judged against its group: its score minus "
                                            "the group's mean (divided by the group's spread, see scale rewards).")
    max_new_tokens: int | None = _max_new_tokens_field()
    temperature: float = help_field(1.0, "Sampling temperature while training. Keep 1.0: GRPO must learn from "
                                         "samples of the very policy it updates.")
    beta: float = help_field(0.0, "Weight of the KL to the reference (the SFT model) as a loss term (k3 "
                                  "estimator, per token). 0 (TRL's default) skips the reference entirely: faster, "
                                  "but nothing holds the policy near the SFT style; DeepSeek-R1 used 0.001.",
                                  **STAY_CLOSE)
    epsilon: float = help_field(0.2, "Lower clip range: one update may lower a sampled token's probability by "
                                     "about this fraction at most.", trl="epsilon")
    epsilon_high: float | None = help_field(None, "Upper clip range: how far one update may raise a token's "
                                                  "probability. Empty = the same as epsilon; DAPO uses 0.28, "
                                                  "which leaves rare good tokens more room to grow.", trl="epsilon_high")
    loss_type: str = help_field("dapo", "How the per-token losses add up. dapo (TRL's default): the mean over "
                                        "every token of the round (no length bias); grpo: each response's mean, "
                                        "then the mean over responses (favours short good answers); dr_grpo: "
                                        "the sum over tokens / (responses x longest response), a constant.",
                                trl="loss_type")
    scale_rewards: str = help_field("group", "Divide each advantage by the spread of its group's scores (group, "
                                             "TRL's default), of the round's (batch), or not at all (none: Dr. "
                                             "GRPO, with loss type dr_grpo; no bias toward easy or hard prompts).",
                                    trl="scale_rewards")
    epochs: int = help_field(1, "Passes over each round's responses, one update each (TRL's num_iterations). 1 "
                                "is plain GRPO; more gets more out of each (slow) round, the clip keeping the "
                                "later passes small.", trl="num_iterations")
    lr: float = _lr_field()
    max_grad_norm: float = _max_grad_norm_field()
    prompts_per_pass: int = _prompts_per_pass_field()
    missing_eos_penalty: float | None = _missing_eos_penalty_field()


@dataclass
class GRPOConfig(OnlineConfig, GRPOSettings):
    """Settings for GRPO (group-relative policy optimisation, Shao et al. 2024); defaults are TRL's, with a round
    size that suits a laptop CPU."""

    MAY_BE_ZERO: ClassVar[frozenset[str]] = frozenset({"beta"})
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"loss_type": ("dapo", "grpo", "dr_grpo"),
                                                     "scale_rewards": ("group", "batch", "none")}

    def trl_settings(self) -> dict[str, int]:
        """TRL's GRPOTrainer counts completions, not prompts, and optimizer steps, not rounds: one step per pass
        over a round's batch_size x k completions, as here, is TRL's batch of all of them and `epochs` steps
        per generation."""
        return {"per_device_train_batch_size": self.batch_size * self.samples_per_prompt,
                "gradient_accumulation_steps": 1, "max_steps": self.iterations * self.epochs}

    @property
    def clip_high(self) -> float:
        """The upper clip range in force: `epsilon_high`, else `epsilon` (as TRL)."""
        return self.epsilon if self.epsilon_high is None else self.epsilon_high
