"""Cheap identities of inputs, so that a changed input is never mistaken for the old one.

Files are identified by size and modification time (one ``stat`` each, no reading): rewriting
an image in place, even with the same name and size, changes its ``mtime_ns``. Code is
identified by a digest of its source.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import hgad

# The modules that define the model, the losses, the schedule, the training loop and its
# batches, the warm start and the model file's inference record: a checkpoint made by other
# versions of them is not resumed (hgad/training/train.py).
TRAINING_CODE = ("model/network.py", "model/flow.py", "model/prior.py", "training/schedule.py",
                 "training/train.py", "features/batches.py", "training/warm_start.py",
                 "prediction/inference.py")
# What makes the feature caches: an edit reruns extraction (workflow/rules/features.smk).
EXTRACTION_CODE = ("features/backbone.py", "features/extract.py", "features/cache.py",
                   "data/images.py")
# What turns a model (or the kNN baseline) and the caches into maps and metrics: an edit reruns
# evaluation, snapshot scoring and the baseline (workflow/rules/evaluate.smk, baselines.smk).
SCORING_CODE = ("model/network.py", "model/flow.py", "model/prior.py", "features/cache.py",
                "evaluation/score.py", "evaluation/evaluate.py", "evaluation/metrics.py",
                "evaluation/conditioning.py", "evaluation/knn.py", "evaluation/maps.py",
                "evaluation/seg_f1.py")


def file_stamp(path: str | os.PathLike) -> str:
    """``<bytes>-<mtime_ns>`` of a file; ``missing`` when there is none."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return "missing"
    return f"{stat.st_size}-{stat.st_mtime_ns}"


def _stamps(folder: str) -> list[tuple[str, int, int]]:
    """(path, bytes, mtime_ns) of every file under ``folder``; hidden names are skipped
    (Snakemake's ``.snakemake_timestamp``, ``.DS_Store``)."""
    stamps = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                stamps += _stamps(entry.path)
            else:
                stat = entry.stat()
                stamps.append((entry.path, stat.st_size, stat.st_mtime_ns))
    return stamps


def folder_fingerprint(folder: str | os.PathLike) -> str:
    """``<n> files, <digest>`` over the names, sizes and mtimes of every file under ``folder``
    (``absent`` when it does not exist): equal for an untouched folder, different after any
    file was added, removed or rewritten."""
    if not os.path.isdir(folder):
        return "absent"
    folder = os.fspath(folder)
    stamps = sorted((path[len(folder):], size, mtime) for path, size, mtime in _stamps(folder))
    digest = hashlib.sha256(repr(stamps).encode())
    return f"{len(stamps)} files, {digest.hexdigest()[:16]}"


def code_digest(modules: tuple[str, ...]) -> str:
    """sha256 of the source of ``modules`` (paths inside the package; read, not imported: no
    torch needed)."""
    digest = hashlib.sha256()
    package = Path(hgad.__file__).parent
    for name in modules:
        digest.update(name.encode() + b"\0" + (package / name).read_bytes())
    return digest.hexdigest()


def training_code_digest() -> str:
    """:func:`code_digest` of :data:`TRAINING_CODE`."""
    return code_digest(TRAINING_CODE)
