"""What every benchmark script shares: run one variant per subprocess, read back its figures, print a table.

A benchmark script calls `child_main(variants)` when it is started with `--child NAME` (it then runs
variant NAME, measures its own peak memory and prints one JSON line), and `run_child(...)` from the
parent for each variant, so one variant's peak memory never includes another's.

Peak memory is the child's own peak resident set size (Linux VmHWM; `ru_maxrss` elsewhere) on CPU, and
`torch.cuda.max_memory_allocated` on CUDA (reported as `peak_cuda_mb`).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUR_PYTHON = ROOT / ".venv" / "bin" / "python"
TRL_PYTHON = ROOT / "bench" / ".venv-trl" / "bin" / "python"
MARK = "BENCH_RESULT "

PROMPTS = [
    "Explain why the sky is blue in two sentences.",
    "Write a haiku about a cat sleeping in the sun.",
    "What is the capital of France, and what is it known for?",
    "Give me three tips for learning to cook.",
    "Describe a rainy day in a small town.",
    "How do plants make their food?",
    "Suggest a name for a friendly robot and explain it.",
    "What should I pack for a weekend hiking trip?",
    "Why do we need sleep?",
    "Tell me a short story about a lost key.",
    "What is the difference between weather and climate?",
    "How can I save money on groceries?",
    "Write a polite email declining a meeting.",
    "What makes a good friend?",
    "Explain what a computer program is to a child.",
    "List four fruits that are red.",
]


def common_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Flags every script takes: the model, the device, and the hidden --child switch."""
    parser.add_argument("--model", default="embedded",
                        help='"embedded" (SmolLM2-135M, the default), "tiny" (a random 2-layer test model) '
                             "or a Hugging Face model folder")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--threads", type=int, default=0, help="torch threads in each child (0 = torch's default)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    return parser


def model_folder(spec: str) -> Path:
    """A Hugging Face folder for `spec`: the embedded model's safetensors cache, a new tiny model, or `spec`."""
    if spec == "embedded":
        sys.path.insert(0, str(ROOT))
        from studio.training.models import _gguf_cache, embedded_gguf

        return _gguf_cache(embedded_gguf(), lambda _msg: None)
    if spec == "tiny":
        sys.path.insert(0, str(ROOT))
        from tests.tiny_model import make_tiny_model_dir

        return make_tiny_model_dir(Path(tempfile.mkdtemp(prefix="bench-tiny-")) / "model")
    return Path(spec).resolve()


def peak_memory_mb(device: str = "cpu") -> dict[str, float]:
    """This process's peak RSS (MiB), and on CUDA the peak allocated GPU memory."""
    out = {"peak_rss_mb": _peak_rss_kib() / 1024}
    if device.startswith("cuda"):
        import torch

        out["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def _peak_rss_kib() -> int:
    """This process's own peak RSS: Linux's VmHWM, since `ru_maxrss` keeps the high-water mark of the parent
    that forked it across exec (a 100 MiB pack window read as the 1.5 GB parent's figure)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child_main(args: argparse.Namespace, variants: dict[str, Callable[[argparse.Namespace], dict]]) -> None:
    """Run variant `args.child` in this process and print its figures (plus peak memory) as one JSON line."""
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    result = variants[args.child](args)
    result.update(peak_memory_mb(args.device))
    print(MARK + json.dumps(result), flush=True)


def run_child(script: Path, variant: str, argv: list[str], python: Path = OUR_PYTHON,
              timeout_s: float = 3600) -> dict:
    """Start `python script --child variant argv...` and return its JSON figures (or {"error": ...})."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "WANDB_DISABLED": "true",
           "TRANSFORMERS_VERBOSITY": "error"}
    cmd = [str(python), str(script), "--child", variant, *argv]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s)
    wall = time.perf_counter() - t0
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARK):
            return {**json.loads(line[len(MARK):]), "process_s": wall}
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-25:]
    return {"error": f"{variant} exited {proc.returncode}: " + "\n".join(tail)}


def run_variants(script: Path, args: argparse.Namespace, names: list[str], header: str,
                 pythons: dict[str, Path] | None = None) -> dict[str, dict]:
    """Each variant in its own child process (so its peak memory is its own), under `pythons[name]` when given
    (TRL's own venv), else ours; print and return the figures (exit 1 when one failed)."""
    args.model_dir = str(model_folder(args.model))
    print(f"# {header}; {machine_line()}", flush=True)
    res = {name: run_child(script, name, forward_args(args), python=(pythons or {}).get(name, OUR_PYTHON))
           for name in names}
    for name, r in res.items():
        print(f"{name}: {r}", flush=True)
    if any("error" in r for r in res.values()):
        sys.exit(1)
    return res


def forward_args(args: argparse.Namespace, skip: tuple[str, ...] = ("child",)) -> list[str]:
    """The parent's flags again, for a child (model replaced by the resolved folder)."""
    out = []
    for key, value in vars(args).items():
        if key in skip or value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        out += [flag] if value is True else [flag, str(value)]
    return out


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def print_table(title: str, rows: list[tuple[str, float, float, str]], ours: str, baseline: str) -> str:
    """Print (and return) a markdown table: metric, ours, baseline, ours / baseline, note."""
    lines = [f"### {title}", "", f"| metric | {ours} | {baseline} | ratio (ours / baseline) | note |",
             "|---|---:|---:|---:|---|"]
    for name, a, b, note in rows:
        ratio = a / b if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else float("nan")
        lines.append(f"| {name} | {_fmt(a)} | {_fmt(b)} | {ratio:.2f}x | {note} |")
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def machine_line() -> str:
    """Cores and load average now, for the record."""
    load = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min)"


def _fmt(x) -> str:
    if isinstance(x, float):
        return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"
    return str(x)
