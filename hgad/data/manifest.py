"""The manifest: the single description of a dataset that everything downstream reads.

One row per image with the columns of :data:`COLUMNS`. ``split`` is ``train``, ``test`` or, for a
dataset with one, ``validation`` (normal images used by neither training nor the test metrics).
``label`` is 0 for a normal image and 1 for an anomalous one; ``mask`` is empty for normal
images. Categories are dataset-qualified only in the Union setting; :func:`class_names` gives
the stable class index (sorted names).
``fingerprint`` holds the size and mtime of the image (and its mask) when the manifest was made,
so a file rewritten in place changes the manifest and everything made from it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd

from hgad.runtime.atomic import replace_atomically
from hgad.runtime.fingerprint import file_stamp

COLUMNS = ["dataset", "category", "split", "label", "defect", "image", "mask", "fingerprint"]
SPLITS = ("train", "test")  # every category has both
VALIDATION = "validation"  # normal images of a dataset's own validation split (MVTec AD 2), if any


class ManifestError(ValueError):
    """A dataset folder or manifest that cannot be used; the message names the file."""


def make_manifest(rows: list[dict]) -> pd.DataFrame:
    """Build a manifest from row dicts, checked and in a stable order (category, split, image).

    The ``fingerprint`` of each row is taken from the files now (any given one is ignored).
    """
    frame = pd.DataFrame(rows, columns=COLUMNS)
    if frame.empty:
        raise ManifestError("no images found")
    frame["label"] = frame["label"].astype(int)
    frame["mask"] = frame["mask"].fillna("").astype(str)
    frame["fingerprint"] = [
        ";".join(file_stamp(path) for path in (image, mask) if path)
        for image, mask in zip(frame["image"], frame["mask"], strict=True)
    ]
    frame["defect"] = frame["defect"].astype(str)
    bad = frame[~frame["split"].isin((*SPLITS, VALIDATION))]
    if not bad.empty:
        raise ManifestError(f"{bad['image'].iloc[0]}: unknown split {bad['split'].iloc[0]!r}")
    missing = frame[(frame["label"] == 1) & (frame["mask"] == "")]
    if not missing.empty:
        raise ManifestError(f"{missing['image'].iloc[0]}: anomalous image without a mask")
    return frame.sort_values(["category", "split", "image"], kind="stable").reset_index(drop=True)


def write_manifest(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write atomically: a temporary file in the same folder, then a rename."""
    replace_atomically(path, lambda tmp: frame.to_csv(tmp, index=False))


def read_manifest(path: str | os.PathLike) -> pd.DataFrame:
    """Read a manifest written by :func:`write_manifest`; a missing column is an error (but
    ``fingerprint``, which a manifest written by hand may lack)."""
    frame = pd.read_csv(path, dtype={"category": str, "defect": str, "fingerprint": str},
                        keep_default_na=False)
    absent = [c for c in COLUMNS if c not in frame.columns and c != "fingerprint"]
    if absent:
        raise ManifestError(f"{path}: missing column(s) {', '.join(absent)}")
    if "fingerprint" not in frame.columns:  # a manifest written by hand
        frame["fingerprint"] = ""
    frame["label"] = frame["label"].astype(int)
    return frame[COLUMNS]


def manifest_hash(path: str | os.PathLike) -> str:
    """sha256 of the manifest file: identifies exactly which images a feature cache holds."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def class_names(frame: pd.DataFrame) -> list[str]:
    """Category names in class-index order (sorted, so the index is stable across runs)."""
    return sorted(frame["category"].unique())


def select_split(frame: pd.DataFrame, split: str) -> pd.DataFrame:
    """Rows of one split, index reset: row i is item i of that split's feature cache."""
    return frame[frame["split"] == split].reset_index(drop=True)
