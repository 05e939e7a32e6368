"""CPU seconds per PPO iteration of our engine, split by phase, for a before/after of an engine change.

    .venv/bin/python bench/ppo_cpu_time.py --threads 1                    # this checkout's engine
    .venv/bin/python bench/ppo_cpu_time.py --threads 1 --root /work/main  # another checkout's (the "before")

The settings of `trl_ppo.py`'s "ours": embedded SmolLM2-135M, float32, CPU, batch 8, 48 new tokens, 4 epochs x
1 minibatch, LoRA r 8 on q/v, fresh sft and reward adapters. CPU seconds are this process's (`process_time`),
which contention on a shared machine inflates less than wall time. Phases are timed by wrapping the engine's
own functions: generation (`generate_tokens`), rollout forwards (`ppo.forward` outside the update), scoring
(`score_round`), update (`ppo_update`).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--root", default=str(Path(__file__).resolve().parent.parent), help="checkout whose engine runs")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--iterations", type=int, default=3, help="PPO iterations (default 3)")
    args = p.parse_args()
    sys.path.insert(0, args.root)
    import torch

    from bench.measure import PROMPTS
    from studio.training import ppo
    from studio.training.engine import Hooks
    from studio.training.models import _gguf_cache, embedded_gguf, load_model
    from studio.training.reward import RewardScorer
    from studio.training.heads import ScalarHead
    from studio.training.shared_base import SharedBase

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    base = SharedBase.from_loaded(load_model(_gguf_cache(embedded_gguf(), lambda _m: None), device="cpu"))
    tmp = Path(tempfile.mkdtemp(prefix="bench-ppo-cpu-"))
    for name in ("sft", "reward"):
        base.add_lora(name, r=8, alpha=16, targets=["q_proj", "v_proj"])
        base.save_adapter(name, tmp / name)
        base.load_adapter(name, tmp / name)
    scorer = RewardScorer(base, "reward", ScalarHead(base.hidden_size))

    phases: dict[str, float] = defaultdict(float)
    in_update = [False]

    def timed(name, fn):
        def wrapper(*a, **k):
            if name == "rollout forwards" and in_update[0]:
                return fn(*a, **k)
            in_update[0] = in_update[0] or name == "update"
            t = time.process_time()
            try:
                return fn(*a, **k)
            finally:
                phases[name] += time.process_time() - t
                in_update[0] = in_update[0] and name != "update"
        return wrapper

    for attr, name in [("generate_tokens", "generation"), ("forward", "rollout forwards"),
                       ("score_round", "scoring"), ("ppo_update", "update")]:
        setattr(ppo, attr, timed(name, getattr(ppo, attr)))
    rows, marks = [], [time.process_time()]
    splits = []

    def on_metrics(step, m):
        marks.append(time.process_time())
        rows.append({"wall_s": m["iteration_s"], "cpu_s": marks[-1] - marks[-2]})
        splits.append(dict(phases))
        phases.clear()

    config = ppo.PPOConfig(iterations=args.iterations, batch_size=8, max_new_tokens=48, ppo_epochs=4, minibatches=1,
                           lora_r=8, lora_alpha=16, checkpoint_every=10**6)
    marks[0] = time.process_time()
    result = ppo.train_ppo(base, PROMPTS, scorer, config, tmp / "run", Hooks(on_metrics=on_metrics))
    assert result.status == "finished", result
    print(json.dumps({"root": args.root, "iterations": rows, "phases_cpu_s": splits}, indent=1))


if __name__ == "__main__":
    main()
