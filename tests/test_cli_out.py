"""The CLI's export --gguf, job export and runs import refuse bad input in one line and change nothing."""
from studio.cli import main
from studio.core.project import Project


def test_bad_requests_are_refused_with_one_clear_line(tmp_path, capsys):
    project = Project.init(tmp_path / "proj", model="embedded")
    project.store.add_prompt("a prompt")  # a PPO job has its prompts: what it lacks is a reward model
    root = str(project.root)
    cases = [
        (["export", root, "--run", "1"], "export needs --out OUT_DIR (adapter or --merged) or --gguf OUT.gguf"),
        (["export", root, "--run", "1", "--gguf", str(tmp_path / "m.bin")], "must end in .gguf"),
        (["job", "export", root, "--kind", "sft", "--out", str(tmp_path / "job")], "no demonstrations for a sft job"),
        (["job", "export", root, "--kind", "ppo", "--out", str(tmp_path / "job")], "no finished reward run"),
        (["runs", "import", root, str(tmp_path)], "holds no PEFT adapter"),
    ]
    for argv, message in cases:
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, (argv, err)
    assert not (tmp_path / "job").exists() and project.store.runs() == []
