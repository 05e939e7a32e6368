"""Model commands: `sample` and `score` with a run, `export` (a PEFT adapter, a merged model, or GGUF with an
Ollama Modelfile) and `models` (the local models found on this machine)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from studio.cli.loading import TOKENS_HELP, check_run, open_base, say, tokens
from studio.cli.outputs import add_output
from studio.cli.parsing import command
from studio.core.jsonl import read_completions, read_prompts, write_jsonl
from studio.core.project import Project
from studio.core.recent import recent_projects
from studio.core.run_kinds import REWARD


def cmd_sample(args) -> None:
    from studio.training.runs import default_sampling, sample

    project = Project.open(args.dir)
    prompts = [p.text for p in read_prompts(args.prompts)]
    check_run(project, args.policy, reward=False)
    base = open_base(project, args.device)
    sampling = default_sampling(base, **tokens(args), temperature=args.temperature,
                                do_sample=args.temperature > 0, seed=args.seed)
    completions = sample(project, base, args.policy, prompts, sampling)
    write_jsonl(args.out, [{"prompt": p, "completion": c} for p, c in zip(prompts, completions)])
    print(f"wrote {len(completions)} completions to {args.out}")


def cmd_score(args) -> None:
    from studio.training.runs import reward_scorer

    project = Project.open(args.dir)
    out = args.out or args.file
    rows = read_completions(args.file)
    check_run(project, args.reward, reward=True)
    scorer = reward_scorer(project, open_base(project, args.device), args.reward)
    scores = scorer.normalised([r.prompt for r in rows], [r.completion for r in rows]).tolist()
    write_jsonl(out, [{**r.record, "reward": round(s, 6)} for r, s in zip(rows, scores)])
    print(f"scored {len(rows)} completions into {out}")


def cmd_export(args) -> None:
    if args.gguf:
        return _export_gguf(args)
    if not args.out:
        raise ValueError("export needs --out OUT_DIR (adapter or --merged) or --gguf OUT.gguf")
    from studio.training.runs import export_run

    out = export_run(Project.open(args.dir), args.run, Path(args.out), merged=args.merged, force=args.force)
    print(f"exported {'merged model' if args.merged else 'adapter'} to {out}")


def _export_gguf(args) -> None:
    from studio.training.gguf_export import export_gguf

    out = export_gguf(Project.open(args.dir), args.run, Path(args.gguf), qtype=args.type, progress=say,
                      force=args.force)
    print(f"exported {args.type} GGUF to {out} and an Ollama Modelfile to {out.parent / 'Modelfile'}")


def cmd_models(args) -> None:
    from studio.training.model_support import local_models

    found = local_models(recent_projects())
    if args.json:
        print(json.dumps(found))
        return
    if not found:
        print("no models found in the Hugging Face cache, LM Studio, Ollama or recent projects")
    for m in found:
        params = f"{m['params'] / 1e6:,.0f}M" if m["params"] else "?"
        print(f"{m['name']:<48} {m['source']:<9} {m['architecture']:<22} {params:>8} "
              f"{m['size_bytes'] / 2**20:>9,.0f} MB  {m['verdict']}\n{'':<4}{m['path']}")


def register(sub: argparse._SubParsersAction) -> None:
    """Add `sample`, `score`, `export` and `models`."""
    c = command(sub, "sample", cmd_sample, "Write one completion per prompt from a policy.", device=True)
    c.add_argument("--policy", default="base", help="base, a run id, or latest:KIND")
    c.add_argument("--prompts", required=True, metavar="FILE.jsonl", help="lines {\"prompt\": ...}")
    add_output(c, "--out", required=True, metavar="FILE.jsonl")
    c.add_argument("--max-new-tokens", type=int, default=None, help=TOKENS_HELP)
    c.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    c.add_argument("--seed", type=int, default=None)

    c = command(sub, "score", cmd_score, "Add a reward-model score to each {prompt, completion} line.", device=True)
    c.add_argument("file", metavar="FILE.jsonl")
    c.add_argument("--reward", default=f"latest:{REWARD}", help="reward model run")
    add_output(c, "--out", default=None, rewrites="file", help="write here instead of rewriting FILE")

    c = command(sub, "export", cmd_export, "Export a run as a PEFT adapter, a merged safetensors model, "
                                           "or a merged GGUF with an Ollama Modelfile.")
    c.add_argument("--run", required=True, help="run id or latest:KIND")
    add_output(c, "--out", folder=True, metavar="OUT_DIR")
    add_output(c, "--gguf", metavar="OUT.gguf", help="write the merged model as GGUF (+ Modelfile beside it)")
    c.add_argument("--type", choices=["f16", "q8_0"], default="f16", help="GGUF weight type (with --gguf)")
    c.add_argument("--merged", action="store_true", help="merge the adapter into the base weights")

    c = command(sub, "models", cmd_models, "List local models (Hugging Face cache, LM Studio, Ollama, recent "
                                           "projects) and whether the studio can train them here.", project=False)
    c.add_argument("--json", action="store_true", help="print one JSON list")
