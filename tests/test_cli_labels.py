import json
from contextlib import closing

from studio.cli import main
from studio.core import active
from studio.core.project import Project
from studio.core.ratings import Ratings
from tests.training.helpers import marker_pairs


def _out(capsys, argv) -> str:
    capsys.readouterr()
    assert main(argv) == 0
    return capsys.readouterr().out


def test_export_most_informative_first_and_agreement_in_status(tmp_path, tiny_model_dir, capsys):
    proj = tmp_path / "p"
    assert main(["init", str(proj), "--model", str(tiny_model_dir)]) == 0
    prefs = tmp_path / "prefs.jsonl"
    prefs.write_text("".join(json.dumps({k: p[k] for k in ("prompt", "chosen", "rejected")}) + "\n"
                             for p in marker_pairs(16, seed=4)))
    assert main(["prefs", "import", str(proj), str(prefs)]) == 0
    with closing(Project.open(proj)) as project:
        store = project.store
        for pair in marker_pairs(5, seed=5):
            p = store.add_prompt(pair["prompt"] + "?")
            store.add_comparison(p, [store.add_response(p, pair[s], "base") for s in ("chosen", "rejected")])
    out = tmp_path / "todo.jsonl"
    assert main(["comparisons", "export", str(proj), str(out), "--order", "uncertain"]) == 0
    assert "arrival order" in capsys.readouterr().err  # no reward model yet
    arrival = [json.loads(line)["comparison_id"] for line in out.read_text().splitlines()]
    assert arrival == sorted(arrival) and len(arrival) == 5

    assert main(["train", "reward", str(proj), "--steps", "2", "--set", "eval_fraction=0"]) == 0
    with closing(Project.open(proj)) as project:  # the next comparison is guessed by the export, not by training
        p = project.store.add_prompt("late prompt")
        project.store.add_comparison(p, [project.store.add_response(p, t, "base") for t in ("banana", "pear")])
    capsys.readouterr()
    assert main(["comparisons", "export", str(proj), str(out), "--order", "uncertain", "--force"]) == 0
    assert "guessed 1 new" in capsys.readouterr().err
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    spreads = [r["reward_model"]["spread"] for r in rows]
    assert len(rows) == 6 and spreads == sorted(spreads, reverse=True)

    with closing(Project.open(proj)) as project:
        unsure = active.unsure_count(project.store)
        c = rows[0]["comparison_id"]
        project.store.add_ranking(c, [[0], [1]], "me")
        project.store.add_ranking(c, [[1], [0]], "you")
    status = json.loads(_out(capsys, ["status", str(proj), "--json"]))
    assert status["unsure"] == unsure - (1 if rows[0]["reward_model"]["unsure"] else 0)
    names = [a["name"] for a in status["agreement"]["annotators"]]
    assert names == ["import", "me", "you"]
    # 2 units, both disagree: alpha = 1 - (n - 1) * o01 / (n0 * n1) = 1 - 3 * 2 / (2 * 2) = -0.5
    assert status["agreement"]["pairs"][-1] == {"kind": "rankings", "a": "me", "b": "you", "shared": 1, "alpha": -0.5}
    text = _out(capsys, ["status", str(proj)])
    assert "pair me / you, rankings: alpha -0.500 on 1 shared items" in text
    assert "annotator import: 16 rankings" in text


def test_guidelines_set_and_show(tmp_path, capsys):
    proj = tmp_path / "p"
    main(["init", str(proj)])
    guide = tmp_path / "g.md"
    guide.write_text("# Rules\nPrefer honest answers.\n", encoding="utf-8")
    assert main(["guidelines", str(proj), "--set", str(guide)]) == 0
    assert _out(capsys, ["guidelines", str(proj)]) == "# Rules\nPrefer honest answers.\n\n"
    assert main(["guidelines", str(proj), "--set", str(tmp_path / "missing.md")]) == 1
    assert "missing.md" in capsys.readouterr().err


def test_pack_export_and_import(tmp_path, capsys):
    from studio.core import packs

    proj = tmp_path / "p"
    main(["init", str(proj)])
    with closing(Project.open(proj)) as project:
        for i in range(4):
            p = project.store.add_prompt(f"q{i}")
            project.store.add_comparison(p, [project.store.add_response(p, f"a{i}{j}", "base") for j in range(2)])
    pack = tmp_path / "x.pack"
    assert "packed 2 comparisons, 3 more answers to rate" in _out(
        capsys, ["pack", "export", str(proj), "--out", str(pack), "--count", "2", "--answers", "3"])
    with packs.open_pack(pack) as store:
        store.add_ranking(store.comparisons()[1].id, [[1], [0]], "ann")
        Ratings(store).add(store.responses()[-1].id, True, "ann")
    assert "imported 1 rankings, 1 ratings and 0 repeats" in _out(capsys, ["pack", "import", str(proj), str(pack)])
    assert "imported 0 rankings, 0 ratings and 0 repeats from" in _out(capsys, ["pack", "import", str(proj), str(pack)])
    with packs.open_pack(pack) as store:
        store.db.execute("UPDATE prompts SET text = 'q9' WHERE id = 1")
        store.db.conn.commit()
    assert main(["pack", "import", str(proj), str(pack)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "tampered" in err and err.count("\n") == 1
