"""A running job's progress bar and status line: its step, the time left, and the phase it is in."""
from __future__ import annotations

import time

from PySide6.QtWidgets import QLabel, QProgressBar


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes} min {seconds:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


class RunProgress:
    """Drives `bar` and `status` from a job's progress and messages; the time left is measured from the first
    step reported, so a slow start (model load, reference pass) does not skew it."""

    def __init__(self) -> None:
        self.bar = QProgressBar(textVisible=False)
        self.status = QLabel(wordWrap=True)
        self._origin: tuple[float, int] | None = None
        self._step_text = ""  # "Step 3 of 20 · about 9 s left"
        self._phase = ""  # what the job does now (its last message since that step)

    def begin(self) -> None:
        self._origin = None
        self.bar.setRange(0, 0)  # busy until the first step is done
        self._step_text, self._phase = "", "Starting…"
        self.show()

    def show(self, stopping: bool = False) -> None:
        parts = ["Stopping now, keeping the last checkpoint…" if stopping else self._step_text, self._phase]
        self.status.setText(" · ".join(part for part in parts if part))

    def message(self, text: str, stopping: bool = False) -> None:
        self._phase = text
        self.show(stopping)

    def step(self, step: int, total: int, stopping: bool = False) -> None:
        now = time.monotonic()
        if self._origin is None:
            self._origin = (now, step)
        self.bar.setRange(0, total)
        self.bar.setValue(step)
        started, first = self._origin
        eta = (f" · about {duration((now - started) / (step - first) * (total - step))} left"
               if first < step < total else "")  # after the last step, the phase that follows says what it does
        self._step_text, self._phase = f"Step {step} of {total}{eta}", ""  # a message after it says what follows
        self.show(stopping)

    def end(self, text: str) -> None:
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.status.setText(text)
