"""The whole pipeline on the real embedded SmolLM2-135M: SFT, generate, rank, reward, PPO, DPO, sample, export."""
import json

import pytest

from studio.core.project import Project
from studio.training.dpo import DPOConfig
from studio.training.generation import SamplingConfig
from studio.training.ppo import PPOConfig
from studio.training.reward import RewardConfig
from studio.training.runs import export_run, generate_comparisons, open_base, sample, train
from studio.training.sft import SFTConfig

pytestmark = pytest.mark.slow

DEMOS = [("Name a colour.", "Blue."), ("Say hello.", "Hello!"), ("What is 2+2?", "4."),
         ("Name a fruit.", "An apple.")]
PROMPTS = ["Name an animal.", "Name a city.", "Name a drink.", "Name a sport."]


def test_full_pipeline_on_embedded_model(tmp_path):
    project = Project.init(tmp_path / "proj", model="embedded")
    store = project.store
    for prompt, response in DEMOS:
        store.add_demo(prompt, response)
    for prompt in PROMPTS:
        store.add_prompt(prompt)
    base = open_base(project, device="cpu")

    sft_id, sft = train(project, base, "sft", SFTConfig(steps=4, batch_size=2, max_length=96))
    assert sft.status == "finished" and sft.metrics["loss"] > 0

    made = generate_comparisons(project, base, 2, policy=f"{sft_id}",
                                sampling=SamplingConfig(max_new_tokens=12, seed=0))
    assert len(made) == len(PROMPTS)
    for comparison_id in made:  # scripted annotator: prefers the shorter answer
        texts = store.comparison(comparison_id).responses
        store.add_ranking(comparison_id, [[0], [1]] if len(texts[0]) <= len(texts[1]) else [[1], [0]])
    assert len(store.preference_pairs()) == len(PROMPTS)

    reward_id, rm = train(project, base, "reward", RewardConfig(steps=3, batch_size=2, max_length=96))
    assert rm.status == "finished" and "accuracy" in rm.metrics

    ppo_id, ppo = train(project, base, "ppo", PPOConfig(iterations=3, batch_size=2, max_new_tokens=12, ppo_epochs=2,
                                                         minibatches=1))
    assert ppo.status == "finished" and ppo.step == 3
    kls = [m["value"] for m in store.metrics(ppo_id) if m["name"] == "kl"]
    assert len(kls) == 3 and all(abs(k) < 100 for k in kls)
    assert len(store.samples(ppo_id)) >= 3
    assert store.run(ppo_id).parent == sft_id

    dpo_id, dpo = train(project, base, "dpo", DPOConfig(steps=3, batch_size=2, max_length=96))
    assert dpo.status == "finished" and "reward_accuracy" in dpo.metrics

    answers = sample(project, base, str(ppo_id), ["What is the capital of France?"],
                     SamplingConfig(max_new_tokens=12, do_sample=False))
    assert len(answers) == 1 and answers[0].strip()

    out = export_run(project, str(ppo_id), tmp_path / "adapter")
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and (out / "adapter_model.safetensors").exists()
