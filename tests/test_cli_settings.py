"""`train --set KEY=VALUE`: any config field, checked by name and converted to the field's type."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pytest

from studio.cli import build_parser
from studio.cli.train import apply_settings


@dataclass
class Config:
    steps: int = field(default=10, metadata={"help": "steps"})
    lr: float = 1e-4
    adaptive_kl: bool = True
    missing_eos_penalty: float | None = None


def test_values_take_the_field_type():
    config = Config()
    apply_settings(config, ["steps=3", " lr = 2e-3 ", "adaptive-kl=false", "missing_eos_penalty=-1.5"])
    assert config == Config(steps=3, lr=2e-3, adaptive_kl=False, missing_eos_penalty=-1.5)
    apply_settings(config, ["missing_eos_penalty=none", "adaptive_kl=yes"])
    assert config.missing_eos_penalty is None and config.adaptive_kl is True


@pytest.mark.parametrize("setting, message", [
    ("stepz=3", "unknown setting 'stepz': choose one of steps, lr, adaptive_kl, missing_eos_penalty"),
    ("steps", "--set takes KEY=VALUE, got 'steps'"),
    ("=3", "--set takes KEY=VALUE, got '=3'"),
    ("steps=2.5", "setting steps takes a whole number, got '2.5'"),
    ("lr=fast", "setting lr takes a number, got 'fast'"),
    ("adaptive_kl=maybe", "setting adaptive_kl takes true or false, got 'maybe'"),
    ("missing_eos_penalty=", "setting missing_eos_penalty takes a number or none, got ''"),
])
def test_bad_settings_are_refused_clearly(setting, message):
    with pytest.raises(ValueError) as info:
        apply_settings(Config(), [setting])
    assert str(info.value) == message


def test_train_accepts_repeated_set():
    args = build_parser().parse_args(["train", "ppo", "proj", "--set", "checkpoint_every=1", "--set", "seed=3"])
    assert args.set == ["checkpoint_every=1", "seed=3"]
    assert build_parser().parse_args(["train", "sft", "proj"]).set == []


@pytest.mark.parametrize("kind", ["kto", "ppo"])
def test_train_help_lists_every_setting_with_its_help(capsys, kind):
    from studio.training.configs import config_class

    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", kind, "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    for f in dataclasses.fields(config_class(kind)):
        assert f"{f.name} (default {f.default})" in shown and " ".join(f.metadata["help"].split()) in shown, f.name
