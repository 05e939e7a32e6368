"""Render every page of the studio to docs/screenshots/*.png, on a demo project with real results.

    .venv/bin/python tools/screenshots.py [--out docs/screenshots] [--project DIR]

The demo project uses the embedded SmolLM2-135M. Everything shown is real: the model writes the
answers to rank and compare, and a short SFT run, a reward model and a 3-iteration PPO run are
actually trained, so every curve and score is measured, not made up. The one stand-in is the
annotator: the demo's rankings follow a fixed rule ("the shorter answer is better") instead of a
person's taste. The model work takes minutes on a CPU (the script prints its timing); with
`--project DIR` the demo project is kept in DIR and reused by later runs, which then only render.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEMOS = [
    ("What is a good way to start learning to cook?",
     "Start with three simple dishes you like, such as an omelette, a pasta sauce and a soup. Cook each a few "
     "times until it feels easy, then change one ingredient at a time."),
    ("How do I keep a houseplant alive?",
     "Give it the light its label asks for, water only when the top of the soil is dry, and make sure the pot "
     "drains. Most houseplants die from too much water, not too little."),
    ("Explain what a budget is in one paragraph.",
     "A budget is a plan for your money: you list what comes in each month, decide in advance how much goes "
     "to rent, food, savings and fun, and then check once a week that you are on track."),
    ("Give me a tip for sleeping better.",
     "Go to bed and get up at the same time every day, weekends included. A steady rhythm helps more than any "
     "gadget."),
    ("How can I remember names at a party?",
     "Say the name back straight away (\"Nice to meet you, Sam\"), use it once more in the conversation, and "
     "link it to something about the person."),
    ("What should I pack for a day hike?",
     "Water, a snack, a warm layer, a rain jacket, a charged phone with an offline map, sun cream and a small "
     "first-aid kit."),
]
PROMPTS = ["Why is the sky blue?", "How do I make a cup of tea?", "Suggest a name for a grey cat.",
           "What is a healthy breakfast?", "How do I say thank you politely in an email?",
           "Give me one tip for learning a language."]
COMPARE_PROMPT = "How can I stay focused while studying?"
NEW_PROMPT = "What is a good name for a small boat?"


def build_project(root: Path, say: Callable[[str], None]) -> dict[str, int]:
    """Seed the demo project and train its runs headless (skipping what `root` already holds); returns the
    run ids by kind."""
    from studio.core.project import Project
    from studio.training.generation import SamplingConfig
    from studio.training.ppo import PPOConfig
    from studio.training.reward import RewardConfig
    from studio.training.runs import generate_comparisons, open_base, train
    from studio.training.sft import SFTConfig

    project = Project.init(root, model="embedded")
    store = project.store
    if not store.demos():
        for prompt, response in DEMOS:
            store.add_demo(prompt, response)
        for prompt in PROMPTS:
            store.add_prompt(prompt)
    runs = {r.kind: r.id for r in store.runs() if r.status == "finished"}
    base = None
    if not store.comparisons():
        base = open_base(project, progress=say)
        say("Writing answers to rank…")
        comparisons = generate_comparisons(project, base, per_prompt=2, sampling=SamplingConfig(
            max_new_tokens=32, temperature=0.9, seed=0))
        for cid in comparisons[:-1]:  # the rule stands in for the annotator; the last one is left to rank
            lengths = [len(text) for text in store.comparison(cid).responses]
            store.add_ranking(cid, [[i] for i in sorted(range(len(lengths)), key=lengths.__getitem__)])
    small = {"batch_size": 2, "max_length": 128, "lora_r": 8, "lora_alpha": 16, "warmup_steps": 2}
    for kind, config in [("sft", SFTConfig(steps=16, **small)), ("reward", RewardConfig(steps=10, **small)),
                         ("ppo", PPOConfig(iterations=3, batch_size=2, max_new_tokens=24, ppo_epochs=1,
                                           minibatches=1, lora_r=8, lora_alpha=16, samples_per_iteration=2))]:
        if kind in runs:
            say(f"Reusing {kind} run {runs[kind]}")
            continue
        base = base or open_base(project, progress=say)
        say(f"Training {kind}…")
        runs[kind], result = train(project, base, kind, config)
        say(f"  run {runs[kind]}: {result.status} at step {result.step}")
    project.close()
    return runs


def shoot(root: Path, out: Path, runs: dict[str, int], say: Callable[[str], None]) -> list[Path]:
    """Open the main window on the project and save each page."""
    from PySide6.QtWidgets import QApplication

    from studio.ui.context import StudioContext
    from studio.ui.main_window import PAGES, MainWindow

    app = QApplication.instance() or QApplication([])
    ctx = StudioContext(root)
    window = MainWindow(ctx)
    window.resize(1400, 880)
    window.show()

    def pump(seconds: float) -> None:
        """Run the event loop for a while. (QTest.qWait would keep the GIL and starve the model's threads.)"""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.02)

    def idle(timeout_s: float = 1800) -> None:
        end = time.monotonic() + timeout_s
        while ctx.running():
            if time.monotonic() > end:
                raise TimeoutError("a job did not finish in time")
            pump(0.05)
        pump(0.3)  # let the charts' redraw timers fire

    def save(name: str, wait: bool = True) -> Path:
        if wait:
            idle()
        path = out / f"{name}.png"
        window.grab().save(str(path))
        say(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        return path

    saved = []
    idle()
    for index, name in enumerate(PAGES):
        window.tabs.setCurrentIndex(index)
        page = window.tabs.widget(index)
        if name == "Train":
            for kind in ("sft", "ppo", "reward"):  # a reward run opens its health report tab
                page.show_run(runs[kind])
                saved.append(save(f"train-{kind}"))
            continue
        if name == "Compare":
            page.prompt.setPlainText(COMPARE_PROMPT)
            page.set_checked(["base", str(runs["sft"]), str(runs["ppo"])])
            page.reward.setCurrentIndex(page.reward.findData(str(runs["reward"])))
            page.max_tokens.setValue(48)
            page.compare()
        saved.append(save(name.lower()))
    rank = window.rank_page  # the job indicator while answers to a new prompt are generated
    window.tabs.setCurrentWidget(rank)
    rank.prompts_edit.setPlainText(NEW_PROMPT)
    rank.add_prompts()
    pump(4)
    saved.append(save("rank-generating", wait=False))
    window.theme_actions["dark"].trigger()  # the dark theme, charts included
    window.tabs.setCurrentIndex(PAGES.index("Train"))
    window.tabs.currentWidget().show_run(runs["ppo"])
    saved.append(save("dark-train-ppo"))
    window.tabs.setCurrentWidget(rank)
    saved.append(save("dark-rank"))
    window.theme_actions["system"].trigger()
    ctx.shutdown()
    window.close()
    app.processEvents()
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--project", type=Path, help="keep the demo project here and reuse it next time")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def say(text: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {text}", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["STUDIO_CONFIG_DIR"] = str(Path(tmp) / "config")  # keep the demo out of the recent list
        project = (args.project or Path(tmp) / "demo").resolve()
        runs = build_project(project, say)
        say("Rendering pages…")
        saved = shoot(project, args.out.resolve(), runs, say)
    say(f"Done: {len(saved)} screenshots in {args.out}")


if __name__ == "__main__":
    main()
