"""The feature cache: one float16 memory-mapped ``.npy`` array per (dataset, split, level).

A cache folder holds ``level<l>.npy`` arrays of shape [N, C, H_l, W_l] (row i = image i of the
split in manifest order) and ``meta.json`` describing how they were made. It is written to a
temporary sibling folder and renamed when complete, so an interrupted extraction never leaves a
folder that looks like a cache. A cache whose metadata differs from the request is an error.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

META_FILE = "meta.json"


class CacheMismatchError(ValueError):
    """The cache on disk was made with other settings or from other images."""


@dataclass(frozen=True)
class CacheMeta:
    """What a cache was made from; two caches with equal metadata hold identical features."""

    backbone: str
    weights: str
    out_index: int
    img_size: int
    levels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    dtype: str
    manifest_hash: str
    split: str
    num_images: int

    @classmethod
    def from_json(cls, text: str) -> CacheMeta:
        fields = json.loads(text)
        fields["mean"], fields["std"] = tuple(fields["mean"]), tuple(fields["std"])
        return cls(**fields)


def level_path(folder: str | os.PathLike, level: int) -> Path:
    return Path(folder) / f"level{level}.npy"


class CacheWriter:
    """Fills a new cache batch by batch; :meth:`commit` makes it visible under its final name.

    Use as a context manager: leaving the block with an exception deletes the temporary folder.
    """

    def __init__(self, folder: str | os.PathLike, meta: CacheMeta,
                 shapes: list[tuple[int, int, int]]):
        self.folder = Path(folder)
        self.meta = meta
        self.tmp = self.folder.with_name(self.folder.name + ".tmp")
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)
        self.arrays = [
            np.lib.format.open_memmap(level_path(self.tmp, level), mode="w+", dtype=meta.dtype,
                                      shape=(meta.num_images, *shape))
            for level, shape in enumerate(shapes)
        ]

    def write(self, level: int, start: int, features: np.ndarray) -> None:
        """Store ``features`` [B, C, H, W] of ``level`` as rows ``start .. start+B-1``."""
        self.arrays[level][start:start + len(features)] = features

    def commit(self) -> Path:
        for array in self.arrays:
            array.flush()
        self.arrays.clear()
        (self.tmp / META_FILE).write_text(json.dumps(asdict(self.meta), indent=2))
        if self.folder.exists():
            shutil.rmtree(self.folder)
        os.replace(self.tmp, self.folder)
        return self.folder

    def __enter__(self) -> CacheWriter:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is not None:
            self.arrays.clear()
            shutil.rmtree(self.tmp, ignore_errors=True)


def read_meta(folder: str | os.PathLike) -> CacheMeta:
    path = Path(folder) / META_FILE
    if not path.is_file():
        raise CacheMismatchError(f"{folder}: not a feature cache (no {META_FILE})")
    return CacheMeta.from_json(path.read_text())


def open_cache(folder: str | os.PathLike, expected: CacheMeta | None = None) -> list[np.ndarray]:
    """Memory-map the level arrays of a cache, each [N, C, H_l, W_l] float16 (read-only).

    With ``expected``, every metadata field must match; the error names each field that differs.
    """
    meta = read_meta(folder)
    if expected is not None and meta != expected:
        found, wanted = asdict(meta), asdict(expected)
        diffs = [f"{key}: cache has {found[key]!r}, requested {wanted[key]!r}"
                 for key in wanted if found[key] != wanted[key]]
        raise CacheMismatchError(f"{folder}: feature cache does not match the request ("
                                 + "; ".join(diffs) + ")")
    arrays = [np.load(level_path(folder, level), mmap_mode="r") for level in range(meta.levels)]
    for array in arrays:
        if len(array) != meta.num_images:
            raise CacheMismatchError(f"{folder}: {len(array)} rows, metadata says "
                                     f"{meta.num_images}")
    return arrays


def assemble_cache(folder: str | os.PathLike, meta: CacheMeta, image_paths: list[str],
                   parts: list[tuple[list[str], str | os.PathLike]]) -> Path:
    """Build a cache for ``image_paths`` by copying rows of existing caches (no backbone).

    ``parts`` lists (image paths of a cache's rows, cache folder); the Union's features are its
    members' features. Every part must have been made with the same settings as ``meta``
    (backbone, weights, sizes, levels, normalisation), and every image must be found in a part.
    """
    where: dict[str, tuple[int, int]] = {}
    sources = []
    for part, (paths, cache) in enumerate(parts):
        part_meta = read_meta(cache)
        for key in ("backbone", "weights", "out_index", "img_size", "levels", "mean", "std",
                    "dtype"):
            if getattr(part_meta, key) != getattr(meta, key):
                raise CacheMismatchError(f"{cache}: made with {key}={getattr(part_meta, key)!r},"
                                         f" requested {getattr(meta, key)!r}")
        sources.append(open_cache(cache))
        where.update({path: (part, row) for row, path in enumerate(paths)})
    missing = [path for path in image_paths if path not in where]
    if missing:
        raise CacheMismatchError(f"{len(missing)} image(s) in no member cache, e.g. {missing[0]}")
    shapes = [tuple(array.shape[1:]) for array in sources[0]]
    with CacheWriter(folder, meta, shapes) as writer:
        for start, path in enumerate(image_paths):
            part, row = where[path]
            for level, array in enumerate(sources[part]):
                writer.write(level, start, array[row:row + 1])
        return writer.commit()
