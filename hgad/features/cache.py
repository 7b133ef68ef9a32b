"""The feature cache: one float16 memory-mapped ``.npy`` array per (dataset, split, level).

A cache folder holds ``level<l>.npy`` arrays of shape [N, C, H_l, W_l] (row i = image i of the
split in manifest order) and ``meta.json`` describing how they were made, with a ``digest`` of
the arrays' bytes computed when the cache is committed (the content identity that training
fingerprints). It is written to a temporary sibling folder and renamed when complete, so an
interrupted extraction never leaves a folder that looks like a cache. A cache whose metadata
differs from the request is an error, and so is a truncated file (named, with the remedy).

A union cache holds no features: ``index.npy`` [N, 2] maps each of its rows to (member, row of
that member's cache), and ``meta.json`` lists the member caches (relative paths) and their
digests. :func:`open_cache` gives the same row access for both kinds.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

META_FILE = "meta.json"
INDEX_FILE = "index.npy"


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
    resize: str = "crop"  # hgad.data.images.RESIZE_MODES; caches made before it are "crop"
    precision: str = "fp32"  # the backbone's (features.precision); caches made before it: fp32

    @classmethod
    def from_dict(cls, values: dict) -> CacheMeta:
        """The metadata fields of a ``meta.json`` content (other keys are ignored)."""
        known = {f.name: values[f.name] for f in fields(cls) if f.name in values}
        known["mean"], known["std"] = tuple(known["mean"]), tuple(known["std"])
        return cls(**known)


def level_path(folder: str | os.PathLike, level: int) -> Path:
    return Path(folder) / f"level{level}.npy"


def _remedy(folder: str | os.PathLike) -> str:
    return (f"delete {folder} and run the workflow again (or rerun it with "
            f"snakemake --forcerun {folder})")


def _fresh_folder(folder: Path) -> Path:
    """An empty temporary sibling of ``folder`` to write a cache into."""
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def _publish(tmp: Path, folder: Path, meta: CacheMeta, **extra) -> Path:
    """Write ``meta.json`` (the fields of ``meta`` and ``extra``) into ``tmp``, then rename
    ``tmp`` to ``folder`` (replacing an older cache)."""
    (tmp / META_FILE).write_text(json.dumps({**asdict(meta), **extra}, indent=2))
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    return folder


def _files_digest(paths: list[Path]) -> str:
    """sha256 over the bytes of ``paths``, in order."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()


class CacheWriter:
    """Fills a new cache batch by batch; :meth:`commit` makes it visible under its final name.

    Use as a context manager: leaving the block with an exception deletes the temporary folder.
    """

    def __init__(self, folder: str | os.PathLike, meta: CacheMeta,
                 shapes: list[tuple[int, int, int]], *, weights_digest: str | None):
        """``weights_digest``: :func:`hgad.features.backbone.weights_digest` of the backbone
        that makes the features (None for random weights), kept for the model files trained
        on them."""
        if weights_digest is None and meta.weights != "none":
            raise ValueError(f"{folder}: a cache of {meta.weights!r} weights needs their digest")
        self.folder = Path(folder)
        self.meta = meta
        self.weights_digest = weights_digest
        self.tmp = _fresh_folder(self.folder)
        self.arrays = [
            np.lib.format.open_memmap(level_path(self.tmp, level), mode="w+", dtype=meta.dtype,
                                      shape=(meta.num_images, *shape))
            for level, shape in enumerate(shapes)
        ]

    def write(self, level: int, start: int, features: np.ndarray) -> None:
        """Store ``features`` [B, C, H, W] of ``level`` as rows ``start .. start+B-1``."""
        self.arrays[level][start:start + len(features)] = features

    def commit(self) -> Path:
        """Flush the arrays, digest them into ``meta.json`` and rename the folder into place."""
        for array in self.arrays:
            array.flush()
        self.arrays.clear()
        digest = _files_digest([level_path(self.tmp, level) for level in range(self.meta.levels)])
        return _publish(self.tmp, self.folder, self.meta, digest=digest,
                        weights_digest=self.weights_digest)

    def __enter__(self) -> CacheWriter:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is not None:
            self.arrays.clear()
            shutil.rmtree(self.tmp, ignore_errors=True)


def _read_json(folder: str | os.PathLike) -> dict:
    path = Path(folder) / META_FILE
    if not path.is_file():
        raise CacheMismatchError(f"{folder}: not a feature cache (no {META_FILE})")
    return json.loads(path.read_text())


def read_meta(folder: str | os.PathLike) -> CacheMeta:
    return CacheMeta.from_dict(_read_json(folder))


def read_digest(folder: str | os.PathLike) -> str:
    """The content identity written when the cache was committed: equal digests, equal rows."""
    digest = _read_json(folder).get("digest")
    if digest is None:
        raise CacheMismatchError(f"{folder}: feature cache without a content digest (made by an"
                                 f" older version); {_remedy(folder)}")
    return digest


def read_weights_digest(folder: str | os.PathLike) -> str | None:
    """The digest of the backbone weights that made the cache's features (None: random)."""
    values = _read_json(folder)
    if "weights_digest" not in values:
        raise CacheMismatchError(f"{folder}: feature cache without its backbone's weights digest"
                                 f" (made by an older version); {_remedy(folder)}")
    return values["weights_digest"]


def _checked_npy(path: Path, rows: int, folder: str | os.PathLike) -> np.ndarray:
    """Memory-map the ``.npy`` file ``path`` (read-only) after checking that it is complete and
    holds ``rows`` rows; otherwise the error names the file and the remedy."""
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(handle)
            expected = handle.tell() + int(np.prod(shape)) * dtype.itemsize
            size = os.fstat(handle.fileno()).st_size
    except FileNotFoundError:
        raise CacheMismatchError(f"{path}: missing from the feature cache; "
                                 f"{_remedy(folder)}") from None
    except (ValueError, EOFError) as error:
        raise CacheMismatchError(f"{path}: damaged feature-cache file ({error}); "
                                 f"{_remedy(folder)}") from None
    if size < expected:
        raise CacheMismatchError(f"{path}: truncated feature-cache file ({size} bytes, {expected}"
                                 f" expected for {list(shape)} {dtype}); {_remedy(folder)}")
    if not shape or shape[0] != rows:
        raise CacheMismatchError(f"{path}: shape {list(shape)}, metadata says {rows} rows; "
                                 f"{_remedy(folder)}")
    return np.load(path, mmap_mode="r")


class UnionLevel:
    """One level of a union cache, read in place from its members' arrays.

    Row i is row ``rows[i]`` of member ``members[i]``'s level array. Indexes like those arrays
    ([N, C, H, W] float16): ``level[batch]`` with an index array or a slice gives [B, C, H, W] in
    the order of ``batch``; ``level[i]`` gives one row [C, H, W].
    """

    def __init__(self, sources: list[np.ndarray], members: np.ndarray, rows: np.ndarray):
        self.sources, self.members, self.rows = sources, members, rows
        self.shape = (len(rows), *sources[0].shape[1:])
        self.dtype = sources[0].dtype

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def nbytes(self) -> int:
        """The bytes of every row (as for an array: what reading it whole takes)."""
        return int(np.prod(self.shape)) * self.dtype.itemsize

    def __getitem__(self, key) -> np.ndarray:
        members, rows = self.members[key], self.rows[key]
        if np.ndim(rows) == 0:
            return self.sources[members][rows]
        out = np.empty((len(rows), *self.shape[1:]), self.dtype)
        for member, source in enumerate(self.sources):
            chosen = members == member
            if chosen.any():
                out[chosen] = source[rows[chosen]]
        return out

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """Every row, read into memory (``np.asarray(level)``)."""
        return self[:] if dtype is None else self[:].astype(dtype)


def open_cache(folder: str | os.PathLike,
               expected: CacheMeta | None = None) -> list[np.ndarray | UnionLevel]:
    """The level arrays of a cache, each [N, C, H_l, W_l] float16, read-only: memory maps, or
    :class:`UnionLevel` for a union cache. Every file is checked to be complete first.

    With ``expected``, every metadata field must match; the error names each field that differs.
    """
    values = _read_json(folder)
    meta = CacheMeta.from_dict(values)
    if expected is not None and meta != expected:
        found, wanted = asdict(meta), asdict(expected)
        diffs = [f"{key}: cache has {found[key]!r}, requested {wanted[key]!r}"
                 for key in wanted if found[key] != wanted[key]]
        raise CacheMismatchError(f"{folder}: feature cache does not match the request ("
                                 + "; ".join(diffs) + ")")
    if "members" in values:
        return _open_union(Path(folder), meta, values["members"])
    return [_checked_npy(level_path(folder, level), meta.num_images, folder)
            for level in range(meta.levels)]


def _open_union(folder: Path, meta: CacheMeta, members: list[dict]) -> list[UnionLevel]:
    index = np.asarray(_checked_npy(folder / INDEX_FILE, meta.num_images, folder))
    sources = []
    for member in members:
        cache = Path(os.path.normpath(folder / member["cache"]))
        if read_digest(cache) != member["digest"]:
            raise CacheMismatchError(f"{folder}: member cache {cache} changed since the union was"
                                     f" indexed; {_remedy(folder)}")
        sources.append(open_cache(cache))
    return [UnionLevel([arrays[level] for arrays in sources], index[:, 0], index[:, 1])
            for level in range(meta.levels)]


def write_union_cache(folder: str | os.PathLike, meta: CacheMeta, image_paths: list[str],
                      parts: list[tuple[list[str], str | os.PathLike]]) -> Path:
    """Index ``image_paths`` into existing caches: a union cache (no features are copied).

    ``parts`` lists (image paths of a cache's rows, cache folder); the Union's features are its
    members' features. Every part must have been made with the same settings as ``meta``
    (backbone, weights, sizes, levels, normalisation), and every image must be found in a part.
    The digest covers the index and the members' digests.
    """
    folder = Path(folder)
    where: dict[str, tuple[int, int]] = {}
    members = []
    weights = None
    for part, (paths, cache) in enumerate(parts):
        part_meta = read_meta(cache)
        part_weights = read_weights_digest(cache)
        if part and part_weights != weights:
            raise CacheMismatchError(f"{cache}: made with other backbone weights than "
                                     f"{parts[0][1]} (weights digest {part_weights}, not "
                                     f"{weights})")
        weights = part_weights
        for key in ("backbone", "weights", "out_index", "img_size", "levels", "mean", "std",
                    "precision", "dtype"):
            if getattr(part_meta, key) != getattr(meta, key):
                raise CacheMismatchError(f"{cache}: made with {key}={getattr(part_meta, key)!r},"
                                         f" requested {getattr(meta, key)!r}")
        if part_meta.num_images != len(paths):
            raise CacheMismatchError(f"{cache}: {part_meta.num_images} rows, its manifest lists"
                                     f" {len(paths)} images")
        open_cache(cache)  # complete files, checked now rather than when training reads them
        members.append({"cache": os.path.relpath(cache, folder), "digest": read_digest(cache)})
        where.update({path: (part, row) for row, path in enumerate(paths)})
    missing = [path for path in image_paths if path not in where]
    if missing:
        raise CacheMismatchError(f"{len(missing)} image(s) in no member cache, e.g. {missing[0]}")
    index = np.array([where[path] for path in image_paths], dtype=np.int64).reshape(-1, 2)
    digest = hashlib.sha256(index.tobytes())
    for member in members:
        digest.update(member["digest"].encode())
    tmp = _fresh_folder(folder)
    try:
        np.save(tmp / INDEX_FILE, index)
        return _publish(tmp, folder, meta, digest=digest.hexdigest(), members=members,
                        weights_digest=weights)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
