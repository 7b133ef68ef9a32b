"""Folder helpers every dataset layout uses: image listing, the dataset's root folder, category
selection (with a hint when the folder holds no category), manifest rows."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from hgad.data.manifest import ManifestError
from hgad.runtime.fingerprint import is_hidden

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
NORMAL = "good"


def visible_entries(folder: Path) -> list[Path]:
    """The files and folders directly in ``folder``, sorted, hidden ones skipped (a Mac's
    ``._000.png`` companions, ``.DS_Store``: :func:`hgad.runtime.fingerprint.is_hidden`)."""
    return sorted(p for p in folder.iterdir() if not is_hidden(p.name))


def subfolders(folder: Path) -> list[Path]:
    """The folders directly in ``folder``, sorted, hidden ones skipped."""
    return [p for p in visible_entries(folder) if p.is_dir()]


def image_files(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted, hidden ones skipped."""
    return [p for p in visible_entries(folder) if p.suffix.lower() in IMAGE_SUFFIXES]


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
    return [p.name for p in subfolders(root) if (p / "train").is_dir()]


def _names(paths: list[Path], limit: int = 5) -> str:
    shown = ", ".join(repr(p.name) for p in paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def top_level(root: Path) -> str:
    """What ``root`` (which holds no category folder) holds, and which folder to give as ``root:``
    when one folder wraps the categories (an archive's top folder)."""
    entries = visible_entries(root)
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


def find_mask(image: Path, folder: Path, names: Iterable[str]) -> Path:
    """The mask of the anomalous ``image``: the first of the file ``names`` found in ``folder``."""
    for name in names:
        mask = folder / name
        if mask.is_file():
            return mask
    raise ManifestError(f"{image}: anomalous image without a mask (looked in {folder})")


def manifest_row(dataset: str, category: str, split: str, label: int, defect: str, image: Path,
                 mask: Path | None) -> dict:
    """One manifest row."""
    return dict(dataset=dataset, category=category, split=split, label=label, defect=defect,
                image=str(image), mask=str(mask) if mask else "")
