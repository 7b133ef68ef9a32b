"""Figures from an evaluation on disk: ROC/PRO curves and qualitative examples per category.

Reads what :func:`hgad.evaluation.evaluate.evaluate` wrote for one (dataset, seed): the anomaly maps
of each category (:mod:`hgad.evaluation.maps`), and takes labels, ground-truth masks and images from
the manifest. The curves come from :mod:`hgad.evaluation.metrics`, the figures from
:mod:`hgad.reporting.draw`.

The image score of a test image is the maximum of its anomaly map, as in the evaluation. The
maps on disk are float16 while the metrics were computed from the float32 maps, so a curve's
area can differ from the reported metric in about the third decimal (more ties).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import pandas as pd

from hgad.data.images import load_mask, load_rgb
from hgad.data.manifest import class_names, read_manifest, select_split
from hgad.evaluation.maps import map_path, maps_resize
from hgad.evaluation.metrics import (
    DEFAULT_AUPRO_LIMIT,
    both_classes,
    pro_curve_points,
    roc_curve_points,
)
from hgad.reporting.draw import qualitative_grid, roc_pro_curves, select_examples
from hgad.runtime.atomic import PathLike

MAX_FPR = DEFAULT_AUPRO_LIMIT  # the PRO curves end where pixel_aupro's integral does
Curve = tuple[np.ndarray, np.ndarray]  # (x, y) of hgad.evaluation.metrics.roc_curve_points & co.


class CategoryMaps(NamedTuple):
    """One evaluated category: its test rows (manifest order) and their maps, memory-mapped."""

    category: str
    rows: pd.DataFrame
    maps: np.ndarray
    resize: str  # how the images were made square (hgad.data.images.RESIZE_MODES)

    @property
    def labels(self) -> np.ndarray:
        return self.rows["label"].to_numpy()

    def masks(self, index: np.ndarray | None = None) -> np.ndarray:
        """Ground truth as bool [n, msk, msk] at the maps' size (all rows, or ``index``)."""
        paths = self.rows["mask"] if index is None else self.rows["mask"].iloc[index]
        size = self.maps.shape[-1]
        return np.stack([load_mask(path, size, self.resize)
                         for path in paths]).reshape(-1, size, size)


def category_maps(maps_dir: PathLike, manifest_path: PathLike) -> Iterator[CategoryMaps]:
    """Every category with test images, in class order, with its maps from ``maps_dir``.

    Raises FileNotFoundError for a missing maps file and ValueError when a file's shape does not
    match the category's test rows (maps from another manifest).
    """
    test = select_split(read_manifest(manifest_path), "test")
    resize = maps_resize(maps_dir)
    for category in class_names(test):
        rows = test[test["category"] == category].reset_index(drop=True)
        path = map_path(maps_dir, category)
        maps = np.load(path, mmap_mode="r")
        if maps.ndim != 3 or len(maps) != len(rows) or maps.shape[1] != maps.shape[2]:
            raise ValueError(f"{path}: maps of shape {maps.shape}, but {manifest_path} has "
                             f"{len(rows)} test images of {category!r} (expected [N, S, S])")
        yield CategoryMaps(category, rows, maps, resize)


def image_scores(maps: np.ndarray) -> np.ndarray:
    """The image score of each map [N, H, W]: its maximum, float32 [N] (read image by image)."""
    return np.array([np.max(m) for m in maps], dtype=np.float32)


def category_curves(maps_dir: PathLike, manifest_path: PathLike, max_fpr: float = MAX_FPR,
                    max_points: int | None = 1000) -> dict[str, dict[str, Curve]]:
    """The input of :func:`hgad.reporting.draw.roc_pro_curves`: per category, ``image_roc``,
    ``pixel_roc`` and ``pro`` (cut at ``max_fpr``), each an (x, y) pair with at most
    ``max_points`` points (None: all).

    A curve is left out where it is undefined: ``image_roc`` when the category's test images
    are all normal or all anomalous, ``pixel_roc`` and ``pro`` likewise for its pixels.
    """
    curves = {}
    for item in category_maps(maps_dir, manifest_path):
        entry = {}
        labels = item.labels
        if both_classes(labels):
            entry["image_roc"] = roc_curve_points(image_scores(item.maps), labels, max_points)
        masks = item.masks()
        if both_classes(masks):
            entry["pixel_roc"] = roc_curve_points(item.maps, masks, max_points)
            entry["pro"] = pro_curve_points(item.maps, masks, max_fpr, max_points)
        curves[item.category] = entry
    return curves


def qualitative_examples(maps_dir: PathLike, manifest_path: PathLike, k: int = 1,
                         image_size: int | None = None) -> list[dict]:
    """The rows of :func:`hgad.reporting.draw.qualitative_grid`: per category, the ``k``
    best-detected anomalous test images (highest score first), then the ``k`` worst (lowest first).

    Chosen by :func:`hgad.reporting.draw.select_examples`; an image that would be both best and
    worst (fewer than 2k anomalous images) is shown once. Images are shown at ``image_size``
    (default: the maps' size, at least 256), cropped as the masks; titles name the category, the
    rank, the defect type and the score.
    """
    rows = []
    for item in category_maps(maps_dir, manifest_path):
        scores = image_scores(item.maps)
        best, worst = select_examples(scores, item.labels, k)
        worst = [i for i in worst if i not in set(best)]
        size = image_size or max(256, item.maps.shape[-1])
        chosen = [(i, f"best {n + 1}") for n, i in enumerate(best)]
        chosen += [(i, f"worst {n + 1}") for n, i in enumerate(worst)]
        for index, rank in chosen:
            row = item.rows.iloc[index]
            rows.append({
                "image": load_rgb(row["image"], size, item.resize),
                "mask": item.masks(np.array([index]))[0],
                "map": np.asarray(item.maps[index], dtype=np.float32),
                "title": f"{item.category}: {rank}\n{row['defect']}, score {scores[index]:.3g}",
            })
    return rows


def write_curves(maps_dir: PathLike, manifest_path: PathLike, out_png: PathLike,
                 out_pdf: PathLike | None = None, title: str | None = None) -> None:
    """ROC (image, pixel) and PRO curves of every category in one figure (PNG, and PDF)."""
    curves = category_curves(maps_dir, manifest_path)
    roc_pro_curves(curves, out_png, out_pdf,
                   **({} if title is None else {"title": title}))


def write_qualitative(maps_dir: PathLike, manifest_path: PathLike, out_png: PathLike,
                      out_pdf: PathLike | None = None, k: int = 1,
                      title: str | None = None) -> None:
    """The qualitative grid of :func:`qualitative_examples` (PNG, and PDF).

    Raises ValueError when no category has an anomalous test image.
    """
    rows = qualitative_examples(maps_dir, manifest_path, k)
    if not rows:
        raise ValueError(f"{manifest_path}: no anomalous test image to show")
    qualitative_grid(rows, out_png, out_pdf, title=title)
