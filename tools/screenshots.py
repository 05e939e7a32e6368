"""Render every page of the studio to docs/screenshots/*.png, on a demo project with real results.

    .venv/bin/python tools/screenshots.py [--out docs/screenshots] [--project DIR]

The demo project uses the embedded SmolLM2-135M. Everything shown is real: the model writes the
answers to rank, rate and compare, judges comparisons by a principle and answers the gold checks,
and a short SFT run, a reward model (with its health report), a 3-iteration PPO run, a KTO run, a GRPO
run and one round after the PPO run are actually trained, so every curve and score is measured, not made
up. The one stand-in is the annotators: the demo's rankings and ratings (by "me" and a second annotator, "sam", who disagrees
now and then) follow a fixed rule ("the shorter answer is better") instead of a person's taste.
The model picker is shown a temporary Hugging Face cache that holds the embedded model (linked).
The model work takes minutes on a CPU (the script prints its timing); with
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
           "Give me one tip for learning a language.", "How do I fix a squeaky door?",
           "What should I do if I feel stressed?", "How often should I water a cactus?",
           "What is a fun game for a rainy afternoon?"]
PACK = "demo.pack"
COMPARE_PROMPT = "How can I stay focused while studying?"
NEW_PROMPT = "What is a good name for a small boat?"
PRINCIPLES = ["Prefer the answer that is correct and concise.", "Prefer the answer that is kind and polite."]
RULES = [("shorter", ""), ("longer", ""), ("contains", "you")]


def build_project(root: Path, say: Callable[[str], None]) -> dict[str, int]:
    """Seed the demo project and train its runs headless (skipping what `root` already holds); returns the
    run ids by kind."""
    from studio.core.project import Project
    from studio.core import oversight_store as ov
    from studio.core.packs import export_pack
    from studio.training.configs import KTOConfig
    from studio.training.generation import SamplingConfig
    from studio.training.online_configs import GRPOConfig
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
    runs: dict[str, int] = {}
    for run in store.runs():  # the first finished run of each kind (a round's PPO run comes later)
        if run.status == "finished":
            runs.setdefault(run.kind, run.id)
    base = None
    if not store.comparisons():
        base = open_base(project, progress=say)
        say("Writing answers to rank…")
        comparisons = generate_comparisons(project, base, per_prompt=3, sampling=SamplingConfig(
            max_new_tokens=32, temperature=0.9, seed=0))
        for index, cid in enumerate(comparisons[:-1]):  # the last one is left to rank
            order = shorter_first(store.comparison(cid).responses)
            store.add_ranking(cid, order)
            store.add_ranking(cid, order[::-1] if index % 3 == 2 else order, annotator="sam")  # agrees 2 in 3
        export_pack(store, root / PACK)  # the labelling-only window's pack: the comparison left to rank
        rate_some(store)
    small = {"batch_size": 2, "max_length": 128, "lora_r": 8, "lora_alpha": 16, "warmup_steps": 2}
    for kind, config in [("sft", SFTConfig(steps=16, **small)),
                         ("reward", RewardConfig(steps=10, eval_fraction=0.3, **small)),
                         ("ppo", PPOConfig(iterations=3, batch_size=2, max_new_tokens=24, ppo_epochs=1,
                                           minibatches=1, lora_r=8, lora_alpha=16, samples_per_iteration=2)),
                         ("kto", KTOConfig(steps=8, **small)),
                         ("grpo", GRPOConfig(iterations=3, batch_size=2, samples_per_prompt=2, max_new_tokens=24,
                                             lora_r=8, lora_alpha=16, samples_per_iteration=2))]:
        if kind in runs:
            say(f"Reusing {kind} run {runs[kind]}")
            continue
        base = base or open_base(project, progress=say)
        say(f"Training {kind}…")
        runs[kind], result = train(project, base, kind, config)
        say(f"  run {runs[kind]}: {result.status} at step {result.step}")
    if not ov.principles(store):
        base = base or open_base(project, progress=say)
        oversee(project, base, runs["ppo"], say)
    runs["round"] = next_round(project, base or open_base(project, progress=say), runs["ppo"], say)
    project.close()
    return runs


def next_round(project, base, ppo_run: int, say: Callable[[str], None]) -> int:
    """One round after the PPO run (Train page, Next round): fresh comparisons ranked by the stand-in rule, the
    reward model and PPO trained on from them, the new run's gold checks ranked; returns the round's PPO run."""
    from studio.core import rounds as plan
    from studio.training.gold import make_gold_checks
    from studio.training.rounds import prepare_round, train_round

    store = project.store
    done = plan.continued_by(store, ppo_run)
    if done is not None:
        say(f"Reusing round run {done.id}")
        return done.id
    say("A round: sampling what the policy writes now…")
    made = prepare_round(project, base, str(ppo_run), per_prompt=2, limit=4)
    for cid in made.gold + made.comparisons:
        store.add_ranking(cid, shorter_first(store.comparison(cid).responses))
    say("A round: the reward model and PPO on from the new labels…")
    _, _, policy_id, _ = train_round(project, base, str(ppo_run))
    for cid in make_gold_checks(project, base, str(policy_id)):
        store.add_ranking(cid, shorter_first(store.comparison(cid).responses))
    return policy_id


def shorter_first(responses: list[str]) -> list[list[int]]:
    """The demo's stand-in for a person's taste: the shorter answer is better."""
    return [[i] for i in sorted(range(len(responses)), key=lambda i: len(responses[i]))]


def rate_some(store) -> None:
    """One-key ratings by the same stand-in rule (an answer is good when shorter than its comparison's
    median), by "me" and "sam", leaving the last prompts' answers for the Rate page."""
    from studio.core.ratings import Ratings

    ratings = Ratings(store)
    for index, comparison in enumerate(store.comparisons()[:-3]):
        median = sorted(len(text) for text in comparison.responses)[len(comparison.responses) // 2]
        for response_id, text in zip(comparison.response_ids, comparison.responses):
            ratings.add(response_id, len(text) <= median)
            if index % 2:
                ratings.add(response_id, len(text) <= median if index % 4 == 1 else len(text) > median,
                            annotator="sam")


def oversee(project, base, ppo_run: int, say: Callable[[str], None]) -> None:
    """The Oversight page's data: principles, rule and AI labels, and gold checks of every PPO round ranked
    by the stand-in rule."""
    from studio.core import oversight_store as ov
    from studio.core.rules import Rule, label_with_rule
    from studio.training.gold import make_gold_checks
    from studio.training.judge import Judge, label_with_judge

    store = project.store
    say("Making gold checks of every PPO round…")
    for round_ in sorted({s["step"] for s in store.samples(ppo_run)}):
        for cid in make_gold_checks(project, base, str(ppo_run), round_):
            store.add_ranking(cid, shorter_first(store.comparison(cid).responses))
    for kind, argument in RULES:
        label_with_rule(store, Rule(kind, argument))
    say("Letting the model label by a principle…")
    count = label_with_judge(store, Judge(base), PRINCIPLES[0])
    say(f"  labelled {count.labelled}, abstained on {count.abstained}")
    for text in PRINCIPLES:  # last: they mark this step done
        ov.add_principle(store, text)


def model_shelf(hub: Path) -> Path:
    """A Hugging Face cache at `hub` holding the embedded model (its cached safetensors folder, linked, not
    copied), so that the model picker finds something on a machine that has no other model."""
    from studio.training.models import EMBEDDED_HF_NAME, _gguf_cache, embedded_gguf

    folder = _gguf_cache(embedded_gguf(), print)
    repo = hub / f"models--{EMBEDDED_HF_NAME.replace('/', '--')}"
    revision = "0" * 40
    for sub in ("blobs", f"snapshots/{revision}", "refs"):
        (repo / sub).mkdir(parents=True, exist_ok=True)
    for file in folder.iterdir():
        for link, target in ((repo / "blobs" / file.name, file),
                             (repo / "snapshots" / revision / file.name, repo / "blobs" / file.name)):
            if not link.is_symlink():
                link.symlink_to(target)
    (repo / "refs" / "main").write_text(revision)
    return hub


def shoot(root: Path, out: Path, runs: dict[str, int], say: Callable[[str], None], scratch: Path) -> list[Path]:
    """Open the main window on the project and save each page (`scratch`: a temporary folder)."""
    from PySide6.QtWidgets import QApplication

    from studio.ui.context import StudioContext
    from studio.ui.main_window import PAGES, MainWindow
    from studio.ui.pack_window import PackContext, PackExportDialog, PackWindow

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

    def save(name: str, wait: bool = True, widget=None) -> Path:
        if wait:
            idle()
        path = out / f"{name}.png"
        (widget or window).grab().save(str(path))
        say(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        return path

    saved = []
    idle()
    for index, name in enumerate(PAGES):
        window.tabs.setCurrentIndex(index)
        page = window.tabs.widget(index)
        if name == "Train":
            for kind in ("sft", "ppo", "grpo", "kto", "reward"):  # a reward run opens its health report tab
                page.show_run(runs[kind])
                saved.append(save(f"train-{kind}"))
            continue
        if name == "Oversight":
            page.principles.setCurrentRow(0)
        if name == "Compare":
            page.prompt.setPlainText(COMPARE_PROMPT)
            page.set_checked(["base", *(str(runs[kind]) for kind in ("sft", "ppo", "kto"))])
            page.reward.setCurrentIndex(page.reward.findData(str(runs["reward"])))
            page.max_tokens.setValue(48)
            page.compare()
        saved.append(save(name.lower()))
        if name == "Oversight":  # the gold checks and the rounds, on the round's PPO run
            page.gold_run.setCurrentIndex(page.gold_run.findData(runs["round"]))
            saved.append(save("oversight-rounds", widget=page.round_plot.parentWidget()))
    rank = window.rank_page  # the job indicator while answers to a new prompt are generated
    window.tabs.setCurrentWidget(rank)
    rank.prompts_edit.setPlainText(NEW_PROMPT)
    rank.add_prompts()
    pump(4)
    saved.append(save("rank-generating", wait=False))
    idle()
    os.environ["HF_HUB_CACHE"] = str(model_shelf(scratch / "hub"))
    picker = window.pick_found_model()  # File > Model > Found on this computer
    idle()
    saved.append(save("model-picker", widget=picker))
    picker.close()
    window.theme_actions["dark"].trigger()  # the dark theme, charts included
    window.tabs.setCurrentIndex(PAGES.index("Train"))
    window.tabs.currentWidget().show_run(runs["ppo"])
    saved.append(save("dark-train-ppo"))
    window.tabs.setCurrentIndex(PAGES.index("Oversight"))
    saved.append(save("dark-oversight"))
    window.theme_actions["light"].trigger()
    window.presenter_action.setChecked(True)  # presenter mode: large text everywhere
    window.tabs.setCurrentIndex(PAGES.index("Rate"))
    saved.append(save("presenter-rate"))
    window.presenter_action.setChecked(False)
    window.theme_actions["system"].trigger()
    export = PackExportDialog.for_store(ctx.store, window)  # File > Export labelling pack
    export.show()
    pump(0.3)
    saved.append(save("pack-export", widget=export))
    export.close()
    pack = PackWindow(PackContext(root / PACK))  # what `main.py --pack FILE` opens
    pack.show()
    pump(0.5)
    saved.append(save("pack-window", widget=pack))
    pack.tabs.setCurrentWidget(pack.rate_page)  # the same pack's Rate tab: one answer at a time
    pump(0.5)
    saved.append(save("pack-window-rate", widget=pack))
    pack.close()
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
        saved = shoot(project, args.out.resolve(), runs, say, Path(tmp))
    say(f"Done: {len(saved)} screenshots in {args.out}")


if __name__ == "__main__":
    main()
