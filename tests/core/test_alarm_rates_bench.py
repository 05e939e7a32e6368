"""bench/alarm_rates.py sorts stored online runs into went-wrong and fine by their late samples, and counts the
alarms each stored against that: caught runs and the false-alarm rate, per signal."""
import importlib.util
from pathlib import Path

from studio.core.monitor import Alarm
from studio.core.oversight_store import add_alarm
from studio.core.project import DB_NAME
from studio.core.store import Store

spec = importlib.util.spec_from_file_location("alarm_rates", Path(__file__).parents[2] / "bench" / "alarm_rates.py")
alarm_rates = importlib.util.module_from_spec(spec)
spec.loader.exec_module(alarm_rates)

HEALTHY = "A compass needle is a small magnet that turns to point north."


def stored_run(store: Store, late: list[str], signals: list[str], kind: str = "ppo") -> int:
    """A finished run with 3 rounds of samples (healthy, healthy, `late`) and `signals` alarms."""
    run_id = store.create_run(kind, {"target_kl": 6.0})
    store.update_run(run_id, status="finished")
    for step, answers in enumerate([[HEALTHY] * 4, [HEALTHY] * 4, late], 1):
        store.add_samples(run_id, step, [{"prompt": "How does a compass work?", "response": a} for a in answers])
    for signal in signals:
        add_alarm(store, run_id, Alarm(signal, 2, 3, "seen", "act"))
    return run_id


def test_went_wrong_caught_and_false_alarms(tmp_path):
    store = Store(tmp_path / DB_NAME)
    broken = stored_run(store, ["Breakfast."] * 3 + [HEALTHY], ["collapse", "length"])  # 3 of 4 degenerate
    missed = stored_run(store, ["Up.", HEALTHY, HEALTHY, HEALTHY], [])  # 1 of 4: exactly the 25% line
    fine = stored_run(store, [HEALTHY] * 4, ["length"])  # a false alarm
    quiet = stored_run(store, [HEALTHY] * 4, [])
    stored_run(store, ["Up."] * 4, ["collapse"], kind="sft")  # offline kinds are not watched: left out
    store.close()
    rows = alarm_rates.run_rows(tmp_path)
    assert [(r["run"], r["went_wrong"], r["alarms"]) for r in rows] == [
        (broken, True, ["collapse", "length"]), (missed, True, []), (fine, False, ["length"]), (quiet, False, [])]
    found = alarm_rates.rates(rows)
    assert (found["went_wrong"], found["fine"], found["caught"], found["false_alarm_rate"]) == (2, 2, 0.5, 0.5)
    assert found["per_signal"] == {"collapse": {"on_wrong": 1, "on_fine": 0}, "length": {"on_wrong": 1, "on_fine": 1}}


def test_replay_counts_the_alarms_today_s_monitor_raises_on_the_stored_rounds(tmp_path):
    store = Store(tmp_path / DB_NAME)
    broken = stored_run(store, ["Breakfast."] * 4, ["length"])  # stored: length; today's monitor: collapse
    store.add_samples(broken, 4, [{"prompt": "How does a compass work?", "response": "Up."}] * 4)
    store.close()
    stored, replayed = alarm_rates.run_rows(tmp_path), alarm_rates.run_rows(tmp_path, replay=True)
    assert [(r["run"], r["alarms"]) for r in stored] == [(broken, ["length"])]
    assert [(r["run"], r["alarms"]) for r in replayed] == [(broken, ["collapse"])]


def test_held_out_judges_each_setting_s_last_run_by_its_kept_answers(tmp_path):
    folder, other = tmp_path / "floor-two-1.0" / "seed2", tmp_path / "floor-one-0.0" / "seed0"
    folder.mkdir(parents=True), other.mkdir(parents=True)
    store = Store(folder / DB_NAME)
    stored_run(store, ["Breakfast."] * 4, [])  # round one: broken in its samples table
    last = stored_run(store, [HEALTHY] * 4, ["length"])  # round two: healthy samples, an alarm
    store.close()
    Store(other / DB_NAME).close()
    rows = [r for p in (folder, other) for r in alarm_rates.run_rows(p)]
    held_out = {"floor two rounds of 30 penalty 1.0 seed 2": {"folder": "floor-two-1.0/seed2",
                                                              "answers": ["Up."] + [HEALTHY] * 3},
                "floor one round of 60 penalty 0.0 seed 1": {"folder": "floor-one-0.0/seed1", "answers": ["Up."] * 4}}
    judged = alarm_rates.judge_held_out(rows, held_out, [folder, other])
    assert [(r["run"], r["degenerate_held_out"], r["went_wrong"]) for r in judged] == [(last, 0.25, True)]
    assert alarm_rates.rates(judged)["caught"] == 1.0
