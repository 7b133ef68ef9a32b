"""Manifest of a folder in the MVTec AD layout (also the demo's and users' own ``folder`` layout).

    <root>/<category>/train/good/*.png
    <root>/<category>/test/<good|defect>/*.png
    <root>/<category>/ground_truth/<defect>/<stem>_mask.png

The folder helpers here (image listing, category selection, manifest rows) serve the other
layouts of :mod:`hgad.data.layouts` too.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from hgad.data.manifest import ManifestError, make_manifest

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
NORMAL = "good"


def image_files(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def dataset_root(root: str | Path, wrapper: str | None = None) -> Path:
    """``root`` as a folder; ``root/wrapper`` instead when the archive's top folder is there."""
    root = Path(root)
    if not root.is_dir():
        raise ManifestError(f"{root}: dataset folder does not exist")
    if wrapper and (root / wrapper).is_dir():
        return root / wrapper
    return root


def select_categories(where: Path, found: Iterable[str], categories: list[str] | None) -> list[str]:
    """The wanted categories among those ``found`` (None or [] = all of them)."""
    found = sorted(found)
    if not found:
        hint = f": {top_level(where)}" if where.is_dir() else ""
        raise ManifestError(f"{where}: no categories found{hint}")
    unknown = sorted(set(categories or []) - set(found))
    if unknown:
        raise ManifestError(f"{where}: categories not found: {', '.join(unknown)}")
    return list(dict.fromkeys(categories)) if categories else found


def category_folders(root: Path) -> list[str]:
    """Names of the sub-folders of ``root`` that hold a ``train/`` folder."""
    return [p.name for p in root.iterdir() if (p / "train").is_dir()]


def _names(paths: list[Path], limit: int = 5) -> str:
    shown = ", ".join(repr(p.name) for p in paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def top_level(root: Path) -> str:
    """What ``root`` (which holds no category folder) holds, and which folder to give as ``root:``
    when one folder wraps the categories (an archive's top folder)."""
    entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    folders = [p for p in entries if p.is_dir()]
    wrappers = [(p, len(category_folders(p))) for p in folders]
    wrappers = [(p, count) for p, count in wrappers if count]
    if len(wrappers) == 1:
        (folder, count), = wrappers
        found = (f"one folder {folder.name!r} holding" if len(folders) == 1 else
                 f"{len(folders)} folders, of which {folder.name!r} holds")
        return f"found {found} {count} category folder(s); set root: {folder}"
    found = f"{len(folders)} folder(s)" + (f" ({_names(folders)})" if folders else "")
    found += f" and {len(entries) - len(folders)} file(s)"
    if wrappers:
        return (f"found {found}; several hold category folders ({_names([w for w, _ in wrappers])}"
                "): set root: to the one to use")
    return (f"found {found}, none a category folder (one holding train/ and test/) or a folder"
            " of them")


def manifest_row(dataset: str, category: str, split: str, label: int, defect: str, image: Path,
                 mask: Path | None) -> dict:
    """One manifest row."""
    return dict(dataset=dataset, category=category, split=split, label=label, defect=defect,
                image=str(image), mask=str(mask) if mask else "")


def _mask_for(root: Path, category: str, defect: str, image: Path) -> Path:
    folder = root / category / "ground_truth" / defect
    for suffix in (image.suffix, ".png"):
        candidate = folder / f"{image.stem}_mask{suffix}"
        if candidate.is_file():
            return candidate
    raise ManifestError(f"{image}: anomalous image without a mask (looked in {folder})")


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
            for defect_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
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
