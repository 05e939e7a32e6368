"""A round after an RLOO run on the tiny model: the new comparisons mix the policy's and its start's answers and lead
the queue; training the round warm-starts the reward model from the last one and goes on with the policy from the
run while the KL reference stays the run's own start."""
import dataclasses

import pytest
import torch
from peft import get_peft_model_state_dict
from safetensors.torch import load_file

from studio.core import rounds as plan
from studio.core.active import queue
from studio.core.monitor import Alarm
from studio.core.oversight_store import add_alarm
from studio.core.project import Project
from studio.training import reward as reward_engine, rloo, rounds, runs
from studio.training.configs import RewardConfig, SFTConfig
from studio.training.online_configs import RLOOConfig
from studio.training.heads import ScalarHead, load_heads
from tests.ui.seed import PROMPTS

SFT = SFTConfig(steps=2, batch_size=2, lora_r=4, lora_alpha=8, eval_every=100, checkpoint_every=100)
REWARD = RewardConfig(steps=2, batch_size=2, max_length=48, lora_r=4, lora_alpha=8, warmup_steps=1, eval_every=100,
                      checkpoint_every=100, eval_fraction=0.0)
RLOO = RLOOConfig(iterations=2, batch_size=2, samples_per_prompt=2, max_new_tokens=6, lora_r=4, lora_alpha=8,
                  checkpoint_every=100, samples_per_iteration=2)


@pytest.fixture
def trained(project, base):
    """The seeded project with finished sft (1), reward (2) and rloo (3) runs."""
    p = Project.open(project)
    for kind, config in (("sft", SFT), ("reward", REWARD), ("rloo", RLOO)):
        assert runs.train(p, base, kind, config)[1].status == "finished"
    yield p
    p.close()


def _adapter(base, name: str) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in get_peft_model_state_dict(base.peft, adapter_name=name).items()}


def _saved(project, run_id: int) -> dict[str, torch.Tensor]:
    return load_file(str(project.run_dir(run_id) / "adapter" / "adapter_model.safetensors"))


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _writers(base):
    def fake_generate(model, tokenizer, prompts, sampling, num_return_sequences, **kw):
        """Answers that say which adapter wrote them (the run's policy is loaded as run3, its start as run1)."""
        writer = base.peft.active_adapter
        return [[f"{writer} wrote answer number {j} to {p}" for j in range(num_return_sequences)] for p in prompts]
    return fake_generate


def test_a_rounds_comparisons_mix_the_policy_with_its_start_and_lead_the_queue(trained, base, monkeypatch):
    monkeypatch.setattr(rounds, "generate", _writers(base))
    before = [c.id for c in queue(trained.store, "me", "uncertain")]
    made = rounds.prepare_round(trained, base, per_prompt=4, limit=3)
    store = trained.store
    assert made.run_id == 3 and len(made.comparisons) == 3 and made.dropped == 0 and made.gold
    for cid in made.comparisons:
        c = store.comparison(cid)
        labels = [store.db.execute("SELECT policy FROM responses WHERE id = ?", [r]).fetchone()[0]
                  for r in c.response_ids]
        assert labels == ["3", "1", "3", "1"]  # two from the policy, two from its start, alternating
        assert [t.split()[0] for t in c.responses] == ["run3", "run1", "run3", "run1"]  # ... written by each
    assert [c.id for c in queue(store, "me", "uncertain")] == made.gold + made.comparisons + before
    assert plan.next_action(store, store.run(3)) == "train"


def test_a_round_samples_k_as_the_project_ranks_and_the_prompts_its_alarms_flagged_first(trained, base,
                                                                                          monkeypatch):
    store, asked, write = trained.store, [], _writers(base)

    def counting(model, tokenizer, prompts, sampling, num_return_sequences, **kw):
        asked.append((list(prompts), num_return_sequences))
        return write(model, tokenizer, prompts, sampling, num_return_sequences, **kw)

    monkeypatch.setattr(rounds, "generate", counting)
    with store.transaction():  # run 3's own samples and metrics replaced by a round that collapsed on three prompts
        store.db.execute("DELETE FROM samples WHERE run_id = 3")
        store.db.execute("DELETE FROM metrics WHERE run_id = 3")
    healthy = "A kind and careful answer that says something real about it."
    for step, pairs in enumerate([[(PROMPTS[0], healthy), (PROMPTS[1], healthy)],
                                  [(PROMPTS[2], healthy), (PROMPTS[3], "Maps.")],
                                  [(PROMPTS[4], "Jazz."), (PROMPTS[5], "Soup now.")]], 1):
        store.add_samples(3, step, [{"prompt": p, "response": a} for p, a in pairs])
    flagged = PROMPTS[3:]
    made = rounds.prepare_round(trained, base, limit=4)  # K as the project ranks: its comparisons are pairs
    assert [n for _, n in asked] == [1, 1] and made.per_prompt == 2 and made.flagged == 3
    assert sorted(asked[0][0][:3]) == sorted(flagged) and asked[0][0][3] not in flagged
    assert sorted(store.comparison(c).prompt for c in made.comparisons[:3]) == sorted(flagged)
    assert all(len(store.comparison(c).response_ids) == 2 for c in made.comparisons)
    for i in range(8):  # the project now ranks three answers more often than two
        pid = store.add_prompt(f"three answers {i}")
        cid = store.add_comparison(pid, [store.add_response(pid, f"answer {j} to {i}", "base") for j in range(3)])
        store.add_ranking(cid, [[0], [1], [2]], "me")
    again = rounds.prepare_round(trained, base, limit=1)
    assert [n for _, n in asked[2:]] == [2, 1] and again.per_prompt == 3  # two from the policy, one from its start
    assert asked[2][0] == asked[3][0] and asked[2][0][0] in flagged


def test_a_comparison_of_identical_answers_is_not_stored(trained, base, monkeypatch):
    monkeypatch.setattr(rounds, "generate", lambda model, tok, prompts, sampling, num_return_sequences, **kw:
                        [["the very same answer here"] * num_return_sequences for _ in prompts])
    made = rounds.prepare_round(trained, base, per_prompt=2, limit=2)
    assert made.comparisons == [] and made.dropped == 2


def test_training_a_round_warm_starts_the_reward_model_and_keeps_the_reference(trained, base, monkeypatch):
    monkeypatch.setattr(rounds, "generate", _writers(base))
    made = rounds.prepare_round(trained, base, per_prompt=2, limit=2)
    trained.store.add_ranking(made.comparisons[0], [[1], [0]], "me")
    initial, reached = {}, []
    supervised = reward_engine.run_supervised

    def capture_start(*, base, heads, **kw):
        initial.update(adapter=_adapter(base, reward_engine.ADAPTER), head={k: v.clone() for k, v in heads[reward_engine.HEAD].state_dict().items()})
        return supervised(base=base, heads=heads, **kw)

    reference_logprobs = rloo.reference_logprobs

    def capture_reference(base, reference, *args, **kw):
        reached.append((reference, _adapter(base, reference), _adapter(base, "policy")))
        return reference_logprobs(base, reference, *args, **kw)

    monkeypatch.setattr(reward_engine, "run_supervised", capture_start)
    monkeypatch.setattr(rloo, "reference_logprobs", capture_reference)
    reward_id, reward_result, policy_id, result = rounds.train_round(trained, base)
    assert (reward_id, reward_result.status, policy_id, result.status) == (4, "finished", 5, "finished")
    # the reward model started from run 2's adapter and head, and trained on every label (the round's included)
    assert _same(initial["adapter"], _saved(trained, 2))
    head = ScalarHead(base.hidden_size)
    load_heads({reward_engine.HEAD: head}, trained.run_dir(2) / "heads.safetensors")
    assert _same({k: v.cpu() for k, v in initial["head"].items()}, head.state_dict())
    assert not _same(_saved(trained, 4), _saved(trained, 2))
    # the KL's reference is run 3's own start (sft run 1) every round; the policy began as run 3's
    name, reference, policy = reached[0]
    assert len(reached) == RLOO.iterations and name == "sft"
    assert _same(reference, _saved(trained, 1)) and not _same(reference, _saved(trained, 3))
    assert _same(policy, _saved(trained, 3))
    run = trained.store.run(5)
    assert (run.parent, run.config["_init"], run.config["_start"], run.config["_reward"]) == (3, "1", "3", "4")
    assert trained.store.run(4).config["_warm"] == "2"
    with pytest.raises(ValueError, match="trained already"):
        rounds.check_trainable(trained, trained.store.run(3))


def test_a_round_after_an_alarm_trains_the_policy_on_the_cautious_reward(trained, base, monkeypatch):
    monkeypatch.setattr(rounds, "generate", _writers(base))
    first, _ = runs.train(trained, base, "rloo", dataclasses.replace(RLOO, uncertainty_penalty=0.0))
    add_alarm(trained.store, first, Alarm("collapse", 1, 2, "seen", "act"))
    made = rounds.prepare_round(trained, base, per_prompt=2, limit=2)
    trained.store.add_ranking(made.comparisons[0], [[1], [0]], "me")
    _, _, policy_id, result = rounds.train_round(trained, base)
    assert result.status == "finished" and trained.store.run(first).config["uncertainty_penalty"] == 0.0
    assert trained.store.run(policy_id).config["uncertainty_penalty"] == plan.CAUTIOUS_PENALTY
    assert "uncertainty_penalty" in {m["name"] for m in trained.store.metrics(policy_id)}  # it optimised the bound


def test_a_round_runs_refuse_a_start_or_warm_start_of_the_wrong_kind(trained, base):
    with pytest.raises(ValueError, match="no finished online policy"):
        runs.train(trained, base, "rloo", RLOO, start="1")
    with pytest.raises(ValueError, match="leave --init out"):
        runs.train(trained, base, "rloo", RLOO, start="3", init="1")
    with pytest.raises(ValueError, match="no finished Reward model run to warm-start from"):
        runs.train(trained, base, "reward", REWARD, warm="3")
    assert [r.id for r in trained.store.runs()] == [1, 2, 3]  # nothing was stored


@pytest.mark.parametrize("kind", ["ppo", "grpo"])
def test_every_online_engine_goes_on_from_the_run_against_its_reference(trained, base, monkeypatch, kind):
    from studio.training import group_rounds, online_configs, online_policy, ppo

    module = ppo if kind == "ppo" else group_rounds
    seen = []

    def capture(base, init_adapter, lora_r, lora_alpha, policy_start=None):
        reference = online_policy.start_policy(base, init_adapter, lora_r, lora_alpha, policy_start)
        seen.append((reference, _adapter(base, reference), _adapter(base, online_policy.POLICY)))
        return reference

    monkeypatch.setattr(module, "start_policy", capture)
    tiny = dict(iterations=1, batch_size=2, max_new_tokens=6, lora_r=4, lora_alpha=8, checkpoint_every=100)
    config = (online_configs.PPOConfig(ppo_epochs=1, minibatches=1, **tiny) if kind == "ppo"
              else online_configs.GRPOConfig(samples_per_prompt=2, **tiny))
    run_id, result = runs.train(trained, base, kind, config, start="3")
    [(reference, frozen, policy)] = seen
    assert result.status == "finished" and reference == "sft"
    assert _same(frozen, _saved(trained, 1)) and _same(policy, _saved(trained, 3))
    assert trained.store.run(run_id).config["_init"] == "1"


def test_a_stopped_round_resumes_from_the_same_start_and_reference(trained, base, monkeypatch):
    from studio.training import engine, group_rounds, online_policy

    rounds_seen = []
    stop = engine.Hooks(on_metrics=lambda step, values: rounds_seen.append(step), should_stop=lambda: bool(rounds_seen))
    run_id, result = runs.train(trained, base, "rloo", RLOO, stop, start="3")
    assert result.status == "cancelled" and result.step == 1
    seen = []

    def capture(base, init_adapter, lora_r, lora_alpha, policy_start=None):
        seen.append((init_adapter, policy_start))
        return online_policy.start_policy(base, init_adapter, lora_r, lora_alpha, policy_start)

    monkeypatch.setattr(group_rounds, "start_policy", capture)
    base.drop("sft")  # what the resume loads comes from the stored run, not from this session's adapters
    resumed, result = runs.train(trained, base, "rloo", resume=run_id)
    assert (resumed, result.status, result.step, seen) == (run_id, "finished", RLOO.iterations, [("sft", "run3")])
    assert _same(_adapter(base, "sft"), _saved(trained, 1)) and _same(_adapter(base, "run3"), _saved(trained, 3))


def test_a_ppo_round_keeps_the_critic_and_beta_of_the_run_it_goes_on_from(trained, base, monkeypatch):
    """The value head starts as the start run saved it, and the first round's beta is the one its adaptive KL
    controller ended at (not init_kl_coef again); a start of another kind (RLOO: no critic) leaves both fresh."""
    from studio.training import engine, online_configs, ppo
    from studio.training.checkpoints import checkpoint_extra

    started, real = [], ppo._start

    def capture(*args, **kw):
        made = real(*args, **kw)
        started.append(({k: v.detach().cpu().clone() for k, v in made[1].state_dict().items()}, made[3].value))
        return made

    monkeypatch.setattr(ppo, "_start", capture)
    config = online_configs.PPOConfig(iterations=2, batch_size=2, max_new_tokens=6, lora_r=4, lora_alpha=8,
                                      checkpoint_every=100, ppo_epochs=1, minibatches=1, adaptive_kl=True)
    first, result = runs.train(trained, base, "ppo", config, start="3")
    assert result.status == "finished" and started[0][1] == config.init_kl_coef  # from RLOO: fresh
    saved = load_file(str(trained.run_dir(first) / "heads.safetensors"))
    last_beta = checkpoint_extra(trained.run_dir(first))["beta"]
    assert last_beta != config.init_kl_coef
    betas = []
    second, result = runs.train(trained, base, "ppo", config, engine.Hooks(on_metrics=lambda s, v: betas.append(
        v["beta"])), start=str(first))
    head, beta = started[1]
    assert result.status == "finished"
    assert _same({f"value_head.{k}": v for k, v in head.items()}, saved)
    assert beta == betas[0] == last_beta
