"""Manifest of Real-IAD from its JSON splits (``docs/datasets.md#real-iad``).

    <root>/realiad_jsons/<splits>/<category>.json   splits: realiad_jsons (default),
                                                    realiad_jsons_sv, realiad_jsons_fuiad_0.0, ...
    <root>/<images>/<category>/<image_path>         images: realiad_1024 (default), realiad_256,
                                                    realiad_512, realiad_raw

Each JSON holds ``meta`` (``prefix``, ``normal_class``) and ``train`` / ``test`` lists of entries
with ``image_path``, ``mask_path``, ``anomaly_class`` (the normal class, ``OK``, for normal
images), ``category`` and the view; paths are relative to ``<root>/<images>/<prefix>/``. Every
entry, one view of a sample, is one image of the manifest (the unified-AD papers' protocol).
The download is gated, so Real-IAD is only ever read from a ``root:`` the user holds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from hgad.data import folders
from hgad.data.manifest import SPLITS, ManifestError, make_manifest
from hgad.runtime.config import schema_default

JSONS = "realiad_jsons"
DEFAULT_IMAGES = schema_default("datasets.<name>.realiad.images")
DEFAULT_SPLITS = schema_default("datasets.<name>.realiad.splits")
ACCESS = "https://huggingface.co/datasets/Real-IAD/Real-IAD"


def _split_files(root: Path, splits: str) -> dict[str, Path]:
    """{category: its JSON split file} in ``root/realiad_jsons/<splits>``."""
    folder = root / JSONS / splits
    if not folder.is_dir():
        raise ManifestError(
            f"{folder}: missing; root: must be the Real-IAD folder holding {JSONS}/ and the image "
            f"folders (the download is gated: request access at {ACCESS})")
    return {path.stem: path for path in folder.glob("*.json")}


def _read_split(path: Path) -> dict:
    """A category's JSON split, its keys checked."""
    try:
        content = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ManifestError(f"{path}: unreadable JSON split ({err})") from None
    absent = [key for key in ("meta", *SPLITS) if key not in content]
    if absent:
        raise ManifestError(f"{path}: missing key(s) {', '.join(absent)}")
    return content


def realiad_manifest(root: str | Path, dataset: str, categories: list[str] | None = None,
                     images: str = DEFAULT_IMAGES, splits: str = DEFAULT_SPLITS) -> pd.DataFrame:
    """Index Real-IAD at ``root`` with the JSON splits of ``splits`` and the images of the
    resolution folder ``images``."""
    root = Path(root)
    if not root.is_dir():
        raise ManifestError(f"{root}: Real-IAD folder does not exist (its download is gated: "
                            f"request access at {ACCESS}, then set root: to the folder holding "
                            f"{JSONS}/ and {images}/)")
    files = _split_files(root, splits)
    rows = []
    for category in folders.select_categories(root / JSONS / splits, files, categories):
        content = _read_split(files[category])
        meta = content["meta"]
        base = root / images / meta.get("prefix", category)
        normal = meta.get("normal_class", "OK")
        for split in SPLITS:
            for entry in content[split]:
                label = int(entry["anomaly_class"] != normal)
                if label and not entry.get("mask_path"):
                    raise ManifestError(f"{files[category]}: anomalous {split} image "
                                        f"{entry['image_path']} has no mask_path")
                mask = base / entry["mask_path"] if label else None
                rows.append(folders.manifest_row(dataset, category, split, label,
                                                 entry["anomaly_class"],
                                                 base / entry["image_path"], mask))
    return make_manifest(rows)
