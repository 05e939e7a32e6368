"""Seed a page-test project: data for every engine, and real tiny SFT and reward-model runs."""
from __future__ import annotations

from pathlib import Path

from studio.core.project import Project
from studio.core.store import Store

PROMPTS = ["tell me about cats", "say something about rain", "describe tea", "ask about maps",
           "sing of jazz", "talk about soup"]


def seed_data(store: Store) -> None:
    """Prompts, demonstrations and ranked comparisons: enough for tiny SFT, reward, PPO and DPO runs."""
    for i, prompt in enumerate(PROMPTS):
        pid = store.add_prompt(prompt)
        store.add_demo(prompt, f"A short kind answer about {prompt.split()[-1]}.")
        good = store.add_response(pid, f"a banana answer {i}", "imported")
        bad = store.add_response(pid, f"a lemon answer {i}", "imported")
        store.add_ranking(store.add_comparison(pid, [good, bad]), [[0], [1]])


def seed_runs(root: Path) -> dict[str, int]:
    """Train a finished tiny SFT run and reward model (for real, on the CPU); returns their run ids."""
    from studio.training.reward import RewardConfig
    from studio.training.runs import open_base, train
    from studio.training.sft import SFTConfig

    tiny = {"steps": 3, "batch_size": 2, "max_length": 64, "lora_r": 4, "lora_alpha": 8, "warmup_steps": 1}
    project = Project.open(root)
    try:
        base = open_base(project, device="cpu")
        sft, _ = train(project, base, "sft", SFTConfig(**tiny))
        reward, _ = train(project, base, "reward", RewardConfig(**tiny))
    finally:
        project.close()
    return {"sft": sft, "reward": reward}
