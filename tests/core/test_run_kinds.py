"""The run-kind registry is the one place that names kinds: the rest of `studio/` asks it, never spells a kind."""
import ast
from pathlib import Path

from studio.core.run_kinds import KINDS, SOURCES, kinds, run_kind

STUDIO = Path(__file__).resolve().parents[2] / "studio"
# the words other things call their kinds (a model source, a job outcome, a labelling rule, a queue item)
OTHER_KINDS = {"ui/main_window.py": {"folder", "gguf"}, "workers/job.py": {"ok", "cancelled"},
               "core/rules.py": {"contains", "avoids", "regex", "longer", "shorter"}, "ui/rank_queue.py": {"repeat"}}


def _strings(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return []


def _is_kind(node: ast.AST) -> bool:
    return (isinstance(node, ast.Name) and node.id == "kind") or (isinstance(node, ast.Attribute)
                                                                   and node.attr == "kind")


def kind_names(source: str) -> set[str]:
    """The run kinds a module spells out: compared with a `kind`, asked of the store (`runs("x")`, "latest:x"),
    or listed in a table of two kinds or more."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare) and any(_is_kind(side) for side in [node.left, *node.comparators]):
            found.update(s for side in [node.left, *node.comparators] for s in _strings(side))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "runs", "run_kind", "set_kind") and node.args:
            found.update(_strings(node.args[0]))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("latest:"):
            found.add(node.value.removeprefix("latest:"))
        elif isinstance(node, (ast.Dict, ast.Tuple, ast.List, ast.Set)):
            keys = node.keys if isinstance(node, ast.Dict) else [node]
            listed = {s for key in keys if key is not None for s in _strings(key)} & set(KINDS)
            found.update(listed if len(listed) >= 2 else ())
    return found - {""}  # an f-string's "latest:" before the kind's name


def _modules() -> dict[str, set[str]]:
    return {path.relative_to(STUDIO).as_posix(): kind_names(path.read_text(encoding="utf-8"))
            for path in sorted(STUDIO.rglob("*.py"))}


def test_the_scan_finds_kinds_where_the_studio_used_to_spell_them():
    old = ('GROUPS = {"sft": [], "reward": []}\nif run.kind == "reward": pass\nif kind in ("rloo", "ppo"): pass\n'
           'store.runs("kto")\nx = "latest:dpo"\nif args.kind == "toy": pass\ny = ("loss", "reward", "kl")')
    assert kind_names(old) == {"sft", "reward", "rloo", "ppo", "kto", "dpo", "toy"}


def test_no_module_names_a_kind_the_registry_does_not_know():
    unknown = {name: sorted(found - set(KINDS) - OTHER_KINDS.get(name, set())) for name, found in _modules().items()}
    assert {name: found for name, found in unknown.items() if found} == {}


def test_each_kind_is_spelled_out_only_by_the_registry_its_engine_and_its_config():
    spelled = _modules()
    for kind in KINDS.values():
        own = {"core/run_kinds.py"} | {path.split(":")[0].removeprefix("studio.").replace(".", "/") + ".py"
                                       for path in (kind.engine, kind.config)}
        assert {name for name, found in spelled.items() if kind.name in found} <= own, kind.name


def test_every_kind_is_whole():
    assert list(KINDS) == [k.name for k in KINDS.values()] and len(KINDS) == len({k.title for k in KINDS.values()})
    for kind in KINDS.values():
        assert kind.learns_from in SOURCES and kind.learns_from.needs and kind.title and kind.help and kind.adapter, \
            kind.name
        assert ":" in kind.engine and ":" in kind.config and kind.job_script, kind.name
        drawn = {series for _, names in kind.charts for series in names}
        assert kind.headline and set(kind.headline) <= drawn, kind.name  # a headline figure has its chart
        assert bool(kind.needs) != kind.online, kind.name  # offline kinds say what data to add
    assert run_kind("kto").learns_from.name == "rated answers"
    assert kinds(online=True) == ("ppo", "rloo", "grpo") and "reward" not in kinds(makes_policy=True)
