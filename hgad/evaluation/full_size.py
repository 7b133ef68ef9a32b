"""Anomaly maps and ground truth at each test image's full resolution (``features.resize:
whole``, docs/metrics.md#resolution).

A map is made at ``msk_size`` x ``msk_size`` from the whole image squashed to a square
(:mod:`hgad.data.images`); :func:`to_image_size` stretches it back to the image's own size,
bilinear, for the pixel metrics and for the export to MVTec's evaluation server
(:mod:`hgad.export.mvtec_ad2`) alike. The ground truth is read at the image's size, not resized.
:func:`full_size_metrics_bytes` is the memory this takes, for the workflow's resources.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cache

import numpy as np
from PIL import Image

from hgad.data.images import binarize_mask
from hgad.data.manifest import read_manifest, select_split
from hgad.evaluation.metrics import SORT_BYTES_PER_PIXEL, Images

# What the evaluation holds per pixel of a category at full size: the float32 score and the
# pixel metrics' sort (SORT_BYTES_PER_PIXEL), and the bool ground truth beside them.
BYTES_PER_PIXEL = np.dtype(np.float32).itemsize + SORT_BYTES_PER_PIXEL + np.dtype(bool).itemsize


def image_shape(path: str | os.PathLike) -> tuple[int, int]:
    """(height, width) of the image file at ``path``, from its header."""
    with Image.open(path) as opened:
        width, height = opened.size
    return height, width


def to_image_size(anomaly: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``anomaly`` [S, S] resized (bilinear) to ``shape`` = (H, W): float32 [H, W].

    Every value is a weighted mean of neighbouring map values, so none exceeds the map's
    maximum; none need reach it either (no output pixel centre falls on an input one).
    """
    height, width = shape
    resized = Image.fromarray(np.asarray(anomaly, np.float32), "F").resize((width, height),
                                                                           Image.BILINEAR)
    return np.asarray(resized)


def full_size_mask(mask: str, image: str) -> np.ndarray:
    """The ground truth of ``image`` at its own size, bool [H, W]: the mask file ``mask``
    binarised (:func:`hgad.data.images.binarize_mask`), or all normal for an empty path.

    Raises ValueError naming the mask when its size is not the image's.
    """
    shape = image_shape(image)
    if not mask:
        return np.zeros(shape, bool)
    with Image.open(mask) as opened:
        grey = np.asarray(opened.convert("L"))
    if grey.shape != shape:
        raise ValueError(f"{mask}: mask of {grey.shape[1]}x{grey.shape[0]} pixels, its image "
                         f"{image} has {shape[1]}x{shape[0]}")
    return binarize_mask(grey)


class FullSizeMaps(Sequence):
    """Maps [R, S, S] seen at the sizes ``shapes`` (R of (H_i, W_i)): item i is map i resized by
    :func:`to_image_size` when it is read, so no more than one is held at a time; float16 maps
    stay float16 (half the memory of the pixel metrics' scores), others come as float32."""

    def __init__(self, maps: np.ndarray, shapes: list[tuple[int, int]]):
        if len(maps) != len(shapes):
            raise ValueError(f"{len(maps)} maps for {len(shapes)} image sizes")
        self.maps, self.shapes = maps, shapes

    def __len__(self) -> int:
        return len(self.maps)

    def __getitem__(self, i: int) -> np.ndarray:
        full = to_image_size(self.maps[i], self.shapes[i])
        return full.astype(np.float16) if self.maps.dtype == np.float16 else full


def at_mask_sizes(maps: np.ndarray, masks: Images) -> Images:
    """``maps`` [R, S, S] as the pixel metrics compare them with ``masks``: the maps themselves
    for masks [R, S, S] made square as the images were, :class:`FullSizeMaps` for a list of
    masks at each image's own size."""
    if isinstance(masks, np.ndarray):
        return maps
    return FullSizeMaps(maps, [np.shape(mask) for mask in masks])


def full_size_metrics_bytes(manifest_path: str | os.PathLike) -> int:
    """Peak memory of the pixel metrics at full size, in bytes, for the manifest's largest
    category: :data:`BYTES_PER_PIXEL` times its test images' pixels (read from their headers).
    Remembered per manifest file and modification time."""
    return _largest_category_pixels(os.fspath(manifest_path),
                                    os.stat(manifest_path).st_mtime_ns) * BYTES_PER_PIXEL


@cache
def _largest_category_pixels(manifest_path: str, modified: int) -> int:
    rows = select_split(read_manifest(manifest_path), "test")
    if rows.empty:
        return 0
    pixels = [np.prod(image_shape(image), dtype=np.int64) for image in rows["image"]]
    return int(rows.assign(pixels=pixels).groupby("category")["pixels"].sum().max())
