"""The model host keeps a job's Python work from stalling the GUI thread (the GIL and the garbage collector)."""
from __future__ import annotations

import gc
import statistics
import sys
import threading
import time

import pytest

from studio.core.project import Project
from studio.workers.job import ModelHost


@pytest.fixture
def host(project):
    """A host on the tiny-model project, its model loaded as a job loads it; thawed and reset afterwards."""
    switch = sys.getswitchinterval()
    opened = Project.open(project)
    host = ModelHost(project, device="cpu")
    with host.lock:
        host.base(opened, lambda _text: None)
    yield host
    host.unload()
    opened.close()
    sys.setswitchinterval(switch)


def tracked(obj: object) -> bool:
    """Whether the garbage collector's collections walk `obj` (frozen objects are not in `gc.get_objects`)."""
    return any(o is obj for o in gc.get_objects())


def test_the_loaded_model_is_out_of_the_collectors_walks_until_unloaded(host):
    base = host._base
    assert gc.get_freeze_count() > 0
    assert not tracked(base.base) and not tracked(base.tokenizer)
    host.unload()
    assert gc.get_freeze_count() == 0
    assert tracked(base.base)


def test_a_busy_thread_hands_the_gil_back_within_about_a_millisecond(host):
    """The GUI thread waits for the GIL each time a slot runs; a job thread running Python gives it up after
    1 ms (Python's default: 5 ms, so the median wait would be >= 5 ms)."""
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            pass

    spinner = threading.Thread(target=spin)
    spinner.start()
    waits = []
    try:
        for _ in range(40):
            t0 = time.perf_counter()
            time.sleep(0)  # releases the GIL; the spinner takes it
            waits.append(time.perf_counter() - t0)
    finally:
        stop.set()
        spinner.join()
    assert statistics.median(waits) < 0.003


def test_the_window_s_model_load_imports_no_engine(project):
    """The model is ready as soon as it is loaded: the engines (`studio.training.runs` and everything it imports)
    come with the first job that uses one, not with the load the window starts with."""
    import subprocess

    code = f"""
import sys
from studio.core.project import Project
from studio.workers.job import ModelHost
host = ModelHost({str(project)!r}, device="cpu")
with host.lock:
    base = host.base(Project.open({str(project)!r}), print)
assert base.tokenizer is not None and host.info["params"] > 0
assert "studio.training.runs" not in sys.modules, "the engines were imported"
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_collection_paused_for_the_window_s_start_is_back_once_the_model_loaded_or_failed(project, monkeypatch):
    """The window pauses cyclic collection while it starts (`core.collection`); the model host's first load turns
    it back on, whether the model loaded or not, and only a pause the window made."""
    from studio.core import collection
    from studio.training import models

    def broken(*_args, **_kwargs):
        raise models.ModelLoadError("no such model")

    assert gc.isenabled()
    opened = Project.open(project)
    for load in (broken, models.load_model):
        monkeypatch.setattr(models, "load_model", load)
        collection.pause()
        assert not gc.isenabled()
        host = ModelHost(project, device="cpu")
        with host.lock:
            if load is broken:
                with pytest.raises(models.ModelLoadError):
                    host.base(opened, lambda _text: None)
            else:
                assert host.base(opened, lambda _text: None) is not None
        assert gc.isenabled()
        host.unload()
    opened.close()
    gc.disable()  # a pause someone else made is theirs to end
    collection.pause()
    collection.resume()
    assert not gc.isenabled()
    gc.enable()
