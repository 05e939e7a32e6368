"""Write a file so that readers see either the old content or the new, never half of it."""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a new, uniquely named empty file beside `path` that replaces `path` when the block succeeds and is
    removed when it fails; no other file is ever touched (an unrelated `x.tmp` stays)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(21, "it is a folder: give a file name", str(path))
    if not path.parent.is_dir():
        raise FileNotFoundError(2, f"the folder {path.parent} does not exist", str(path))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_writer(path: str | Path) -> Iterator[TextIO]:
    """Yield a UTF-8 text file (no newline translation) that replaces `path` when the block succeeds."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
        yield f
        f.flush()
        os.fsync(f.fileno())
