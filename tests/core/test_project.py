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
