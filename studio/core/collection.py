"""Cyclic garbage collection held off while the window starts and its model loads.

Start-up makes millions of objects that live as long as the process (torch's and transformers' modules, Qt's
wrappers, the tokenizer), and each of the collector's full passes walks all of them: measured on the embedded
model, a cached start spent about 0.9 s of its 4.5 s in such passes (the tokenizer's load alone 0.35 s against
0.14 s). So the window pauses collection before it builds (`pause`), and the model host resumes it once the model
is loaded or has failed to load (`resume`; it freezes the loaded model and all start-up made out of every later
pass). Nothing is lost meanwhile: reference counting frees all but cycles, and the first pass after collects
those.
"""
from __future__ import annotations

import gc

_paused = [False]  # whether `pause` turned collection off (and so `resume` turns it back on)


def pause() -> None:
    """Turn cyclic collection off until `resume`, unless something else already did."""
    if gc.isenabled():
        gc.disable()
        _paused[0] = True


def resume() -> None:
    """Turn collection back on if `pause` turned it off."""
    if _paused[0]:
        _paused[0] = False
        gc.enable()
