"""How many threads torch should use on a CPU that other programs may be using (no torch here).

Torch's threads wait for one another at every matrix product; beside a busy process one of them keeps losing its
core, and the others spin waiting for it: on two cores, two threads beside one busy process ran the reward-model
stage about 6x slower than on a quiet machine (issue 26), where one thread on the free core would lose about the
half of the CPU the other process took. So a run takes one thread per core that is free when it starts, at least
one, keeping `reserve` cores for a thread of its own (the GUI keeps one for its window). "Free" is read from the
CPU use of the cores this process may run on over a quarter of a second (psutil), else from the 1-minute load
average; a core counts as busy from three quarters of its time on. $STUDIO_TORCH_THREADS, else $OMP_NUM_THREADS (a
choice the user made), overrides.
"""
from __future__ import annotations

import os

BUSY_AT = 0.75      # a core's worth of use that counts as one busy core
SAMPLE_S = 0.25


def usable_cores() -> list[int]:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def busy_cores(cores: list[int], sample_s: float = SAMPLE_S) -> float | None:
    """How many of `cores` other work keeps busy now (this process idle while measuring), in cores; None where
    neither psutil nor a load average is available."""
    try:
        import psutil
    except ImportError:
        return min(os.getloadavg()[0], len(cores)) if hasattr(os, "getloadavg") else None
    per_cpu = psutil.cpu_percent(interval=sample_s, percpu=True)
    return sum(per_cpu[i] for i in cores if i < len(per_cpu)) / 100


def choose_threads(cores: int, busy: float | None, reserve: int = 0) -> int:
    """Threads for a run on `cores` cores of which `busy` are taken by others (None: unknown, taken as 0), keeping
    `reserve` for the caller's own thread: one per free core, at least one."""
    taken = int(busy + (1 - BUSY_AT)) if busy is not None else 0
    return max(1, cores - reserve - taken)


def torch_threads(reserve: int = 0) -> int:
    """$STUDIO_TORCH_THREADS or $OMP_NUM_THREADS, else `choose_threads` for this process's cores as used now."""
    for name in ("STUDIO_TORCH_THREADS", "OMP_NUM_THREADS"):
        if os.environ.get(name, "").strip().isdigit() and int(os.environ[name]) > 0:
            return int(os.environ[name])
    cores = usable_cores()
    if len(cores) - reserve <= 1:  # one thread whatever the others do: no quarter second spent measuring them
        return 1
    return choose_threads(len(cores), busy_cores(cores), reserve)
