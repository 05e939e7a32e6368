"""bench/leash.py reads a stored run's KL per token and words per answer, round by round."""
import importlib.util
from pathlib import Path

import pytest

from studio.core.project import DB_NAME
from studio.core.store import Store

spec = importlib.util.spec_from_file_location("leash", Path(__file__).parents[2] / "bench" / "leash.py")
leash = importlib.util.module_from_spec(spec)
spec.loader.exec_module(leash)


def stored_run(path: Path) -> tuple[Store, int]:
    store = Store(path / DB_NAME)
    run_id = store.create_run("ppo", {"target_kl": 6.0})
    store.update_run(run_id, status="finished")
    for step, (kl, tokens, answers) in enumerate([(2.0, 10.0, ["one two three four", "a b"]),
                                                   (6.0, 6.0, ["Breakfast.", "Don't ask."]),
                                                   (6.0, 4.0, ["Up."])], 1):
        store.add_metrics(run_id, step, {"kl": kl, "response_length": tokens, "reward": 0.1})
        store.add_samples(run_id, step, [{"prompt": "q", "response": a} for a in answers])
    return store, run_id


def test_kl_per_token_and_words_per_round(tmp_path):
    store, run_id = stored_run(tmp_path)
    rows = leash.leash_rows(store, run_id)
    assert [(r["round"], r["kl_per_token"], r["words"], r["kl_per_word"]) for r in rows] == [
        (1, 0.2, 3.0, pytest.approx(2 / 3)), (2, 1.0, 1.5, 4.0), (3, 1.5, 1.0, 6.0)]
    found = leash.summary(rows, 6.0)
    assert found["words_first"] == 3.0 and found["words_last"] == 1.0 and found["kl_per_token_late"] == 1.5
    assert found["r_kl_per_token_words"] < -0.9  # the leash tightened per token as the answers shrank


def test_the_script_prints_a_table_and_refuses_a_folder_without_a_project(tmp_path, capsys):
    stored_run(tmp_path)[0].close()
    assert leash.main([str(tmp_path), "--run", "latest:ppo"]) == 0
    assert "KL/token" in capsys.readouterr().out
    assert leash.main([str(tmp_path / "nowhere")]) == 1
    assert capsys.readouterr().err.startswith("error: ")
