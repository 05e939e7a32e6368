"""An online run's samples table reaches the hacking monitor: the rows the engine shows raise and store alarms."""
from types import SimpleNamespace

from studio.core.oversight_store import alarms
from studio.core.store import Store
from studio.training.engine import Hooks
from studio.training.runs import _recording_hooks
from tests.core.alarm_corpus import NONWORDS


def test_the_recorded_samples_feed_the_monitor():
    store, shown = Store(None), []
    run_id = store.create_run("ppo", {"target_kl": 6.0})
    hooks = _recording_hooks(SimpleNamespace(store=store), run_id, Hooks(on_samples=lambda s, r: shown.append(s)))
    for round_ in range(1, 4):
        hooks.metrics(round_, {"reward": 0.1 * round_})
        hooks.samples(round_, [{"prompt": p, "response": a} for p, a in NONWORDS[4 * round_ - 4:4 * round_]])
    assert shown == [1, 2, 3] and len(store.samples(run_id)) == 12
    raised = [(a.signal, a.began, a.raised) for _, a in alarms(store, run_id)]
    assert raised == [("nonwords", 1, 2)]  # six answers suffice
