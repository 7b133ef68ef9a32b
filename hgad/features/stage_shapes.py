"""The channels and stride of a timm backbone's stage, remembered from one process to the next.

:func:`hgad.features.backbone.stage_shape` builds the timm model that knows them, which imports
timm and torchvision: seconds that every workflow run would pay for its settings summary
(:mod:`hgad.reporting.run_summary`). The answers are kept in ``stage_shapes.json`` in the user's
cache folder (``$XDG_CACHE_HOME/hgad-bench``, else ``~/.cache/hgad-bench``), under timm's
version, the backbone's name and the stage; a file that cannot be read or written only costs
the model being built again.
"""

from __future__ import annotations

import json
import os
from importlib.metadata import version
from pathlib import Path

from hgad.runtime.atomic import replace_atomically


def cache_file() -> Path:
    """Where the known stage shapes are kept."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "hgad-bench" / "stage_shapes.json"


def stage_shape(name: str, out_index: int) -> tuple[int, int]:
    """(channels, stride) of stage ``out_index`` of timm model ``name``; raises as
    :func:`hgad.features.backbone.stage_shape` does for a name or stage timm does not know."""
    key = f"timm {version('timm')}: {name}, stage {out_index}"
    path = cache_file()
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    if key not in known:
        from hgad.features import backbone

        known[key] = list(backbone.stage_shape(name, out_index))
        try:
            replace_atomically(path, lambda tmp: tmp.write_text(json.dumps(known, indent=1)))
        except OSError:
            pass  # a read-only cache folder: the shape is computed again next time
    channels, stride = known[key]
    return channels, stride
