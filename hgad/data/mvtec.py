"""Manifest of a folder in the MVTec AD layout (also the demo's and users' own ``folder`` layout).

    <root>/<category>/train/good/*.png
    <root>/<category>/test/<good|defect>/*.png
    <root>/<category>/ground_truth/<defect>/<stem>_mask.png
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hgad.data.folders import (
    NORMAL,
    category_folders,
    dataset_root,
    find_mask,
    image_files,
    manifest_row,
    select_categories,
    subfolders,
)
from hgad.data.manifest import ManifestError, make_manifest


def _mask_for(root: Path, category: str, defect: str, image: Path) -> Path:
    names = [f"{image.stem}_mask{suffix}" for suffix in (image.suffix, ".png")]
    return find_mask(image, root / category / "ground_truth" / defect, names)


def mvtec_manifest(
    root: str | Path, dataset: str, categories: list[str] | None = None
) -> pd.DataFrame:
    """Index ``root`` (MVTec layout) into a manifest; ``categories`` filters, None or [] = all.

    Category names are the folder names as they are, so any user folder works.
    """
    root = dataset_root(root)
    rows = []
    for category in select_categories(root, category_folders(root), categories):
        for split in ("train", "test"):
            split_dir = root / category / split
            if not split_dir.is_dir():
                raise ManifestError(f"{split_dir}: missing split folder")
            for defect_dir in subfolders(split_dir):
                defect = defect_dir.name
                label = int(defect != NORMAL)
                if split == "train" and label:
                    raise ManifestError(f"{defect_dir}: training images must be in train/good")
                for image in image_files(defect_dir):
                    mask = _mask_for(root, category, defect, image) if label else None
                    rows.append(manifest_row(dataset, category, split, label, defect, image, mask))
        if not any(r["category"] == category and r["split"] == "train" for r in rows):
            raise ManifestError(f"{root / category}: category has no training images")
    return make_manifest(rows)
