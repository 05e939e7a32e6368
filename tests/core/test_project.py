import json

import pytest

from studio.core.project import Project, ProjectError


def test_init_open_and_model(tmp_path):
    root = tmp_path / "new" / "proj"
    project = Project.init(root)
    assert project.model_spec == "embedded" and (root / "runs").is_dir()
    assert set(json.loads((root / "project.json").read_text())) >= {"model", "created"}
    project.store.add_prompt("P")
    assert (root / "studio.db").is_file()
    (tmp_path / "my-model").mkdir()
    project.set_model(tmp_path / "my-model")
    project.close()

    again = Project.open(root)
    assert again.model_spec == str(tmp_path / "my-model")
    assert [p.text for p in again.store.prompts()] == ["P"]
    assert again.run_dir(3) == root / "runs" / "3" and (root / "runs" / "3").is_dir()
    again.close()


def test_init_on_existing_project_opens_it(tmp_path):
    Project.init(tmp_path, model=tmp_path)
    assert Project.init(tmp_path, model="embedded").model_spec == str(tmp_path)


def test_open_refuses_non_project(tmp_path):
    with pytest.raises(ProjectError, match="not an Alignment Studio project"):
        Project.open(tmp_path)
    (tmp_path / "project.json").write_text("{oops")
    with pytest.raises(ProjectError, match="cannot read"):
        Project.open(tmp_path)


def test_init_refuses_unwritable_place(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(ProjectError, match="a_file"):
        Project.init(blocker / "proj")


@pytest.mark.parametrize("stored, expected", [
    ("runs/7/adapter", "runs/7/adapter"),
    ("/old/place/runs/7/adapter", "runs/7/adapter"),
    ("C:\\Users\\ann\\proj\\runs\\7\\adapter", "runs/7/adapter"),
    ("/a/runs/7/b/runs/7/adapter", "runs/7/adapter"),
    ("runs/7", None), ("runs/8/adapter", None), ("runs/7/../8/adapter", None), ("x/runs/7/adapter", None),
    ("/home/ann/.ssh", None), ("", None), (None, None),
])
def test_artifact_in_run_accepts_only_paths_inside_that_run(stored, expected):
    from studio.core.store import artifact_in_run

    assert artifact_in_run(7, stored) == expected


def test_check_output_guards_the_project_and_the_model(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    project = Project.init(tmp_path / "p", model=model)
    (tmp_path / "link").symlink_to(tmp_path / "p")
    for inside in (tmp_path / "p", tmp_path / "p" / "studio.db", tmp_path / "p" / "runs" / "1" / "x",
                   tmp_path / "link" / "out.jsonl", model, model / "config.json"):
        with pytest.raises(ValueError, match="refusing to write"):
            project.check_output(inside)
    assert project.check_output(tmp_path / "out.jsonl") == tmp_path / "out.jsonl"
    assert project.check_output(tmp_path / "p2" / "x", folder=True) == tmp_path / "p2" / "x"  # a sibling
