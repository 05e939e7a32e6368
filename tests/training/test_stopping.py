"""Stop inside a pass (issue 27 item 8): pressed in the middle of sampling, scoring, a reference pass, an update or
an evaluation, nothing more runs (no decoder layer, no optimizer step, no report), the step or round under way is
dropped whole (any update it applied undone), the checkpoint is the last finished one, and a resume ends where an
uninterrupted run ends. The moment is chosen by what the engine says or by the forward it is about to run."""
from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

from studio.core.rm_health import SCORES_FILE
from studio.core.run_kinds import REWARD
from studio.training import runs
from studio.training.checkpoints import checkpoint_step, has_checkpoint
from studio.training.configs import DPOConfig, KTOConfig, RewardConfig, SFTConfig
from studio.training.dpo import train_dpo
from studio.training.engine import SAVING, Hooks
from studio.training.grpo import train_grpo
from studio.training.heads import ScalarHead, load_heads
from studio.training.kto import train_kto
from studio.training.online_configs import GRPOConfig, PPOConfig, RLOOConfig
from studio.training.online_policy import POLICY
from studio.training.ppo import train_ppo
from studio.training.reward import HEAD, train_reward
from studio.training.rloo import train_rloo
from studio.training.sft import train_sft
from studio.training.stopping import decoder_layers
from studio.training.uncertainty import ENSEMBLE_FILE
from tests.training.helpers import tiny_base
from tests.training.test_held_out_size import data
from tests.training.test_ppo import PROMPTS, count_vowels


class Stop:
    """A Stop pressed when `when(self)` becomes true (asked at every message and before every forward of the
    first decoder layer), and a count of what still ran after it."""

    def __init__(self, when: Callable[[Stop], bool], adapter: str):
        self.when, self.adapter = when, adapter
        self.pressed = False
        self.steps: list[int] = []     # steps or rounds reported
        self.messages: list[str] = []
        self.heard = 0                 # messages said before the last report
        self.backward = False          # asked from the backward pass (as it enters the last decoder layer)
        self.after: Counter = Counter()  # what ran once Stop was pressed
        self.kept: list[torch.Tensor] = []  # the adapter's weights at the last report
        self.scored = 0                # answers the model-running scorer read in the round under way
        self.base = None

    def hooks(self, base) -> Hooks:
        self.base = base
        return Hooks(on_metrics=self._reported, should_stop=lambda: self.pressed, on_message=self._said)

    def _said(self, text: str) -> None:
        self.messages.append(text)
        self._ask()

    def _ask(self, backward: bool = False) -> None:
        self.backward = backward
        self.pressed = self.pressed or self.when(self)

    def _reported(self, step: int, values: dict) -> None:
        self._ran("reports")
        self.steps.append(step)
        self.scored, self.heard = 0, len(self.messages)
        self.kept = [p.detach().clone() for p in self.base.adapter_parameters(self.adapter)]

    def newest(self) -> str:
        """The newest message said since the last report ("" when none)."""
        return self.messages[-1] if len(self.messages) > self.heard else ""

    def _ran(self, what: str) -> None:
        if self.pressed:
            self.after[what] += 1

    def score(self, prompts: list[str], responses: list[str]) -> torch.Tensor:
        """`count_vowels`, after reading each answer with the model, one forward each, as a reward model would."""
        for response in responses:
            ids = self.base.tokenizer(response + ".", return_tensors="pt")
            with torch.no_grad():
                self.base.hidden_states(ids["input_ids"], ids["attention_mask"])
            self.scored += 1
            self._ask()
        return count_vowels(prompts, responses)

    @contextmanager
    def watching(self, base) -> Iterator[Stop]:
        """Count the decoder-layer forwards and optimizer steps that run after Stop; ask `when` before each
        forward (this pre-hook comes before the engine's own check, which the engine adds when it starts)."""
        self.base = base
        layers = decoder_layers(base)
        handles = [layers[0].register_forward_pre_hook(lambda module, args: self._ask()),
                   layers[-1].register_forward_hook(self._ask_in_backward)]
        handles += [layer.register_forward_hook(lambda *args: self._ran("layer forwards")) for layer in layers]
        handles.append(register_optimizer_step_post_hook(lambda *args: self._ran("optimizer steps")))
        try:
            yield self
        finally:
            for handle in handles:
                handle.remove()

    def _ask_in_backward(self, module, args, out) -> None:
        hidden = out[0] if isinstance(out, tuple) else out
        if hidden.requires_grad:
            hidden.register_hook(lambda grad: self._ask(backward=True))

    def unchanged(self) -> bool:
        """The adapter's weights are as they were at the last report."""
        return all(torch.equal(a, b) for a, b in zip(self.kept, self.base.adapter_parameters(self.adapter)))


def said(text: str, after: int) -> Callable[[Stop], bool]:
    """Stop once `after` steps or rounds are reported and the engine's newest message since holds `text`."""
    return lambda stop: len(stop.steps) >= after and text in stop.newest()


def scored(answers: int, after: int) -> Callable[[Stop], bool]:
    """Stop once `after` rounds are reported and the scorer has read `answers` answers of the next one."""
    return lambda stop: len(stop.steps) >= after and stop.scored >= answers


def forward_after(steps: int) -> Callable[[Stop], bool]:
    """Stop at the first forward once `steps` steps are reported (in the middle of the next step)."""
    return lambda stop: len(stop.steps) == steps


# -- the online engines: a Stop anywhere in round 2 of 3 -------------------------------------------------------------
ONLINE = {
    "ppo": (train_ppo, PPOConfig(iterations=3, batch_size=4, minibatches=2, ppo_epochs=2, max_new_tokens=16, lr=5e-3,
                                 checkpoint_every=100)),
    "rloo": (train_rloo, RLOOConfig(iterations=3, batch_size=4, samples_per_prompt=2, epochs=2, max_new_tokens=16,
                                    lr=5e-3, checkpoint_every=100)),
    "grpo": (train_grpo, GRPOConfig(iterations=3, batch_size=4, samples_per_prompt=2, epochs=2, beta=0.05,
                                    max_new_tokens=16, lr=5e-3, checkpoint_every=100)),
}
MOMENTS = {  # (the moment, the engine's message or scorer state that marks it)
    "sampling": lambda kind: said("sampling", after=1),
    "scoring": lambda kind: scored(2, after=1),
    "reference": lambda kind: said("under the reference model" if kind == "ppo" else "reference model, batch 2",
                                   after=1),
    "update after a step": lambda kind: said("minibatch 2 of" if kind == "ppo" else "pass 2 of", after=1),
}


def online_run(kind: str, base, run_dir, hooks: Hooks, score, resume: bool = False):
    train, config = ONLINE[kind]
    return train(base, PROMPTS, score, config, run_dir, hooks, resume=resume, init_adapter=None)


@pytest.mark.parametrize("moment", MOMENTS)
@pytest.mark.parametrize("kind", ONLINE)
def test_a_stop_in_the_middle_of_a_round_drops_it_and_resume_matches(tiny_model_dir, tmp_path, kind, moment):
    torch.set_num_threads(1)
    base = tiny_base(tiny_model_dir)
    stop = Stop(MOMENTS[moment](kind), POLICY)
    with stop.watching(base):
        result = online_run(kind, base, tmp_path / "run", stop.hooks(base), stop.score)
    assert stop.pressed and (result.status, result.step, result.artifact) == ("cancelled", 1, None)
    assert stop.after == Counter()  # no layer, no optimizer step, no report ran after Stop
    assert stop.unchanged()  # an update already applied in round 2 is undone
    assert checkpoint_step(tmp_path / "run") == 1 and stop.steps == [1] and not (tmp_path / "run" / "adapter").exists()
    if moment == "scoring":
        assert stop.scored == 2  # the scorer's third answer never ran: scoring was cut mid-way

    resumed, straight = [], []
    again = online_run(kind, tiny_base(tiny_model_dir), tmp_path / "run",
                       Hooks(on_metrics=lambda s, m: resumed.append((s, m))), count_vowels, resume=True)
    online_run(kind, tiny_base(tiny_model_dir), tmp_path / "straight",
               Hooks(on_metrics=lambda s, m: straight.append((s, m))), count_vowels)
    assert again.status == "finished" and [s for s, _ in resumed] == [2, 3]
    for (_, a), (_, b) in zip(resumed, straight[1:]):
        assert a["reward"] == b["reward"]  # the same answers: round 2 was sampled again from the same policy
        assert a["policy_loss"] == pytest.approx(b["policy_loss"], rel=1e-4, abs=1e-6)


def test_a_stop_right_after_a_checkpoint_keeps_it_as_it_is(base, tmp_path, monkeypatch):
    from studio.training import ppo

    written, save = [], ppo.save_checkpoint
    monkeypatch.setattr(ppo, "save_checkpoint", lambda run_dir, step, *args, **kwargs: (
        written.append(step), save(run_dir, step, *args, **kwargs)))
    stop = Stop(said("sampling", after=1), POLICY)
    train, config = ONLINE["ppo"]
    with stop.watching(base):
        result = train(base, PROMPTS, stop.score, dataclasses.replace(config, checkpoint_every=1), tmp_path,
                       stop.hooks(base), init_adapter=None)
    assert (result.status, result.step) == ("cancelled", 1) and written == [1]  # round 1's, not written again


# -- the supervised engines: a Stop inside a step, or inside the evaluation after its update ------------------------
SUPERVISED = {"sft": (train_sft, SFTConfig), "reward": (train_reward, RewardConfig), "dpo": (train_dpo, DPOConfig),
              "kto": (train_kto, KTOConfig)}
TINY = {"steps": 5, "batch_size": 2, "max_length": 64, "lora_r": 4, "lora_alpha": 8, "warmup_steps": 1,
        "eval_every": 4, "checkpoint_every": 100, "eval_fraction": 0.1}


def supervised_run(kind: str, base, run_dir, hooks: Hooks | None = None, resume: bool = False):
    train, config = SUPERVISED[kind]
    extra = {} if kind in ("sft", "reward") else {"init_adapter": None}
    return train(base, data(kind, 12), config(**TINY), run_dir, hooks, resume=resume, **extra)


@pytest.mark.parametrize("moment, stopped_at", [(forward_after(2), 2), (said("measuring on the held-out", 3), 3)],
                         ids=["inside step 3", "inside step 4's evaluation"])
@pytest.mark.parametrize("kind", SUPERVISED)
def test_a_stop_inside_a_step_drops_it_and_resume_matches(tiny_model_dir, tmp_path, kind, moment, stopped_at):
    torch.set_num_threads(1)
    base = tiny_base(tiny_model_dir)
    stop = Stop(moment, kind)
    with stop.watching(base):
        result = supervised_run(kind, base, tmp_path / "run", stop.hooks(base))
    assert stop.pressed and (result.status, result.step, result.artifact) == ("cancelled", stopped_at, None)
    assert stop.after == Counter() and stop.unchanged()  # step 4's update, measured when Stop came, is undone
    assert checkpoint_step(tmp_path / "run") == stopped_at and stop.steps == list(range(1, stopped_at + 1))
    assert not (tmp_path / "run" / "adapter").exists()  # a stopped run's files are its checkpoint

    fresh = tiny_base(tiny_model_dir)
    assert supervised_run(kind, fresh, tmp_path / "run", resume=True).status == "finished"
    straight = tiny_base(tiny_model_dir)
    supervised_run(kind, straight, tmp_path / "straight")
    for a, b in zip(fresh.adapter_parameters(kind), straight.adapter_parameters(kind)):
        assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("checkpointing", [False, True])
def test_a_stop_in_the_backward_pass_ends_it_at_the_next_layer(base, tmp_path, checkpointing):
    """Stop as step 3's backward enters the last layer: the layer below is never reached (its LoRA gradients stay
    unset), with or without gradient checkpointing (whose backward runs each layer's forward again)."""
    stop = Stop(lambda s: len(s.steps) == 2 and s.backward, "sft")
    with stop.watching(base):
        result = train_sft(base, data("sft", 12), SFTConfig(**TINY, gradient_checkpointing=checkpointing), tmp_path,
                           stop.hooks(base))
    assert (result.status, result.step) == ("cancelled", 2) and stop.after == Counter() and stop.unchanged()
    grads = {name: p.grad for name, p in base.peft.named_parameters() if ".sft." in name}
    assert all(g is None for name, g in grads.items() if ".layers.0." in name)
    assert all(g is not None for name, g in grads.items() if ".layers.1." in name)
    assert checkpoint_step(tmp_path) == 2


@pytest.mark.parametrize("kind", ["dpo", "kto"])
def test_a_stop_in_the_reference_pass_ends_before_any_step(base, tmp_path, kind):
    stop = Stop(forward_after(0), kind)
    with stop.watching(base):
        result = supervised_run(kind, base, tmp_path, stop.hooks(base))
    assert (result.status, result.step, result.artifact) == ("cancelled", 0, None)
    assert stop.after == Counter() and not has_checkpoint(tmp_path) and stop.steps == []


# -- a reward run's closing work: its statistics, its held-out check and its uncertainty heads ----------------------
REWARD_CONFIG = RewardConfig(steps=3, batch_size=2, max_length=64, lora_r=4, lora_alpha=8, warmup_steps=1,
                             checkpoint_every=100)


@pytest.mark.parametrize("moment, checked", [(said(SAVING, 0), False), (said("Checking the reward model", 0), True)],
                         ids=["scoring its answers' statistics", "fitting its uncertainty heads"])
def test_a_reward_run_stopped_in_its_closing_work_is_resumed_without_training_again(project, moment, checked):
    from studio.core.project import Project

    p = Project.open(project)
    base = runs.open_base(p)
    stop = Stop(moment, "reward")
    with stop.watching(base):
        run_id, result = runs.train(p, base, REWARD, REWARD_CONFIG, stop.hooks(base))
    run, run_dir = p.store.run(run_id), p.run_dir(run_id)
    assert (result.status, result.step, run.status, run.step) == ("cancelled", 3, "cancelled", 3)
    assert stop.after == Counter() and stop.steps == [1, 2, 3] and checkpoint_step(run_dir) == 3
    assert (run_dir / SCORES_FILE).exists() == checked and not (run_dir / ENSEMBLE_FILE).exists()
    with pytest.raises(ValueError, match="did not finish"):
        runs.reward_dir(p, str(run_id))

    steps = []
    runs.train(p, base, REWARD, hooks=Hooks(on_metrics=lambda s, m: steps.append(s)), resume=run_id)
    run = p.store.run(run_id)
    assert run.status == "finished" and steps == []  # nothing trained again: only the closing work ran
    assert (run_dir / SCORES_FILE).exists() and (run_dir / ENSEMBLE_FILE).exists()
    assert "mean" in load_heads({HEAD: ScalarHead(base.hidden_size)}, run_dir / "heads.safetensors")
    assert {"loss", "checked_accuracy"} <= set(run.final_metrics)  # the training figures kept beside the check
    p.close()
