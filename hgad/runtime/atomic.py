"""Atomic file writes: a result file either holds its complete content or does not exist."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

PathLike = str | os.PathLike


def replace_atomically(path: PathLike, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` for a temporary path beside ``path``, then rename it to ``path``.

    The rename is atomic on one file system; if ``write`` fails, the temporary file is removed
    and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
