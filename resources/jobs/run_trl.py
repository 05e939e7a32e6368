"""Runs one TRL script module as __main__ and frees its process groups only after the script has returned.

    python run_trl.py trl.scripts.sft --config trl_config.yaml [TRL arguments...]

Why this file exists: TRL's scripts end with `trainer.end()`, which destroys the default process group while
DDP's Reducer still holds it. When `main()` returns, freeing the trainer frees the Reducer, and with it the last
reference to the gloo process group, from C++ with the GIL held; gloo's destructor then joins its worker
threads, which wait for the GIL: the rank hangs for ever after training and saving (seen on 2 CPU ranks).
Here every group that is destroyed stays referenced from Python until the trainer is gone, and is then dropped
from Python, where torch's binding releases the GIL before the destructor runs.
"""
import gc
import runpy
import sys

import torch.distributed as dist
from torch.distributed import distributed_c10d

_kept: list = []
_destroy = dist.destroy_process_group


def destroy_keeping(group=None):
    """torch.distributed.destroy_process_group, but the destroyed groups stay referenced here."""
    world = getattr(distributed_c10d, "_world", None)
    _kept.extend(list(world.pg_map) if group is None and world is not None else [group])
    _destroy(group)


def main() -> None:
    module, sys.argv = sys.argv[1], [sys.argv[1], *sys.argv[2:]]
    dist.destroy_process_group = destroy_keeping
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    gc.collect()  # the trainer, DDP and its Reducer go while the groups are still referenced
    _kept.clear()


if __name__ == "__main__":
    main()
