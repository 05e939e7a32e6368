"""Every list that names run kinds derives from the registry: each kind reaches the CLI, the Train page, the charts,
jobs, held-out sizes, the policy lists and the engine call, and a new kind reaches them all with no other edit."""
import argparse
import dataclasses
import inspect
from types import SimpleNamespace

import pytest
from PySide6.QtCore import Qt

from studio.cli import build_parser
from studio.core import jobs
from studio.core.held_out import SPLIT_SIZE, held_out_note
from studio.core.monitor import monitor_for
from studio.core.run_kinds import DEMONSTRATIONS, KINDS, RunKind
from studio.training import runs
from studio.training.configs import config_class, help_field, resolve
from studio.training.engine import TrainResult
from studio.ui.compare_page import ComparePage
from studio.ui.rank_page import RankPage
from studio.ui.train_charts import chart_help, summary
from studio.ui.train_page import TrainPage
from studio.workers.config_fields import config_fields


def _subcommands(*path: str) -> dict[str, argparse.ArgumentParser]:
    """{name: parser} of the CLI's subcommands under `path`, e.g. ("train",)."""
    parser = build_parser()
    for name in (*path, None):
        choices = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
        parser = choices[name] if name else parser
    return choices


def _page(qtbot, widget):
    qtbot.addWidget(widget)
    return widget


def _uniform_call(kind: RunKind) -> dict:
    """The keywords `runs._dispatch` gives `kind`'s engine beyond (base, data, config, run_dir, hooks)."""
    return {"resume": False, **({"init_adapter": None} if kind.starts_from_policy else {}),
            **({"reward": object()} if kind.online else {})}


@pytest.mark.parametrize("name", list(KINDS))
def test_every_list_that_names_kinds_covers_each_kind(qtbot, ctx, tmp_path, name):
    kind = KINDS[name]
    train = _subcommands("train")[name]
    assert train.description == kind.help
    assert name in next(a for a in _subcommands("job")["export"]._actions if a.dest == "kind").choices
    assert any(a.dest == "init" for a in train._actions) == kind.starts_from_policy
    assert any(a.dest == "reward" for a in train._actions) == kind.online

    page = _page(qtbot, TrainPage(ctx))
    assert page.kind.itemText(page.kind.findData(name)) == kind.title
    page.set_kind(name)
    assert [plot.title for plot in page.board.plots] == [title for title, _ in kind.charts]
    assert all(chart_help(kind.name, title) for title, _ in kind.charts), "a chart without its help"
    assert [spec.name for spec in config_fields(name)] == [f.name for f in dataclasses.fields(config_class(name))]

    assert kind.learns_from in jobs.RECORDS and kind.learns_from in runs.TRAINING_DATA
    assert (kind.learns_from in SPLIT_SIZE) == bool(kind.learns_from.unit)
    assert kind.job_script.startswith("openrlhf." if jobs.on_openrlhf(name) else "trl.scripts.")
    assert (monitor_for(name, {}) is None) != kind.online
    engine = resolve(kind.engine)
    inspect.signature(engine).bind(None, [], config_class(name)(), tmp_path, None, **_uniform_call(kind))
    module = inspect.getmodule(engine)
    assert kind.adapter == getattr(module, "ADAPTER", getattr(module, "POLICY", None))

    run_id = ctx.store.create_run(name, {})
    ctx.store.update_run(run_id, status="finished", artifact=f"runs/{run_id}/adapter")
    compare = _page(qtbot, ComparePage(ctx))
    policies = [compare.policies.item(i).data(Qt.ItemDataRole.UserRole) for i in range(compare.policies.count())]
    rank = _page(qtbot, RankPage(ctx))
    rank.generator.refresh_policies()
    assert (str(run_id) in policies) == (rank.policy.findData(str(run_id)) >= 0) == kind.makes_policy


@dataclasses.dataclass
class ToyConfig:
    steps: int = help_field(3, "Steps the toy engine pretends to take.")
    lr: float = help_field(0.1, "A learning rate nobody uses.")


SEEN: list = []


def train_toy(base, data, config, run_dir, hooks, *, resume):
    """A trivial engine in the registry's uniform call: remembers its data, reports one metric and finishes."""
    SEEN.append((data, config.steps, resume))
    hooks.metrics(config.steps, {"toy_loss": 0.25})
    return TrainResult("finished", config.steps, {"toy_loss": 0.25})


TOY = RunKind("toy", "Toy (learn from demonstrations, slowly)", "A toy engine that learns nothing.", DEMONSTRATIONS,
              starts_from_policy=False, makes_policy=True, adapter="toy", job_script="trl.scripts.sft",
              engine=f"{__name__}:train_toy", config=f"{__name__}:ToyConfig", headline=("toy_loss",),
              charts=(("loss", ("toy_loss",)),), needs="Add demonstrations first: the toy learns from them.")


def test_a_new_kind_is_one_registry_entry_plus_its_engine_and_config(qtbot, ctx, monkeypatch):
    monkeypatch.setitem(KINDS, "toy", TOY)
    SEEN.clear()
    args = build_parser().parse_args(["train", "toy", str(ctx.project.root), "--steps", "2"])
    assert (args.kind, args.steps) == ("toy", 2) and _subcommands("train")["toy"].description == TOY.help
    assert build_parser().parse_args(["job", "export", str(ctx.project.root), "--kind", "toy", "--out", "x"]).kind \
        == "toy"

    page = _page(qtbot, TrainPage(ctx))
    page.set_kind("toy")
    assert page.kind.currentText() == TOY.title and page.selected_kind == "toy"
    assert [plot.title for plot in page.board.plots] == ["loss"] and set(page.form.editors) == {"steps", "lr"}
    assert page.setup.missing_data("toy") == TOY.needs

    ctx.store.add_demo("Hi", "Hello!")
    run_id, result = runs.train(ctx.project, SimpleNamespace(device="cpu"), "toy")
    assert SEEN == [([{"prompt": "Hi", "response": "Hello!", "system": None}], 3, False)]
    run = ctx.store.run(run_id)
    assert (run.kind, run.status, run.final_metrics) == ("toy", "finished", {"toy_loss": 0.25})
    assert summary(run) == "toy_loss 0.25" and ctx.store.resolve_run("latest:toy").id == run_id
    assert held_out_note("toy", 1, 10, 0.1).startswith("Eval figures rest on 1 held-out demonstration (of 10)")
    assert jobs.job_records(ctx.store, "toy") == jobs.job_records(ctx.store, "sft")
    compare = _page(qtbot, ComparePage(ctx))
    assert compare.policies.item(1).data(Qt.ItemDataRole.UserRole) == str(run_id)  # a policy, after the base
