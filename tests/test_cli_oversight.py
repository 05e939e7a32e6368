"""`studio rm-report` and the alarms of `studio status`, in-process on the tiny model."""
import json

import pytest

from studio.cli import main
from studio.core import oversight_store as ov
from studio.core.monitor import Alarm
from studio.core.project import Project
from tests.judge_model import CASES, PRINCIPLE, RANKED
from tests.test_cli import write
from tests.training.helpers import marker_pairs


def test_rm_report_matches_the_runs_held_out_accuracy(tmp_path, tiny_model_dir, capsys):
    proj = tmp_path / "p"
    assert main(["init", str(proj), "--model", str(tiny_model_dir)]) == 0
    write(tmp_path / "prefs.jsonl", marker_pairs(40, seed=2))
    assert main(["prefs", "import", str(proj), str(tmp_path / "prefs.jsonl")]) == 0
    assert main(["train", "reward", str(proj), "--steps", "3", "--batch-size", "4", "--set", "max_length=48",
                 "--set", "lora_r=4", "--set", "eval_fraction=0.25", "--device", "cpu"]) == 0
    capsys.readouterr()
    assert main(["rm-report", str(proj), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    run = Project.open(proj).store.resolve_run("latest:reward")
    assert report["split"] == "held-out" and report["pairs"] == 10    # 5 of 20 prompts, 2 pairs each
    assert report["accuracy"] == run.final_metrics["eval_accuracy"]
    assert sum(b["count"] for b in report["bins"]) == 20              # both orientations of each pair
    assert main(["rm-report", str(proj)]) == 0
    assert "ECE" in capsys.readouterr().out
    assert main(["rm-report", str(proj), "--reward", "99"]) == 1


def test_status_lists_alarms(tmp_path, capsys):
    proj = Project.init(tmp_path / "p")
    run = proj.store.create_run("ppo", {})
    ov.add_alarm(proj.store, run, Alarm("entropy", 3, 4, "entropy fell", "raise the KL coefficient"))
    assert main(["status", str(proj.root), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["runs"][0]["alarms"] == [{"signal": "entropy", "began": 3, "raised": 4,
                                            "message": "entropy fell", "action": "raise the KL coefficient"}]
    assert main(["status", str(proj.root)]) == 0
    out = capsys.readouterr().out
    assert "alarm entropy since round 3" in out and "-> raise the KL coefficient" in out


def seeded_project(tmp_path, tiny_model_dir) -> Project:
    project = Project.init(tmp_path / "p", model=str(tiny_model_dir))
    store = project.store
    for i, texts in enumerate([("short", "a much longer answer"), ("a banana!", "no fruit"), ("same", "size")]):
        pid = store.add_prompt(f"q{i}")
        store.add_comparison(pid, [store.add_response(pid, t, "base") for t in texts])
    return project


def test_label_rule_principles_and_agreement(tmp_path, tiny_model_dir, capsys):
    project = seeded_project(tmp_path, tiny_model_dir)
    root = str(project.root)
    project.store.add_ranking(1, [[0], [1]], "ann")
    project.store.add_ranking(2, [[0], [1]], "ann")
    assert main(["label", "rule", root, "--rule", "shorter"]) == 0
    assert "labelled 2 comparisons; 1 left alone" in capsys.readouterr().out
    assert main(["label", "rule", root, "--rule", "regex:("]) == 1
    assert "invalid" in capsys.readouterr().err
    assert main(["agreement", root, "--json"]) == 0
    # places (0, 1), (0, 1) of ann against (0, 1), (1, 0) of the rule: o00 = o11 = 2, o01 = 2, n0 = n1 = 4,
    # alpha = 1 - (8 - 1) * 2 / (4 * 4) = 1/8
    assert json.loads(capsys.readouterr().out) == [{"machine": "rule:shorter", "human": "ann", "shared": 2,
                                                    "agreement": 0.5, "alpha": pytest.approx(0.125)}]
    assert main(["agreement", root]) == 0
    assert "rule:shorter vs ann: 50% same best answer, Krippendorff's alpha +0.125 on 2" in capsys.readouterr().out
    assert main(["status", root]) == 0
    out = capsys.readouterr().out  # the rule is not a person: no alpha between people, its own line against ann
    assert "alpha: rankings -, ratings -" in out and "annotator rule:" not in out
    assert "labeller rule:shorter vs ann, rankings: alpha 0.125 on 2 shared items" in out
    assert main(["principles", root, "--add", "be brief"]) == 0
    assert "be brief" in capsys.readouterr().out


def test_label_ai_and_revise_on_the_tiny_model(tmp_path, tiny_model_dir, judge_model_dir, capsys):
    project = Project.init(tmp_path / "p", model=str(tiny_model_dir))
    store, root = project.store, str(project.root)
    made = []
    for question, answers in CASES:
        pid = store.add_prompt(question)
        made.append(store.add_comparison(pid, [store.add_response(pid, t, "base") for t in answers]))
    assert main(["label", "ai", root, "--principle", PRINCIPLE, "--judge", str(judge_model_dir),
                 "--device", "cpu"]) == 0
    assert "labelled 3 of 4 comparisons; abstained on 1" in capsys.readouterr().out
    labels = {r.comparison_id: r.order for r in store.rankings() if r.annotator == f"ai:{PRINCIPLE}"}
    assert labels == {c: order for c, order in zip(made, RANKED) if order is not None}
    assert ov.principles(project.store) == [(1, PRINCIPLE)]
    assert main(["revise", root, "--principle", "be brief", "--prompt", "q", "--answer", "a long answer",
                 "--save", "--device", "cpu"]) == 0
    assert "saved as demonstration" in capsys.readouterr().out
    assert [d.prompt for d in project.store.demos()] == ["q"]


def test_gold_export_import_and_curve(tmp_path, tiny_model_dir, capsys):
    project = Project.init(tmp_path / "p", model=str(tiny_model_dir))
    store, root = project.store, str(project.root)
    run = store.create_run("ppo", {"_init": "base", "max_new_tokens": 6})
    store.add_metrics(run, 3, {"kl": 1.5})
    store.add_samples(run, 2, [{"prompt": "old", "response": "early", "reward": 0.0}])
    store.add_samples(run, 3, [{"prompt": "q1", "response": "policy one", "reward": 1.0},
                               {"prompt": "q2", "response": "policy two", "reward": 2.0}])
    assert main(["gold", "export", root, str(tmp_path / "gold.jsonl"), "--run", str(run), "--device", "cpu"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "gold.jsonl").read_text().splitlines()]
    assert [(r["run"], r["round"], r["prompt"]) for r in rows] == [(run, 3, "q1"), (run, 3, "q2")]
    checks = {g.comparison_id: g for g in ov.gold_checks(store, run)}
    for row in rows:
        assert row["responses"][checks[row["comparison_id"]].policy_position] in ("policy one", "policy two")
    # the person prefers the policy on q1, the starting policy on q2
    ranked = [{"comparison_id": r["comparison_id"], "annotator": "ann",
               "ranking": [checks[r["comparison_id"]].policy_position ^ (r["prompt"] == "q2"),
                           checks[r["comparison_id"]].policy_position ^ (r["prompt"] != "q2")]} for r in rows]
    write(tmp_path / "ranked.jsonl", ranked)
    assert main(["gold", "import", root, str(tmp_path / "ranked.jsonl")]) == 0
    assert f"run {run} round 3: policy wins 50% of 2 · reward-model score +1.50" in capsys.readouterr().out
    from studio.core.gold import gold_curve

    assert [(p.round, p.judged, p.gold_win_rate, p.kl) for p in gold_curve(store, run)] == [(3, 2, 0.5, 1.5)]
    assert main(["gold", "export", root, str(tmp_path / "again.jsonl"), "--run", str(run), "--device", "cpu"]) == 0
    assert "made 0 gold comparisons" in capsys.readouterr().out
    write(tmp_path / "stray.jsonl", [{"comparison_id": 999, "ranking": [0, 1]}])
    assert main(["gold", "import", root, str(tmp_path / "stray.jsonl")]) == 1


def test_status_prints_the_one_round_command_under_an_alarm_a_round_answers(tmp_path, capsys):
    import shlex

    from studio.core import rounds as plan
    from tests.core.test_rounds import _online_run

    proj = Project.init(tmp_path / "p")
    store, root = proj.store, str(proj.root)
    run = _online_run(store)  # a finished RLOO run with a reward model
    ov.add_alarm(store, run, Alarm("collapse", 1, 3, "the answers are collapsing", "rank these curt answers"))
    ov.add_alarm(store, run, Alarm("entropy", 2, 3, "entropy fell", "raise the temperature"))
    running = store.create_run("ppo", {"_reward": "1"})
    ov.add_alarm(store, running, Alarm("drift", 1, 3, "the answers may no longer address the prompt", "rank them"))
    calm = store.create_run("ppo", {"_reward": "1"})
    ov.add_alarm(store, calm, Alarm("entropy", 1, 2, "entropy fell", "raise the KL coefficient"))
    assert main(["status", root]) == 0
    lines = capsys.readouterr().out.splitlines()
    command = f"python -m studio round {root} --run {run}"
    after = {line: lines[i + 1] if i + 1 < len(lines) else "" for i, line in enumerate(lines)}
    assert after["      -> rank these curt answers"] == f"      -> label what the policy writes now: {command}"
    assert not after["      -> raise the temperature"].startswith("      ->")  # entropy: a setting, not a round
    assert after["      -> rank them"] == (f"      -> no round now: run {running} is a running ppo run: a round goes "
                                            "on from a finished PPO, RLOO or GRPO run")
    assert sum("python -m studio round" in line for line in lines) == 1
    assert main(["status", root, "--json"]) == 0
    offers = {r["id"]: r["round"] for r in json.loads(capsys.readouterr().out)["runs"]}
    assert offers[run] == {"action": "sample", "command": command, "refused": None} and offers[calm] is None
    # the command printed is one the CLI takes: it gets as far as checking K (refused here, before any model loads)
    assert main(shlex.split(command)[3:] + ["--per-prompt", "1"]) == 1
    assert capsys.readouterr().err == "error: a comparison needs at least 2 answers per prompt, got 1\n"
    plan.record_prepared(store, run, [], [])
    assert main(["status", root]) == 0
    assert f"      -> train the round once ranked: {command} --train" in capsys.readouterr().out.splitlines()
