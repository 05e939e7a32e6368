"""Gold checks pair a PPO run's answers with its own starting policy's (here an SFT run, not the base), drawn
with the sampling settings PPO drew the policy's answers with."""
import dataclasses


from studio.core import oversight_store as ov
from studio.core.project import Project
from studio.training import generation
from studio.training.online_configs import PPOConfig
from studio.training.engine import Hooks
from studio.training.gold import make_gold_checks
from studio.training.ppo import train_ppo
from studio.training.runs import sample
from tests.training.test_ppo import PROMPTS, add_random_sft, count_vowels


def test_gold_checks_sample_the_runs_start_as_ppo_sampled(base, tiny_model_dir, tmp_path, monkeypatch):
    project = Project.init(tmp_path / "p", model=str(tiny_model_dir))
    store = project.store
    add_random_sft(base)
    sft = store.create_run("sft", {})
    artifact = base.save_adapter("sft", project.run_dir(sft) / "adapter")
    store.update_run(sft, status="finished", artifact=project.relative_artifact(sft, artifact))
    config = PPOConfig(iterations=1, batch_size=3, minibatches=1, max_new_tokens=10, temperature=0.9,
                       checkpoint_every=100)
    run = store.create_run("ppo", {**dataclasses.asdict(config), "_init": str(sft)}, parent=sft)
    seen = []
    real = generation._generation_config
    monkeypatch.setattr(generation, "_generation_config", lambda m, t, s: seen.append(s) or real(m, t, s))
    train_ppo(base, PROMPTS[:3], count_vowels, config, project.run_dir(run),
              Hooks(on_samples=lambda step, rows: store.add_samples(run, step, rows)), init_adapter="sft")
    [ppo_sampling] = seen

    made = make_gold_checks(project, base, str(run))
    assert len(made) == 3 and len(seen) == 2
    gold_sampling = seen[1]
    fields = ("max_new_tokens", "temperature", "top_p", "do_sample")
    assert [getattr(gold_sampling, f) for f in fields] == [getattr(ppo_sampling, f) for f in fields]
    assert gold_sampling.top_p == 1.0 and gold_sampling.temperature == 0.9

    checks = {c.comparison_id: c for c in ov.gold_checks(store, run)}
    prompts = [store.comparison(c).prompt for c in made]
    starts = [store.comparison(c).response_ids[1 - checks[c].policy_position] for c in made]
    stored = [r for r in store.responses() if r.id in starts]
    assert {r.policy for r in stored} == {str(sft)}  # the run's start, not the base
    by_sft = sample(project, base, str(sft), prompts, gold_sampling)
    assert [store.comparison(c).responses[1 - checks[c].policy_position] for c in made] == by_sft
    assert sample(project, base, "base", prompts, gold_sampling) != by_sft  # the base would answer otherwise
