"""Manifest of MVTec AD 2 (``docs/datasets.md#mvtec-ad-2``).

    <root>/<category>/train/good/*.png
    <root>/<category>/validation/good/*.png                      (the manifest's validation split)
    <root>/<category>/test_public/{good,bad}/*.png
    <root>/<category>/test_public/ground_truth/bad/<stem>_mask.png
    <root>/<category>/test_private/*.png, test_private_mixed/*.png  (ground truth withheld)

The private test sets are not indexed: their anomaly maps go to MVTec's evaluation server
(:mod:`hgad.export.mvtec_ad2`), which alone scores them.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hgad.data import folders
from hgad.data.manifest import VALIDATION, ManifestError, make_manifest

WRAPPER = "mvtec_ad_2"
ANOMALOUS = "bad"
PUBLIC_TEST = "test_public"
PRIVATE_TESTS = ("test_private", "test_private_mixed")
# manifest split: (folder, its label folders)
FOLDERS = {"train": ("train", (folders.NORMAL,)),
           VALIDATION: ("validation", (folders.NORMAL,)),
           "test": (PUBLIC_TEST, (folders.NORMAL, ANOMALOUS))}


def _images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ManifestError(f"{folder}: missing folder")
    return folders.image_files(folder)


def _categories(root: Path, categories: list[str] | None) -> list[str]:
    return folders.select_categories(root, folders.category_folders(root), categories)


def mvtec_ad2_root(root: str | Path) -> Path:
    """The folder holding the categories: ``root``, or ``root/mvtec_ad_2`` when it is there."""
    return folders.dataset_root(root, WRAPPER)


def mvtec_ad2_manifest(root: str | Path, dataset: str,
                       categories: list[str] | None = None) -> pd.DataFrame:
    """Index the training, validation and public test images of MVTec AD 2 at ``root``."""
    root = mvtec_ad2_root(root)
    rows = []
    for category in _categories(root, categories):
        for split, (folder, defects) in FOLDERS.items():
            for defect in defects:
                label = int(defect == ANOMALOUS)
                truth = root / category / PUBLIC_TEST / "ground_truth" / defect
                for image in _images(root / category / folder / defect):
                    mask = folders.find_mask(image, truth, [f"{image.stem}_mask.png"]) \
                        if label else None
                    rows.append(folders.manifest_row(dataset, category, split, label, defect,
                                                     image, mask))
    return make_manifest(rows)


def private_images(root: str | Path, categories: list[str] | None = None
                   ) -> dict[tuple[str, str], list[Path]]:
    """The private test images: {(category, split): sorted image files}, ``split`` one of
    :data:`PRIVATE_TESTS`; a missing folder is an error naming it."""
    root = mvtec_ad2_root(root)
    return {(category, split): _images(root / category / split)
            for category in _categories(root, categories)
            for split in PRIVATE_TESTS}
