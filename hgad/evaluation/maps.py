"""Anomaly maps on disk: what evaluation writes and the figures read.

One file per category, ``<maps_dir>/<category>.npy`` ('/' in a Union category's name becomes
'__'), float16 [N, msk_size, msk_size] in the order of that category's test rows in the manifest.
"""

from __future__ import annotations

from pathlib import Path

from hgad.runtime.atomic import PathLike


def map_path(maps_dir: PathLike, category: str) -> Path:
    """The maps file of ``category`` in ``maps_dir``."""
    return Path(maps_dir) / f"{category.replace('/', '__')}.npy"
