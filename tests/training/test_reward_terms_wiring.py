"""A reward made of terms, wired end to end on the tiny model: the scores that reach GRPO's round are the weighted
sum of the terms (hand-computed from the round's answers), each term's mean is stored as `reward/<term>` every
round, the run's config records the terms, and a Python reward function runs only when named on the command line."""
import json

import pytest

import studio.training.grpo as grpo
from studio.core.project import Project
from studio.core.reward_terms import TERMS_KEY, parse_terms
from studio.training import runs
from studio.training.online_configs import GRPOConfig
from studio.training.judge import Judge
from studio.training.term_rewards import TermReward, command_line, judge_scores, load_functions
from tests.judge_model import PRINCIPLE
from tests.training.helpers import tiny_base

REWARD_FILE = "def score(prompts, answers, references):\n    return [float(len(a) % 3) for a in answers]\n"
TERMS = ["2*rule:shorter:8", "-0.5*rule:contains:a", "rule:number"]


def shorter_8(text: str) -> float:
    return 1.0 if len(text) <= 8 else 8 / len(text)


def by_hand(text: str) -> dict[str, float]:
    """Each term's score of one answer, written out by hand (the references are 4, and the model writes random
    characters: a number match is rare but counted the same way)."""
    digits = "".join(c if c.isdigit() or c == "." else " " for c in text).split()
    number = 1.0 if digits and digits[-1].strip(".") and float(digits[-1].strip(".") or "nan") == 4 else 0.0
    return {"shorter:8": shorter_8(text), "contains:a": float("a" in text.lower()), "number": number,
            "file:score": float(len(text) % 3)}


WEIGHTS = {"shorter:8": 2.0, "contains:a": -0.5, "number": 1.0, "file:score": 3.0}


@pytest.fixture
def arithmetic(tmp_path, tiny_model_dir) -> Project:
    project = Project.init(tmp_path / "p", model=tiny_model_dir)
    for i in range(4):
        project.store.set_prompt_answer(project.store.add_prompt(f"{i}+{4 - i}?"), "4")
    return project


def test_the_round_gets_the_weighted_sum_and_each_term_is_stored(arithmetic, tiny_model_dir, tmp_path,
                                                                 monkeypatch):
    seen = []
    real_learn = grpo.learn

    def spy(base, optimizer, config, this, hooks):
        seen.append((this.iteration, list(this.batch.texts), this.scores.tolist(), dict(this.scorer_metrics)))
        return real_learn(base, optimizer, config, this, hooks)

    monkeypatch.setattr(grpo, "learn", spy)
    path = tmp_path / "my_reward.py"
    path.write_text(REWARD_FILE, encoding="utf-8")
    terms, files = command_line(TERMS, [f"3*{path}:score"])
    functions = load_functions(files)
    config = GRPOConfig(iterations=2, batch_size=2, samples_per_prompt=3, max_new_tokens=12)
    run_id, result = runs.train(arithmetic, tiny_base(tiny_model_dir), "grpo", config, terms=terms,
                                functions=functions)
    assert result.status == "finished" and len(seen) == 2
    stored = {}
    for row in arithmetic.store.metrics(run_id):
        stored.setdefault(row["step"], {})[row["name"]] = row["value"]
    for iteration, texts, scores, _ in seen:
        hand = [by_hand(t) for t in texts]
        assert scores == pytest.approx([sum(WEIGHTS[n] * h[n] for n in WEIGHTS) for h in hand], abs=1e-6)
        for name in WEIGHTS:
            assert stored[iteration][f"reward/{name}"] == pytest.approx(sum(h[name] for h in hand) / len(hand))
        assert stored[iteration]["reward"] == pytest.approx(sum(scores) / len(scores), abs=1e-6)
        assert "reward/reward_model" not in stored[iteration]  # no such term: no stand-in either
    run = arithmetic.store.run(run_id)
    assert run.config[TERMS_KEY] == ["2*rule:shorter:8", "-0.5*rule:contains:a", "rule:number", "3*file:score"]
    assert run.config["_reward"] is None
    assert REWARD_FILE not in str(run.config) and str(path) not in str(run.config)  # the code is never stored


def test_a_resume_needs_the_reward_file_again_and_never_reads_the_project(arithmetic, tiny_model_dir, tmp_path):
    """A project sent by someone else, whose run names a reward function and holds a file of that name, cannot make
    the studio run it: the resume is refused before any model loads, and the planted code never runs."""
    marker = tmp_path / "ran"
    planted = (f"import pathlib\npathlib.Path({str(marker)!r}).write_text('x')\n"
               "def score(p, a, r):\n    return [0.0] * len(a)\n")
    for where in (arithmetic.root / "score.py", arithmetic.root / "runs" / "score.py"):
        where.parent.mkdir(exist_ok=True)
        where.write_text(planted, encoding="utf-8")
    run_id = arithmetic.store.create_run("grpo", {**GRPOConfig().__dict__, "_init": None, "_reward": None,
                                                  TERMS_KEY: ["rule:shorter:8", "file:score"]})
    arithmetic.store.update_run(run_id, status="cancelled")
    with pytest.raises(ValueError, match=r"give --reward-file PATH.py:score again \(code is never stored"):
        runs.check_terms(arithmetic, "grpo", None, {}, resume=run_id)
    given = tmp_path / "mine.py"
    given.write_text(REWARD_FILE, encoding="utf-8")
    terms, files = command_line(None, [f"{given}:score"])  # the user names the file again: the resume may go
    functions = load_functions(files)
    assert [t.name for t in runs.check_terms(arithmetic, "grpo", terms, functions, resume=run_id)] == \
        ["shorter:8", "file:score"]
    with pytest.raises(ValueError, match="--reward-term cannot change a resumed run"):
        runs.check_terms(arithmetic, "grpo", ["rule:json"], functions, resume=run_id)
    for stored in (["file:/tmp/evil.py:score"], ["file:score.py:score"]):  # a path in a stored term: refused too
        arithmetic.store.db.execute("UPDATE runs SET config = json_set(config, '$._reward_terms', json(?)) "
                                    "WHERE id = ?", [json.dumps(stored), run_id])
        with pytest.raises(ValueError, match="needs its Python file"):
            runs.check_terms(arithmetic, "grpo", None, {}, resume=run_id)
    assert not marker.exists()


def test_the_judge_term_scores_wins_losses_and_abstentions(judge_model_dir):
    """On the tiny judge (tests.judge_model): within a group each pair is read in both orders; kiwi vs plum is a
    position bias, so both get 0; the snack answers are settled 2 > 1 > 0. Alone (PPO), an answer meets the
    prompt's reference answer."""
    judge = Judge(tiny_base(judge_model_dir))
    prompts = ["say a fruit"] * 2 + ["name a snack"] * 3
    responses = ["kiwi", "plum", "toast", "banana split", "banana banana cake"]
    assert judge_scores(judge, PRINCIPLE, prompts, responses, {}) == [0.0, 0.0, -1.0, 0.0, 1.0]
    assert judge_scores(judge, PRINCIPLE, ["say a fruit"], ["a lemon"], {"say a fruit": "a banana"}) == [-1.0]
    assert judge_scores(judge, PRINCIPLE, ["say a fruit"], ["banana bread"], {"say a fruit": "no fruit"}) == [1.0]
    reward = TermReward(parse_terms([f"2*judge:{PRINCIPLE}", "rule:longer:5"]), None, judge=judge)
    scores = reward.score_fn(True)(prompts, responses)
    assert scores.values.tolist() == pytest.approx([0.8, 0.8, -2 + 1.0, 1.0, 2 + 1.0])
    assert scores.metrics[f"reward/judge:{PRINCIPLE}"] == pytest.approx(0.0)
