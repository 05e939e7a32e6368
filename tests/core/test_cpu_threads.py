"""Torch's threads follow the free cores: one per core others leave free, at least one, a reserve kept."""
import pytest

from studio.core import cpu_threads
from studio.core.cpu_threads import choose_threads


@pytest.mark.parametrize("cores, busy, reserve, threads", [
    (2, 0.0, 0, 2), (2, 0.1, 0, 2),     # a quiet laptop: every core
    (2, 1.0, 0, 1), (2, 0.8, 0, 1),     # one busy process: leave its core
    (2, 0.6, 0, 2),                     # a core used 60% of the time is not taken
    (2, 2.0, 0, 1), (2, 5.0, 0, 1),     # all taken: still one thread
    (8, 2.9, 0, 5), (8, 1.0, 1, 6),     # the GUI keeps a core for its window
    (2, 0.0, 1, 1), (2, None, 0, 2),    # load unknown: as if quiet
])
def test_one_thread_per_free_core(cores, busy, reserve, threads):
    assert choose_threads(cores, busy, reserve) == threads


def test_the_measured_load_decides_and_the_environment_overrides(monkeypatch):
    monkeypatch.delenv("STUDIO_TORCH_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(cpu_threads, "usable_cores", lambda: [0, 1, 2, 3])
    seen = []
    monkeypatch.setattr(cpu_threads, "busy_cores", lambda cores: seen.append(cores) or 1.0)
    assert cpu_threads.torch_threads() == 3 and cpu_threads.torch_threads(reserve=1) == 2
    assert seen == [[0, 1, 2, 3]] * 2
    monkeypatch.setattr(cpu_threads, "usable_cores", lambda: [0, 1])
    assert cpu_threads.torch_threads(reserve=1) == 1 and len(seen) == 2  # one thread either way: not measured
    assert cpu_threads.torch_threads() == 1 and len(seen) == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert cpu_threads.torch_threads() == 1
    monkeypatch.setenv("STUDIO_TORCH_THREADS", "4")
    assert cpu_threads.torch_threads() == 4


def test_busy_cores_reads_only_this_process_s_cores(monkeypatch):
    import psutil

    monkeypatch.setattr(psutil, "cpu_percent", lambda interval, percpu: [100.0, 0.0, 90.0, 50.0])
    assert cpu_threads.busy_cores([1, 3]) == pytest.approx(0.5)
    assert cpu_threads.busy_cores([0, 2]) == pytest.approx(1.9)
