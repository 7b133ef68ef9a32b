"""Anomaly maps on disk: what evaluation writes and the figures read.

One file per category, ``<maps_dir>/<category>.npy`` ('/' in a Union category's name becomes
'__'), float16 [N, msk_size, msk_size] in the order of that category's test rows in the manifest,
and ``maps.json``: ``resize``, how the images were made square
(:data:`hgad.data.images.RESIZE_MODES`), so that the masks are read to match the maps.
"""

from __future__ import annotations

import json
from pathlib import Path

from hgad.runtime.atomic import PathLike, replace_atomically

INFO_FILE = "maps.json"


def map_path(maps_dir: PathLike, category: str) -> Path:
    """The maps file of ``category`` in ``maps_dir``."""
    return Path(maps_dir) / f"{category.replace('/', '__')}.npy"


def write_maps_info(maps_dir: PathLike, resize: str) -> None:
    """Record in ``maps_dir`` how the images of its maps were made square."""
    replace_atomically(Path(maps_dir) / INFO_FILE,
                       lambda tmp: tmp.write_text(json.dumps({"resize": resize})))


def maps_resize(maps_dir: PathLike) -> str:
    """How the images of the maps in ``maps_dir`` were made square (``crop`` for maps written
    before this was recorded)."""
    info = Path(maps_dir) / INFO_FILE
    return json.loads(info.read_text())["resize"] if info.is_file() else "crop"
