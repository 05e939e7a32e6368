"""Every engine's settings as plain dataclasses, with the help text the GUI shows as tooltips.

Kept free of torch so the window can build its forms without importing the engines (a 6 s import
on the GUI thread otherwise).
"""
from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, field, fields, replace
from typing import ClassVar

from studio.core.answer_length import default_answer_tokens
from studio.core.run_kinds import run_kind

MIN_STEPS = 25  # a run whose epochs are left empty gets at least this many steps, when its passes allow


def help_field(default, help: str, **kw):
    """A dataclass field whose plain-language help doubles as the GUI tooltip and CLI --help."""
    return field(default=default, metadata={"help": help, **kw})


def basic(label: str) -> dict:
    """The metadata of a setting a person decides (shown first, under `label`); the others go under "Advanced"."""
    return {"basic": True, "label": label}


PASSES, STEPS, ROUNDS = basic("Passes over the data"), basic("Steps"), basic("Rounds")
LEARNING_RATE, STAY_CLOSE = basic("Learning rate"), basic("Stay close to start")
ANSWER_LENGTH, LONGEST_EXAMPLE = basic("Answer length"), basic("Longest example")


def bf16_field(when: str):
    """Every engine's `bf16_autocast` setting; `when` names the passes it covers."""
    return help_field(None, f"Run the model's matrix products in bfloat16 {when} (attention and the "
                            "log-probabilities stay float32). Unset (half-checked) = on where it is faster: a CPU "
                            "with native bfloat16 (AMX or AVX-512 BF16) and a float32 model of hidden size 512 or "
                            "more.")


@dataclass
class SamplingConfig:
    """How answers are drawn from the model."""

    max_new_tokens: int = field(
        default=128, metadata={"help": "The longest answer, in tokens (a token is about ¾ of a word)."})
    temperature: float = field(
        default=0.8, metadata={"help": "Randomness: 0 always picks the likeliest next token; higher is more varied."})
    top_p: float = field(
        default=0.95, metadata={"help": "Sample only among the likeliest tokens holding this share of probability."})
    do_sample: bool = field(
        default=True, metadata={"help": "Draw tokens at random; off always picks the likeliest token (greedy)."})
    seed: int | None = field(
        default=None, metadata={"help": "Fix it to get the same answers again; leave empty for fresh ones each time."})

    @property
    def greedy(self) -> bool:
        return not self.do_sample or self.temperature <= 0


RANKING_LOSSES = ("auto", "pairs", "plackett_luce")


def ranking_loss_field(what: str):
    """The reward model's and DPO's `ranking_loss` setting; `what` names what learns from the ranking."""
    return help_field("auto", f"How {what} learns from a ranking of several answers. pairs: each ranking as its "
                              "pairs (best beats second, best beats third, ...), which share a weight of 1 "
                              "(InstructGPT). plackett_luce: the whole ranking at once, the likelihood that "
                              "the best answer is picked first from all of them, then the next from the rest; "
                              "tied answers each against the answers below them. Both are the same on "
                              "rankings of 2 answers. auto (the default): plackett_luce when some ranking "
                              "orders its answers in more than 2 places, else pairs. On the embedded model, "
                              "whole rankings matched or beat their pairs in 55 of 60 trials, a little more "
                              "accurate with few rankings, in 0.4-0.7x the time: one pass per answer instead "
                              "of two per pair (bench/RESULTS.md section 25).")


@dataclass
class TrainConfig:
    """Settings shared by the supervised engines (SFT, reward model, DPO, KTO)."""

    # (usual, most) passes when epochs is left empty: `epochs_for`
    AUTO_EPOCHS: ClassVar[tuple[float, float]] = (3.0, 10.0)
    epochs: float | None = help_field(None, "Passes over the training examples: the run's length follows the "
                                            "data (steps = epochs x examples / batch size). Empty = 3, or more "
                                            "for a small set (up to 10) so the run has at least 25 steps.", **PASSES)
    steps: int | None = help_field(None, "Optimizer steps to run instead of epochs (each step looks at one batch). "
                                         "Empty = set by epochs.")
    batch_size: int = help_field(4, "Examples per optimizer step. Larger is smoother but slower and uses more memory.")
    lr: float = help_field(2e-4, "Learning rate: how big each update is. LoRA tolerates 1e-4 to 5e-4.", **LEARNING_RATE)
    warmup_steps: int = help_field(5, "Steps over which the learning rate ramps up from zero, to avoid an early jolt.")
    weight_decay: float = help_field(0.0, "Pulls weights gently toward zero; 0 is fine for LoRA.")
    max_grad_norm: float = help_field(1.0, "Gradients longer than this are scaled down, which keeps updates stable.")
    lora_r: int = help_field(16, "LoRA rank: how many directions the adapter may change. 8-32 is typical.")
    lora_alpha: int = help_field(32, "LoRA scaling; the update is multiplied by alpha / r.")
    max_length: int = help_field(512, "Longest prompt + response in tokens; longer examples are cut from the left.",
                                 **LONGEST_EXAMPLE)
    eval_fraction: float = help_field(0.1, "Share of the data held out to measure generalisation (needs >= 10 examples).")
    eval_every: int | None = help_field(None, "Evaluate on the held-out split every this many steps. Empty = "
                                              "5 times per run.")
    checkpoint_every: int | None = help_field(None, "Save a resumable checkpoint every this many steps. Empty = "
                                                    "4 times per run.")
    seed: int = help_field(0, "Random seed for data order and initialisation, so runs are reproducible.")
    gradient_checkpointing: bool | None = help_field(
        None, "Recompute activations during the backward pass instead of keeping them: about 40% less memory "
              "for 20-45% more time. Unset (half-checked) = on only where one step's activations could take "
              "more than a quarter of the device's memory (a small model on a laptop's RAM runs without).")
    bf16_autocast: bool | None = bf16_field("while training and evaluating")


@dataclass
class SFTConfig(TrainConfig):
    """Settings for supervised fine-tuning on demonstrations."""

    lr: float = help_field(3e-4, "Learning rate: how big each update is. LoRA tolerates 1e-4 to 5e-4.", **LEARNING_RATE)
    epochs: float | None = help_field(None, "Passes over the demonstrations. A few demonstrations need many passes "
                                            "to be imitated; 3 suit hundreds. Steps = epochs x demonstrations / "
                                            "batch size. Empty = 3, or more for a few demonstrations (up to 10) "
                                            "so the run has at least 25 steps.", **PASSES)


@dataclass
class RewardConfig(TrainConfig):
    """Settings for training the reward model on preference pairs."""

    AUTO_EPOCHS: ClassVar[tuple[float, float]] = (2.0, 8.0)
    epochs: float | None = help_field(None, "Passes over the preference pairs; 1-2 is usual for a large set. "
                                            "Steps = epochs x pairs / batch size. Empty = 2, or more for a small "
                                            "set (up to 8) so the run has at least 25 steps: a few steps leave "
                                            "the reward model close to a coin toss.", **PASSES)
    batch_size: int = help_field(4, "Preference pairs per optimizer step (each pair is two responses to score).")
    lr: float = help_field(1e-4, "Learning rate for the adapter and the score head. LoRA tolerates 5e-5 to 3e-4.",
                           **LEARNING_RATE)
    ranking_loss: str = ranking_loss_field("the reward model")
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"ranking_loss": RANKING_LOSSES}


@dataclass
class DPOConfig(TrainConfig):
    """Settings for direct preference optimisation on preference pairs."""

    beta: float = help_field(0.1, "How strongly the policy is held near the reference (the SFT model). Lower lets "
                                  "it drift further toward the preferences; 0.1 is the usual choice.", **STAY_CLOSE)
    AUTO_EPOCHS: ClassVar[tuple[float, float]] = (2.0, 8.0)
    epochs: float | None = help_field(None, "Passes over the preference pairs. Steps = epochs x pairs / batch "
                                            "size. Empty = 2, or more for a small set (up to 8) so the run has "
                                            "at least 25 steps.", **PASSES)
    batch_size: int = help_field(4, "Preference pairs per optimizer step (each pair is two responses).")
    lr: float = help_field(5e-5, "Learning rate: how big each update is. DPO wants less than SFT: 5e-6 to 1e-4.",
                           **LEARNING_RATE)
    lora_r: int = help_field(16, "LoRA rank of a fresh adapter; a copy of the SFT adapter keeps the SFT rank.")
    ranking_loss: str = ranking_loss_field("DPO")
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"ranking_loss": RANKING_LOSSES}


@dataclass
class KTOConfig(TrainConfig):
    """Settings for KTO on answers rated good or bad one at a time (Ethayarajh et al. 2024)."""

    beta: float = help_field(0.1, "How strongly the policy is held near the reference (the SFT model). Lower lets "
                                  "it drift further toward the ratings; 0.1 is the usual choice.", **STAY_CLOSE)
    desirable_weight: float = help_field(1.0, "Weight of the answers rated good. With more bad ratings than good "
                                              "ones, raise it so that (good weight × good answers) is 1 to 4/3 "
                                              "times (bad weight × bad answers).")
    undesirable_weight: float = help_field(1.0, "Weight of the answers rated bad; lower it when bad ratings "
                                                "outnumber good ones (see the good weight).")
    steps: int = help_field(100, "Optimizer steps to run. Each step learns from one batch of rated answers.", **STEPS)
    batch_size: int = help_field(8, "Rated answers per optimizer step, at least 2: the batch also estimates how "
                                    "far the policy has drifted, from its answers paired with other prompts.")
    lr: float = help_field(5e-5, "Learning rate: how big each update is. KTO wants less than SFT: 5e-6 to 1e-4.",
                           **LEARNING_RATE)
    lora_r: int = help_field(16, "LoRA rank of a fresh adapter; a copy of the SFT adapter keeps the SFT rank.")


def resolve(path: str):
    """What a run-kind registry entry names as "package.module:name", imported when first asked for."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def config_class(kind: str) -> type:
    """The settings dataclass of run kind `kind` (`studio.core.run_kinds`)."""
    return resolve(run_kind(kind).config)


AT_LEAST_ONE = {"steps", "iterations", "batch_size", "checkpoint_every", "eval_every", "ppo_epochs", "minibatches",
                "lora_r", "lora_alpha", "max_length", "max_new_tokens", "kl_horizon", "prompts_per_pass"}
POSITIVE = {"lr", "max_grad_norm", "target_kl", "temperature", "beta", "epochs", "desirable_weight",
            "undesirable_weight"}
FRACTIONS = {"eval_fraction", "gamma", "lam", "top_p"}
NOT_NEGATIVE = {"warmup_steps", "weight_decay", "init_kl_coef", "vf_coef", "cliprange", "cliprange_value", "epsilon",
                "epsilon_high"}


def with_device_lengths(config, device: str):
    """`config` with an empty `max_new_tokens` set to `device`'s default answer length (`core.answer_length`), so
    that a policy writes answers as long as those its reward model learned from."""
    if getattr(config, "max_new_tokens", 0) is None:
        return replace(config, max_new_tokens=default_answer_tokens(device))
    return config


def epochs_for(config: TrainConfig, examples: int) -> float:
    """The passes a supervised run makes over `examples` training examples: `epochs` when set; else the config's
    usual number, raised for a small set so that the run has about `MIN_STEPS` steps, up to its most."""
    if config.epochs is not None:
        return config.epochs
    usual, most = config.AUTO_EPOCHS
    return min(most, max(usual, MIN_STEPS * config.batch_size / max(examples, 1)))


def validate(config) -> None:
    """Refuse settings an engine cannot run with, naming the field (before a run is created)."""
    for f in fields(config):
        value = getattr(config, f.name)
        if value is None:
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{f.name} must be a finite number (got {value})")
        if f.name in NOT_NEGATIVE and value < 0:
            raise ValueError(f"{f.name} must be 0 or more (got {value})")
        if f.name in AT_LEAST_ONE and value < 1:
            raise ValueError(f"{f.name} must be at least 1 (got {value})")
        zero_ok = f.name in getattr(config, "MAY_BE_ZERO", ())
        if f.name in POSITIVE and not (value >= 0 if zero_ok else value > 0):
            raise ValueError(f"{f.name} must be {'0 or more' if zero_ok else 'above 0'} (got {value})")
        choices = getattr(config, "CHOICES", {}).get(f.name)
        if choices and value not in choices:
            raise ValueError(f"{f.name} must be one of {', '.join(choices)} (got {value!r})")
        if f.name in FRACTIONS and not 0 <= value <= 1:
            raise ValueError(f"{f.name} must be between 0 and 1 (got {value})")
    if getattr(config, "uncertainty_penalty", 0.0) < 0:
        raise ValueError(f"uncertainty_penalty must be 0 or more (got {config.uncertainty_penalty})")
    if getattr(config, "minibatches", 1) > getattr(config, "batch_size", 1):
        raise ValueError("minibatches cannot exceed batch_size")
    if getattr(config, "samples_per_prompt", 2) < 2:
        raise ValueError(f"samples_per_prompt must be at least 2 (got {config.samples_per_prompt}): "
                         "each response is judged against the others to the same prompt")
    if isinstance(config, KTOConfig) and config.batch_size < 2:
        raise ValueError(f"batch_size must be at least 2 for KTO, which estimates the drift across a batch "
                         f"(got {config.batch_size})")


def config_help(cls) -> dict[str, str]:
    """{field name: help text} for a config dataclass."""
    return {f.name: f.metadata.get("help", "") for f in fields(cls)}
