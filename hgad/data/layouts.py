"""Manifest builders for each dataset layout (quirks: ``docs/datasets.md#layouts``).

Every builder returns a :func:`~hgad.data.manifest.make_manifest` frame and takes a
``categories`` filter (None or [] = all; an unknown name is an error naming it).

- ``mvtec`` and ``folder``: the MVTec AD layout, indexed by :func:`~hgad.data.mvtec.mvtec_manifest`
  (any category names; greyscale images become RGB at loading, not here).
- ``btad``: ``BTech_Dataset_transformed/<01|02|03>/{train/ok,test/ok,test/ko,ground_truth/ko}``.
- ``mvtec3d``: RGB only, ``<cat>/{train,test}/<label>/rgb/*.png``, masks in ``.../gt/``.
- ``visa``: the official one-class split ``split_csv/1cls.csv``.
- ``mvtec_ad2``: MVTec AD 2 with its validation split
  (:func:`~hgad.data.mvtec_ad2.mvtec_ad2_manifest`).
- ``realiad``: Real-IAD from its JSON splits (:func:`~hgad.data.realiad.realiad_manifest`).
- ``union``: several manifests together with dataset-qualified categories (``mvtec/bottle``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

from hgad.data.folders import (
    category_folders,
    dataset_root,
    find_mask,
    image_files,
    manifest_row,
    select_categories,
    subfolders,
)
from hgad.data.manifest import SPLITS, ManifestError, make_manifest
from hgad.data.mvtec import mvtec_manifest
from hgad.data.mvtec_ad2 import mvtec_ad2_manifest
from hgad.data.realiad import realiad_manifest

# Published image counts per split: {dataset: {split: {"normal"|"anomalous"|"total": n}}}.
PUBLISHED_COUNTS = {
    "mvtec": {"train": {"total": 3629}, "test": {"total": 1725}},
    "visa": {"train": {"total": 8659}, "test": {"normal": 962, "anomalous": 1200}},
    "mvtec_ad2": {"train": {"total": 2528}, "validation": {"total": 302},
                  "test": {"total": 1789}},
}

BTAD_FOLDER = "BTech_Dataset_transformed"
BTAD_FOLDERS = {"train": ("ok",), "test": ("ok", "ko")}
BTAD_ANOMALOUS = "ko"
MVTEC3D_FOLDER = "mvtec_3d_anomaly_detection"
MVTEC3D_NORMAL = "good"
VISA_SPLIT_CSV = Path("split_csv") / "1cls.csv"
VISA_COLUMNS = ["object", "split", "label", "image", "mask"]
VISA_LABELS = {"normal": 0, "anomaly": 1}
UNION_DATASET = "union"


def _existing(folder: Path) -> Path:
    """``folder``, which must exist."""
    if not folder.is_dir():
        raise ManifestError(f"{folder}: missing folder")
    return folder


def _mask_with_stem(folder: Path, image: Path, suffixes: tuple[str, ...]) -> Path:
    """The mask of ``image`` in ``folder``: same stem, one of ``suffixes``."""
    return find_mask(image, folder, [f"{image.stem}{suffix}" for suffix in suffixes])


def btad_manifest(
    root: str | Path, dataset: str, categories: list[str] | None = None
) -> pd.DataFrame:
    """Manifest of BTAD; ``root`` is ``BTech_Dataset_transformed`` or the folder holding it.

    Defect names are the folder names ``ok`` (label 0) and ``ko`` (label 1). Images are .bmp or
    .png depending on the category; masks have the image's stem, .png (.bmp for category 03).
    """
    root = dataset_root(root, BTAD_FOLDER)
    rows = []
    for category in select_categories(root, category_folders(root), categories):
        for split, defects in BTAD_FOLDERS.items():
            for defect in defects:
                label = int(defect == BTAD_ANOMALOUS)
                for image in image_files(_existing(root / category / split / defect)):
                    truth = root / category / "ground_truth" / defect
                    mask = _mask_with_stem(truth, image, (".png", ".bmp")) if label else None
                    rows.append(manifest_row(dataset, category, split, label, defect, image, mask))
    return make_manifest(rows)


def mvtec3d_manifest(
    root: str | Path, dataset: str, categories: list[str] | None = None
) -> pd.DataFrame:
    """Manifest of the RGB images of MVTec 3D-AD (``xyz/`` and the validation split ignored)."""
    root = dataset_root(root, MVTEC3D_FOLDER)
    rows = []
    for category in select_categories(root, category_folders(root), categories):
        for split in SPLITS:
            split_dir = _existing(root / category / split)
            for label_dir in subfolders(split_dir):
                defect = label_dir.name
                label = int(defect != MVTEC3D_NORMAL)
                if split == "train" and label:
                    raise ManifestError(f"{label_dir}: training images must be in train/good")
                for image in image_files(_existing(label_dir / "rgb")):
                    mask = _mask_with_stem(label_dir / "gt", image, (".png",)) if label else None
                    rows.append(manifest_row(dataset, category, split, label, defect, image, mask))
    return make_manifest(rows)


def _read_visa_split(path: Path) -> pd.DataFrame:
    """The one-class split table, columns and labels checked."""
    if not path.is_file():
        raise ManifestError(f"{path}: VisA split file not found")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    absent = [c for c in VISA_COLUMNS if c not in table.columns]
    if absent:
        raise ManifestError(f"{path}: missing column(s) {', '.join(absent)}")
    unknown = sorted(set(table["label"]) - set(VISA_LABELS))
    if unknown:
        raise ManifestError(f"{path}: unknown label(s) {', '.join(map(repr, unknown))}")
    return table


def visa_manifest(
    root: str | Path, dataset: str, categories: list[str] | None = None
) -> pd.DataFrame:
    """Manifest of VisA from ``split_csv/1cls.csv`` (paths relative to ``root``).

    Defect names are the split file's labels ``normal`` (label 0) and ``anomaly`` (label 1).
    """
    root = dataset_root(root)
    table = _read_visa_split(root / VISA_SPLIT_CSV)
    wanted = select_categories(root / VISA_SPLIT_CSV, set(table["object"]), categories)
    rows = [
        manifest_row(dataset, item.object, item.split, VISA_LABELS[item.label], item.label,
             root / item.image, root / item.mask if item.mask else None)
        for item in table[table["object"].isin(wanted)].itertuples(index=False)
    ]
    return make_manifest(rows)


def union_manifest(parts: Iterable[tuple[str, pd.DataFrame]]) -> pd.DataFrame:
    """Several datasets' manifests as one, categories qualified as ``<name>/<category>``.

    The dataset column becomes ``union``. The result does not depend on the order of ``parts``,
    so the class index (sorted category names) is unique and stable.
    """
    parts = list(parts)
    if not parts:
        raise ManifestError("union: no datasets given")
    names = [name for name, _ in parts]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ManifestError(f"union: dataset(s) given more than once: {', '.join(repeated)}")
    frames = [
        frame.assign(dataset=UNION_DATASET, category=f"{name}/" + frame["category"].astype(str))
        for name, frame in parts
    ]
    return make_manifest(pd.concat(frames, ignore_index=True).to_dict("records"))


# Layouts whose manifests hold a validation split.
VALIDATED_LAYOUTS = frozenset({"mvtec_ad2"})

LAYOUTS: dict[str, Callable[..., pd.DataFrame]] = {
    "mvtec": mvtec_manifest,
    "folder": mvtec_manifest,
    "btad": btad_manifest,
    "mvtec3d": mvtec3d_manifest,
    "visa": visa_manifest,
    "mvtec_ad2": mvtec_ad2_manifest,
    "realiad": realiad_manifest,
}


def build_manifest(
    layout: str, root: str | Path, dataset: str, categories: list[str] | None = None,
    **options,
) -> pd.DataFrame:
    """Manifest of the dataset at ``root`` in ``layout`` (one of :data:`LAYOUTS`); ``options``
    go to the layout's builder (``realiad``: ``images``, ``splits``).

    ``union`` is not a single-root layout: build its parts, then call :func:`union_manifest`.
    """
    if layout not in LAYOUTS:
        raise ManifestError(
            f"{root}: unknown layout {layout!r} (known: {', '.join(sorted(LAYOUTS))}; "
            "union is built with union_manifest)"
        )
    return LAYOUTS[layout](root, dataset, categories, **options)
