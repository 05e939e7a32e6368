"""PPO and RLOO write answers as long as the device's default answer length, unless a length is set."""
from studio.core import answer_length
from studio.core.project import Project
from studio.training.configs import DPOConfig, RewardConfig, with_device_lengths
from studio.training.online_configs import PPOConfig, RLOOConfig
from studio.training.runs import train


def test_an_empty_length_is_the_devices_answer_length_and_a_set_one_stays():
    assert PPOConfig().max_new_tokens is None and RLOOConfig().max_new_tokens is None
    assert with_device_lengths(PPOConfig(), "cpu").max_new_tokens == 48
    assert with_device_lengths(RLOOConfig(), "cuda:0").max_new_tokens == 256
    assert with_device_lengths(PPOConfig(max_new_tokens=20), "cuda").max_new_tokens == 20
    assert with_device_lengths(DPOConfig(), "cpu") == DPOConfig()  # no answers written: unchanged


def test_a_ppo_run_stores_and_uses_the_length_it_ran_with(tmp_path, base, monkeypatch):
    monkeypatch.setitem(answer_length.ANSWER_TOKENS, "cpu", 3)
    project = Project.init(tmp_path / "p", model="embedded")
    prompt = project.store.add_prompt("tell me about rain")
    ids = [project.store.add_response(prompt, text, "base") for text in ("banana", "kiwi")]
    project.store.add_ranking(project.store.add_comparison(prompt, ids), [[0], [1]])
    train(project, base, "reward", RewardConfig(steps=1, batch_size=1, lora_r=2, lora_alpha=4, eval_fraction=0.0,
                                                max_length=48))
    run_id, result = train(project, base, "ppo", PPOConfig(iterations=1, batch_size=2, minibatches=1, lora_r=2,
                                                           lora_alpha=4, ppo_epochs=1))
    assert result.status == "finished"
    assert project.store.run(run_id).config["max_new_tokens"] == 3
    assert max(m["value"] for m in project.store.metrics(run_id) if m["name"] == "response_length") <= 3
    project.close()
