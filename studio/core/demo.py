"""The workshop demo project: prompts, short demonstrations and principles from resources/demo/."""
from __future__ import annotations

import json
from pathlib import Path

from studio.core.import_export import import_demos, import_prompts
from studio.core.oversight_store import add_principle
from studio.core.project import Project

DEMO_RESOURCES = Path(__file__).resolve().parents[2] / "resources" / "demo"


def demo_settings(source: Path = DEMO_RESOURCES) -> dict:
    """demo.json: the rule the tour labels with and the principles."""
    return json.loads((source / "demo.json").read_text(encoding="utf-8"))


def create_demo_project(folder: str | Path, source: Path = DEMO_RESOURCES, model: str = "embedded") -> Project:
    """A ready demo project in `folder` on `model` (an existing project there is opened as it is, nothing added)."""
    folder = Path(folder)
    if (folder / "project.json").exists():
        return Project.open(folder)
    settings = demo_settings(source)
    project = Project.init(folder, model=model)
    with project.store.transaction():
        import_prompts(project.store, source / "prompts.jsonl")
        import_demos(project.store, source / "demos.jsonl")
        for principle in settings["principles"]:
            add_principle(project.store, principle)
    return project


def tour_html(source: Path = DEMO_RESOURCES) -> str:
    return (source / "tour.html").read_text(encoding="utf-8")
