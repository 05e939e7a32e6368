"""A busy laptop (issue 26, section 5): the reward-model stage quiet, and beside one busy process with torch's
default threads and with the threads the studio chooses (`core.cpu_threads.torch_threads`: one per free core).

    .venv/bin/python bench/busy_laptop.py [--steps 12] [--model embedded]

Each case runs `reward.train_reward` (the data and settings of bench/training_throughput.py) in its own process;
"busy" is one pure-Python spinning process started beside it (a core's worth of other work). Prints each case's
seconds, its slowdown against the quiet case, and the threads it used. On a machine of C cores one busy process
takes 1/C of the CPU, so a slowdown near C / (C - 1) is the share lost; far above it is contention.
Run it on an otherwise idle machine: the quiet case is the baseline.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.measure import model_folder  # noqa: E402
from bench.training_throughput import pairs  # noqa: E402

SPIN = "while True: pass"


def child(model_dir: str, steps: int, threads: str) -> dict:
    """One reward stage in this process; `threads` is "default" (torch's) or "studio" (`torch_threads()`)."""
    import tempfile

    import torch

    from studio.core.cpu_threads import torch_threads
    from studio.training.models import load_model
    from studio.training.reward import RewardConfig, train_reward
    from studio.training.shared_base import SharedBase

    if threads == "studio":
        torch.set_num_threads(torch_threads())
    base = SharedBase.from_loaded(load_model(Path(model_dir), device="cpu"))
    config = RewardConfig(steps=steps, batch_size=4, lr=2e-4, lora_r=8, lora_alpha=16, max_length=256,
                          eval_fraction=0.0, checkpoint_every=10**6, warmup_steps=0)
    t0 = time.perf_counter()
    train_reward(base, pairs(4 * steps), config, Path(tempfile.mkdtemp(prefix="bench-busy-")))
    return {"seconds": time.perf_counter() - t0, "threads": torch.get_num_threads()}


def run_case(model_dir: Path, steps: int, threads: str, busy: bool) -> dict:
    spinner = subprocess.Popen([sys.executable, "-c", SPIN]) if busy else None
    try:
        if busy:
            time.sleep(1.0)  # let the spinner show in the CPU use the studio reads
        env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "STUDIO_TORCH_THREADS")}
        out = subprocess.run([sys.executable, __file__, "--child", threads, "--model-dir", str(model_dir),
                              "--steps", str(steps)], capture_output=True, text=True, env=env, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        if spinner:
            spinner.kill()
            spinner.wait()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="embedded")
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--model-dir", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.model_dir, args.steps, args.child)), flush=True)
        return
    model_dir = model_folder(args.model)
    print(f"# {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f} at the start, {args.steps} reward steps")
    cases = [("quiet, studio's threads", "studio", False), ("quiet, torch's default", "default", False),
             ("beside 1 busy process, torch's default", "default", True),
             ("beside 1 busy process, studio's threads", "studio", True)]
    results = {name: run_case(model_dir, args.steps, threads, busy) for name, threads, busy in cases}
    quiet = results[cases[0][0]]["seconds"]
    print(f"| case | threads | seconds | slowdown vs quiet |\n|---|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['threads']} | {r['seconds']:.1f} | {r['seconds'] / quiet:.2f}x |")
    print(f"# load {os.getloadavg()[0]:.2f} at the end; the share lost to one busy process on "
          f"{os.cpu_count()} cores is {os.cpu_count() / max(1, os.cpu_count() - 1):.2f}x")


if __name__ == "__main__":
    main()
