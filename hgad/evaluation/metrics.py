"""Evaluation metrics: image- and pixel-level AUROC, AP, max F1, max IoU, and AUPRO.

Definitions are in ``docs/metrics.md``. Every metric of a call comes from one
descending sort of the scores, which are used as they are (no sigmoid or other squashing).
Samples with equal scores form a tie group; a curve has one point per group, at its last index,
with the cumulative counts TP (anomalous) and FP (normal) of the samples scored >= the group's
score. With n_pos anomalous and n_neg normal samples, and the curve starting at (0, 0):

* ROC AUC = trapezoid area under (FP / n_neg, TP / n_pos), as scikit-learn's ``roc_auc_score``;
* AP = sum over groups of (TP - TP_prev) / n_pos * TP / (TP + FP), as
  ``average_precision_score``;
* max F1 = max of 2 TP / (TP + FP + n_pos), which is 2PR / (P + R);
* max IoU = max of TP / (FP + n_pos), which is TP / (TP + FP + FN);
* AUPRO: MVTec's official per-region-overlap curve, see :func:`aupro`.

The sorted order is walked in blocks of ``_CHUNK`` positions and the areas and maxima are summed
block by block, so the curve itself is never held whole.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import chain

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

_CHUNK = 1 << 20  # sorted positions handled per step: temporaries stay around 50 MB
_STRUCTURE = np.ones((3, 3), dtype=int)  # ground-truth regions are 8-connected
# Bytes per pixel that the pixel metrics hold besides the scores: int32 region id, int64 argsort.
SORT_BYTES_PER_PIXEL = np.dtype(np.int32).itemsize + np.dtype(np.int64).itemsize
DEFAULT_AUPRO_LIMIT = 0.3  # the limit of ``pixel_aupro``; other limits get their own names


@dataclass
class _Points:
    """The curve points of one block: one per tie group whose last index lies in the block.

    ``tp``, ``fp``: [G] int64, anomalous / normal samples scored >= the group's score.
    ``overlap``: [G] float64, sum of 1 / |region| over those anomalous pixels, or None.
    """

    tp: np.ndarray
    fp: np.ndarray
    overlap: np.ndarray | None


def _descending_order(scores: np.ndarray) -> np.ndarray:
    """Indices [P] that sort ``scores`` [P] by descending score (an int64 view, no copy)."""
    order = np.argsort(scores)[::-1]
    if np.isnan(scores[order[0]]):  # argsort puts NaN last, so it would come first here
        raise ValueError("scores contain NaN")
    return order


def _tie_points(
    scores: np.ndarray,
    labels: np.ndarray,
    order: np.ndarray,
    weight_of: np.ndarray | None = None,
) -> Iterator[_Points]:
    """Yield the curve points block by block along ``order``.

    scores: [P]; labels: [P] bool or int, non-zero = anomalous (for pixels: region ids);
    order: [P] descending order of ``scores``; weight_of: [K] float64 PRO weight per label value
    (0 for label 0), or None for no ``overlap``. A tie group that crosses a block boundary gets its
    point in the block where it ends, so a block may yield no point at all.
    """
    n_seen = n_pos = 0
    overlap = 0.0
    for start in range(0, order.size, _CHUNK):
        idx = order[start : start + _CHUNK]
        block_scores, block_labels = scores[idx], labels[idx]
        stop = start + idx.size
        ends = np.flatnonzero(block_scores[1:] != block_scores[:-1])
        if stop == order.size or scores[order[stop]] != block_scores[-1]:
            ends = np.append(ends, idx.size - 1)
        tp = np.cumsum(block_labels != 0, dtype=np.int64)
        tp_end = tp[ends] + n_pos
        overlap_end = None
        if weight_of is not None:
            cumulative = np.cumsum(weight_of[block_labels])
            overlap_end = cumulative[ends] + overlap
            overlap += float(cumulative[-1])
        n_pos += int(tp[-1])
        yield _Points(tp_end, ends + (n_seen + 1) - tp_end, overlap_end)
        n_seen = stop


def _cut_at_limit(last: tuple[float, float], fpr: np.ndarray, pro: np.ndarray,
                  limit: float) -> tuple[int, float | None]:
    """Where the PRO curve's next points meet the integration limit ``limit``.

    fpr, pro: [G] the points that follow the point ``last`` = (fpr, pro), fpr non-decreasing.
    Returns how many of them lie at or before ``limit`` (a prefix) and, when a later one exists
    and the curve is still before ``limit``, the PRO at exactly ``limit``, interpolated linearly
    on the segment that crosses it (else None). Points after the prefix lie beyond the limit.
    """
    inside = int(np.count_nonzero(fpr <= limit))  # a prefix: fpr is sorted
    if inside == fpr.size:
        return inside, None
    x0, y0 = (fpr[inside - 1], pro[inside - 1]) if inside else last
    if x0 >= limit:
        return inside, None
    x1, y1 = fpr[inside], pro[inside]
    return inside, y0 + (y1 - y0) * (limit - x0) / (x1 - x0)


class _ProArea:
    """Twice the area under a PRO curve up to ``limit``, its points arriving block by block."""

    def __init__(self, limit: float):
        self.limit = limit
        self.last_fpr = self.last_pro = self.area2 = 0.0
        self.done = False

    def add(self, fpr: np.ndarray, pro: np.ndarray) -> None:
        """Trapezoids of the PRO curve up to ``limit``, as the official ``trapezoid``.

        fpr, pro: [G] the next points, fpr non-decreasing. The segment that crosses ``limit``
        adds the part up to it, with PRO interpolated linearly; later points add nothing.
        """
        if self.done:
            return
        inside, y_cut = _cut_at_limit((self.last_fpr, self.last_pro), fpr, pro, self.limit)
        x = np.concatenate(([self.last_fpr], fpr))
        y = np.concatenate(([self.last_pro], pro))
        self.area2 += float(np.sum((y[1 : inside + 1] + y[:inside]) * np.diff(x[: inside + 1])))
        if inside < fpr.size:
            self.done = True
            if y_cut is not None:
                x0, y0 = x[inside], y[inside]
                self.area2 += float((y_cut + y0) * (self.limit - x0))
        self.last_fpr, self.last_pro = x[-1], y[-1]

    @property
    def aupro(self) -> float:
        return 0.5 * self.area2 / self.limit


class _CurveSums:
    """Areas and maxima over a curve whose points arrive block by block (see module docstring).

    ``n_regions`` > 0 also integrates the PRO curve up to each of ``limits``.
    """

    def __init__(self, n_pos: int, n_neg: int, n_regions: int = 0,
                 limits: Sequence[float] = (DEFAULT_AUPRO_LIMIT,)):
        self.n_pos, self.n_neg = n_pos, n_neg
        self.n_regions = n_regions
        self.last_tp = self.last_fp = 0.0
        self.roc_area2 = self.ap_sum = self.f1_max = self.iou_max = 0.0
        self.pro_areas = [_ProArea(limit) for limit in limits]

    def add_all(self, blocks: Iterable[_Points]) -> _CurveSums:
        """Add every block, then close the PRO curve at (1, 1); returns self."""
        for points in blocks:
            self._add(points)
        if self.n_regions:
            self._add_pro(np.ones(1), np.ones(1))
        return self

    def _add(self, points: _Points) -> None:
        if points.tp.size == 0:
            return
        tp, fp = points.tp.astype(np.float64), points.fp.astype(np.float64)
        tp_prev = np.concatenate(([self.last_tp], tp[:-1]))
        fp_prev = np.concatenate(([self.last_fp], fp[:-1]))
        self.roc_area2 += float(np.sum((fp - fp_prev) * (tp + tp_prev)))
        self.ap_sum += float(np.sum((tp - tp_prev) * (tp / (tp + fp))))
        self.f1_max = max(self.f1_max, float(np.max(2 * tp / (tp + fp + self.n_pos))))
        self.iou_max = max(self.iou_max, float(np.max(tp / (fp + self.n_pos))))
        if self.n_regions:
            pro = np.minimum(points.overlap / self.n_regions, 1.0)
            self._add_pro(fp / self.n_neg, pro)
        self.last_tp, self.last_fp = tp[-1], fp[-1]

    def _add_pro(self, fpr: np.ndarray, pro: np.ndarray) -> None:
        for area in self.pro_areas:
            area.add(fpr, pro)

    @property
    def roc_auc(self) -> float:
        return self.roc_area2 / (2 * self.n_pos * self.n_neg)

    @property
    def average_precision(self) -> float:
        return self.ap_sum / self.n_pos

    @property
    def aupro(self) -> float:
        """The AUPRO up to the first limit."""
        return self.pro_areas[0].aupro


Images = ArrayLike | Sequence[ArrayLike]
"""The maps or masks of a test set: [N, H, W] (an ``np.memmap`` too), or a sequence of N arrays
[H_i, W_i] when the images differ in size (an item is read once, so it may be made on demand)."""


def _is_image_stack(values: ArrayLike | Images) -> bool:
    """Whether ``values`` are pixel maps or masks (:data:`Images`) rather than [N] scores."""
    if isinstance(values, np.ndarray):
        return values.ndim == 3
    return len(values) > 0 and np.ndim(values[0]) == 2


IMAGE_METRICS = ("image_auroc", "image_ap", "image_f1_max")
PIXEL_METRICS = ("pixel_auroc", "pixel_ap", "pixel_f1_max", "pixel_iou_max", "pixel_aupro")


def class_counts(labels: ArrayLike | Images) -> tuple[int, int]:
    """(anomalous, all) samples of ``labels``: any shape, or masks of different sizes
    (:data:`Images`); non-zero = anomalous."""
    parts = labels if _is_image_stack(labels) else [labels]
    counted = [(int(np.count_nonzero(part)), int(np.size(part))) for part in parts]
    return sum(n for n, _ in counted), sum(n for _, n in counted)


def both_classes(labels: ArrayLike | Images) -> bool:
    """Whether ``labels`` (as :func:`class_counts`) hold normal and anomalous samples: the
    metrics of this module need both."""
    anomalous, total = class_counts(labels)
    return 0 < anomalous < total


def _check_both_classes(n_pos: int, n_total: int, what: str) -> None:
    if n_pos == 0 or n_pos == n_total:
        raise ValueError(
            f"{what} hold a single class ({n_pos} anomalous of {n_total}); the metrics need "
            "both normal and anomalous samples"
        )


def _checked_1d(scores: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray, int]:
    """(scores [N], labels [N] bool, number anomalous), checked: 1-D, equal length, both
    classes present."""
    scores, labels = np.asarray(scores), np.asarray(labels) != 0
    if scores.ndim != 1 or scores.shape != labels.shape:
        raise ValueError(
            f"scores and labels must be 1-D of equal length, got {scores.shape} and {labels.shape}"
        )
    n_pos = int(np.count_nonzero(labels))
    _check_both_classes(n_pos, labels.size, "labels")
    return scores, labels, n_pos


def _curve_1d(scores: ArrayLike, labels: ArrayLike) -> _CurveSums:
    """Curve sums of 1-D ``scores`` [N] against ``labels`` [N] (non-zero = anomalous)."""
    scores, labels, n_pos = _checked_1d(scores, labels)
    order = _descending_order(scores)
    return _CurveSums(n_pos, labels.size - n_pos).add_all(_tie_points(scores, labels, order))


def roc_auc(scores: ArrayLike, labels: ArrayLike, threads: int = 1) -> float:
    """Area under the ROC curve of ``scores`` [N] vs ``labels`` [N] (non-zero = anomalous).

    Counted rather than walked (no curve, no argsort; about 3x faster on a category's pixels):
    twice the trapezoid area is sum over anomalous samples of (2 x normal samples scored below +
    normal samples tied), an integer, so this equals the curve's value bit for bit. The normal
    scores are sorted in ``threads`` pieces at once (numpy releases the GIL) and counted piece by
    piece: the same integers.
    """
    scores, labels, n_pos = _checked_1d(scores, labels)
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN")
    anomalous = np.sort(scores[labels])  # sorted queries: fast
    normal = scores[~labels]
    pieces = np.array_split(normal, max(1, min(threads, normal.size)))
    if len(pieces) == 1:
        pieces = [np.sort(normal)]
    else:
        with ThreadPoolExecutor(len(pieces)) as pool:
            pieces = list(pool.map(np.sort, pieces))
    area2 = 0
    for piece in pieces:
        below = np.searchsorted(piece, anomalous, side="left")
        tied = np.searchsorted(piece, anomalous, side="right") - below
        area2 += 2 * int(below.sum(dtype=np.int64)) + int(tied.sum(dtype=np.int64))
    n_neg = labels.size - n_pos
    return float(area2) / (2 * n_pos * n_neg)


def average_precision(scores: ArrayLike, labels: ArrayLike) -> float:
    """Average precision of ``scores`` [N] vs ``labels`` [N] (non-zero = anomalous)."""
    return _curve_1d(scores, labels).average_precision


def f1_max(scores: ArrayLike, labels: ArrayLike) -> float:
    """Max F1 over all thresholds of ``scores`` [N] vs ``labels`` [N] (non-zero = anomalous)."""
    return _curve_1d(scores, labels).f1_max


def image_metrics(scores: ArrayLike, labels: ArrayLike) -> dict[str, float]:
    """``image_auroc``, ``image_ap`` and ``image_f1_max`` of image scores [N] vs labels [N].

    Labels: non-zero = anomalous. Raises ValueError if the labels hold a single class.
    """
    sums = _curve_1d(scores, labels)
    return dict(zip(IMAGE_METRICS, (sums.roc_auc, sums.average_precision, sums.f1_max),
                    strict=True))


def _image_shapes(stack: Images, what: str) -> list[tuple[int, ...]]:
    """The [H_i, W_i] of every image of ``stack`` (named ``what`` in errors)."""
    if isinstance(stack, np.ndarray):
        if stack.ndim != 3:
            raise ValueError(f"{what} must be [N, H, W] or a sequence of [H, W] arrays, got "
                             f"shape {stack.shape}")
        return [stack.shape[1:]] * len(stack)
    shapes = [np.shape(image) for image in stack]
    flat = [shape for shape in shapes if len(shape) != 2]
    if flat:
        raise ValueError(f"{what} must be [N, H, W] or a sequence of [H, W] arrays, got an item"
                         f" of shape {flat[0]}")
    return shapes


def _regions(masks: Images, shapes: list[tuple[int, ...]]) -> tuple[np.ndarray, np.ndarray]:
    """Ground-truth regions: the 8-connected components of each mask's non-zero pixels.

    masks: as :data:`Images`, read one image at a time; shapes: their [H_i, W_i]. Returns the
    region id of every pixel, [P] int32 with P = sum H_i * W_i (0 = normal, regions numbered
    1..R across images, never across an image's border), and the sizes [R] int64.
    """
    region = np.empty(sum(math.prod(shape) for shape in shapes), np.int32)
    sizes = [np.zeros(0, np.int64)]
    n_regions = offset = 0
    for i, shape in enumerate(shapes):
        labelled = region[offset : offset + math.prod(shape)].reshape(shape)
        count = ndimage.label(np.asarray(masks[i]) != 0, structure=_STRUCTURE, output=labelled)
        sizes.append(np.bincount(labelled.reshape(-1), minlength=count + 1)[1:])
        np.add(labelled, n_regions, out=labelled, where=labelled > 0)
        n_regions += count
        offset += labelled.size
    return region, np.concatenate(sizes)


def _flat_scores(maps: Images, shapes: list[tuple[int, ...]]) -> np.ndarray:
    """All pixels of ``maps`` (as :data:`Images`, of the sizes ``shapes``) as one array [P] in
    the maps' own dtype.

    A contiguous in-memory array is used without a copy; a memmap is read into RAM in blocks of
    whole images; a sequence is copied in image by image (each item made once).
    """
    if isinstance(maps, np.ndarray):
        if [maps.shape[1:]] * len(maps) != shapes:
            raise ValueError(f"maps and masks must be of one shape, got {maps.shape} and "
                             f"{len(shapes)} masks of {sorted(set(shapes))}")
        if not isinstance(maps, np.memmap):
            return np.ascontiguousarray(maps).reshape(-1)
        flat = np.empty(maps.shape, maps.dtype)
        step = max(1, _CHUNK // max(1, maps[0].size))
        for i in range(0, len(maps), step):
            flat[i : i + step] = maps[i : i + step]
        return flat.reshape(-1)
    if len(maps) != len(shapes):
        raise ValueError(f"{len(maps)} maps for {len(shapes)} masks")
    flat, offset = None, 0
    for i, shape in enumerate(shapes):
        image = np.asarray(maps[i])
        if image.shape != shape:
            raise ValueError(f"maps and masks must be of one shape image by image, got "
                             f"{image.shape} and {shape} for image {i}")
        if flat is None:
            flat = np.empty(sum(math.prod(s) for s in shapes), image.dtype)
        elif image.dtype != flat.dtype:
            raise ValueError(f"maps of one dtype expected, got {flat.dtype} and {image.dtype} "
                             f"(image {i})")
        flat[offset : offset + image.size] = image.reshape(-1)
        offset += image.size
    return flat if flat is not None else np.zeros(0, np.float32)


def _flat_labels(masks: Images) -> np.ndarray:
    """All pixels of ``masks`` (as :data:`Images`) as bool [P], True = anomalous."""
    if isinstance(masks, np.ndarray):
        return masks.reshape(-1) != 0
    return np.concatenate([np.asarray(mask).reshape(-1) != 0 for mask in masks])


def _pixel_regions(maps: Images, masks: Images, limits: Sequence[float]
                   ) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """Checked inputs -> (region id per pixel, region sizes, number of anomalous pixels, all
    scores [P])."""
    shapes = _image_shapes(masks, "masks")
    if isinstance(maps, np.ndarray):  # checked before the masks are labelled; a sequence later
        _image_shapes(maps, "maps")
    for limit in limits:
        if not 0 < limit <= 1:
            raise ValueError(f"max_fpr must lie in (0, 1], got {limit}")
    region, sizes = _regions(masks, shapes)
    n_pos = int(sizes.sum())
    _check_both_classes(n_pos, region.size, "masks")
    return region, sizes, n_pos, _flat_scores(maps, shapes)


def _pixel_curve(maps: Images, masks: Images, limits: Sequence[float]) -> _CurveSums:
    """Curve sums over every pixel of ``maps`` vs ``masks`` (as :data:`Images`), PRO included
    (integrated up to each of ``limits``)."""
    region, sizes, n_pos, scores = _pixel_regions(maps, masks, limits)
    weight_of = np.concatenate(([0.0], 1.0 / sizes))
    order = _descending_order(scores)
    sums = _CurveSums(n_pos, region.size - n_pos, n_regions=sizes.size, limits=limits)
    return sums.add_all(_tie_points(scores, region, order, weight_of))


def pixel_auroc(maps: Images, masks: Images, threads: int = 1) -> float:
    """:func:`roc_auc` of every pixel of ``maps`` against ``masks`` (as in :func:`pixel_metrics`),
    counted without the curve, sorting on ``threads`` threads."""
    scores = _flat_scores(maps, _image_shapes(masks, "masks"))
    return roc_auc(scores, _flat_labels(masks), threads)


def aupro_name(limit: float) -> str:
    """The metric name of the AUPRO up to ``limit``: ``pixel_aupro`` at
    :data:`DEFAULT_AUPRO_LIMIT`, else ``pixel_aupro_<limit>`` (``pixel_aupro_0.05``)."""
    return "pixel_aupro" if limit == DEFAULT_AUPRO_LIMIT else f"pixel_aupro_{limit:g}"


def pixel_metrics(maps: Images, masks: Images, max_fpr: float = DEFAULT_AUPRO_LIMIT,
                  more_limits: Sequence[float] = ()) -> dict[str, float]:
    """Pixel AUROC, AP, max F1, max IoU and AUPRO over every pixel of a test set.

    maps: float16 or float32 anomaly maps, [N, H, W] (possibly an ``np.memmap``) or a sequence
    of N maps [H_i, W_i] (images of different sizes); masks: of the same shapes, as an array or
    a sequence, non-zero = anomalous. Returns ``pixel_auroc``, ``pixel_ap``, ``pixel_f1_max``,
    ``pixel_iou_max`` and ``pixel_aupro`` (up to ``max_fpr``, see :func:`aupro`), then the AUPRO
    up to each of ``more_limits`` under its :func:`aupro_name`, all from one argsort of the
    P = sum H_i * W_i pixels, in O(P log P).

    Peak memory is about P * (itemsize + :data:`SORT_BYTES_PER_PIXEL`) = P * (itemsize + 12)
    bytes plus ~50 MB: the scores in their own dtype (a memmap is copied into RAM in blocks of
    images, a sequence image by image; a contiguous in-memory array is not copied), int32 region
    ids and the int64 argsort. No dense float64 array of all pixels is made. For VisA
    (P = 141.7M, float16) that is about 2.0 GB. Measured on a synthetic float16 memmap of
    2,162 x 256 x 256 with uint8 memmap masks: 2.46 GB peak RSS (0.42 GB of it the two mapped
    files' cached pages) and 36 s wall time; the argsort takes about half of it.
    Raises ValueError if the masks hold a single class or the maps hold NaN.
    """
    sums = _pixel_curve(maps, masks, (max_fpr, *more_limits))
    found = dict(zip(PIXEL_METRICS, (sums.roc_auc, sums.average_precision, sums.f1_max,
                                     sums.iou_max, sums.aupro), strict=True))
    found.update({aupro_name(area.limit): area.aupro for area in sums.pro_areas[1:]})
    return found


def aupro(maps: Images, masks: Images, max_fpr: float = DEFAULT_AUPRO_LIMIT) -> float:
    """Normalised area under the PRO curve up to ``max_fpr``, as MVTec's official evaluation.

    maps, masks: as in :func:`pixel_metrics` (non-zero = anomalous). Regions are the
    8-connected components of each mask. Over all pixels sorted by descending score, a normal
    pixel adds 1 / n_normal to the FPR and a pixel of region r adds 1 / (|r| * n_regions) to the
    PRO; only the last point of each tie is kept, PRO is clipped to <= 1, and the curve runs from
    (0, 0) to (1, 1). Its trapezoid area up to ``max_fpr`` (PRO interpolated linearly at
    ``max_fpr``) is divided by ``max_fpr``. FPRs are exact float64 ratios; the official script
    rounds them to float32, which can move its result in about the 7th digit. Same memory and
    time as :func:`pixel_metrics`.
    """
    return _pixel_curve(maps, masks, (max_fpr,)).aupro


# --- Curves for plotting ------------------------------------------------------------------------


class _CurveCollector:
    """The points of a monotone curve, arriving block by block, optionally thinned on the fly.

    Both coordinates are non-decreasing along the curve, so its L1 arc length from the start is
    ``x + y`` and never exceeds ``span``. With ``max_points`` set, that length is cut into
    ``max_points - 1`` equal bins and only the first point of each bin is kept, plus the curve's
    last point: at most ``max_points`` points, a subsequence of the curve (so still monotone), with
    both endpoints, evenly spread along the curve (a steep rise keeps its points). Memory is
    O(max_points) whatever the number of tie groups; ``max_points=None`` keeps every point.
    """

    def __init__(self, span: float, max_points: int | None):
        if max_points is not None and max_points < 2:
            raise ValueError(f"max_points must be at least 2 (both endpoints), got {max_points}")
        self.span, self.max_points = span, max_points
        self.xs: list[np.ndarray] = []
        self.ys: list[np.ndarray] = []
        self.last_key = -1
        self.last: tuple[float, float] | None = None
        self.last_kept = False

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        if x.size == 0:
            return
        if self.max_points is None:
            keep = slice(None)
            self.last_kept = True
        else:
            bins = self.max_points - 1
            key = np.minimum(np.floor((x + y) * (bins / self.span)), bins - 1).astype(np.int64)
            keep = np.diff(key, prepend=self.last_key) != 0
            self.last_key = int(key[-1])
            self.last_kept = bool(keep[-1])
        self.xs.append(x[keep])
        self.ys.append(y[keep])
        self.last = (float(x[-1]), float(y[-1]))

    def curve(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.last_kept and self.last is not None:
            self.xs.append(np.array([self.last[0]]))
            self.ys.append(np.array([self.last[1]]))
            self.last_kept = True
        return np.concatenate(self.xs), np.concatenate(self.ys)


def roc_curve_points(scores: ArrayLike | Images, labels: ArrayLike | Images,
                     max_points: int | None = 2000) -> tuple[np.ndarray, np.ndarray]:
    """The ROC curve that :func:`roc_auc` integrates, for plotting: (fpr, tpr), float64 [G].

    scores: [N], or pixel maps as in :func:`pixel_metrics` (flattened; a memmap is read in
    blocks); labels: of the same shapes, non-zero = anomalous. One point per tie group
    (its last index), preceded by (0, 0) and ending at (1, 1); its trapezoid area is
    :func:`roc_auc`. Thinned to at most ``max_points`` points evenly spaced along the curve
    (endpoints kept, see :class:`_CurveCollector`); ``max_points=None`` returns every point.
    """
    if _is_image_stack(scores):
        scores = _flat_scores(scores, _image_shapes(labels, "labels"))
        labels = _flat_labels(labels)
    else:
        scores, labels = np.asarray(scores).reshape(-1), np.asarray(labels).reshape(-1) != 0
    if scores.shape != labels.shape:
        raise ValueError(f"scores and labels must have one size, got {scores.size} and "
                         f"{labels.size}")
    n_pos = int(np.count_nonzero(labels))
    _check_both_classes(n_pos, labels.size, "labels")
    n_neg = labels.size - n_pos
    collector = _CurveCollector(span=2.0, max_points=max_points)
    collector.add(np.zeros(1), np.zeros(1))
    for points in _tie_points(scores, labels, _descending_order(scores)):
        collector.add(points.fp / n_neg, points.tp / n_pos)
    return collector.curve()


def pro_curve_points(maps: Images, masks: Images, max_fpr: float = 0.3,
                     max_points: int | None = 2000) -> tuple[np.ndarray, np.ndarray]:
    """The PRO curve that :func:`aupro` integrates, for plotting: (fpr, pro), float64 [G].

    maps, masks: as in :func:`aupro`. The official curve (one point per tie group,
    PRO clipped to <= 1, from (0, 0) to (1, 1)) cut at ``max_fpr``: every point with
    FPR <= ``max_fpr``, then, if the last of them lies before ``max_fpr``, a point at exactly
    ``max_fpr`` with PRO interpolated linearly, as :func:`aupro` does. Hence its trapezoid area
    divided by ``max_fpr`` is :func:`aupro`; ``max_fpr=1`` gives the whole curve. Thinned as
    :func:`roc_curve_points`.
    """
    region, sizes, n_pos, scores = _pixel_regions(maps, masks, (max_fpr,))
    n_neg, n_regions = region.size - n_pos, sizes.size
    weight_of = np.concatenate(([0.0], 1.0 / sizes))
    order = _descending_order(scores)
    collector = _CurveCollector(span=max_fpr + 1.0, max_points=max_points)
    previous = (0.0, 0.0)
    collector.add(np.zeros(1), np.zeros(1))
    for points in chain(_tie_points(scores, region, order, weight_of), [None]):
        if points is None:  # the closing (1, 1)
            fpr, pro = np.ones(1), np.ones(1)
        else:
            fpr = points.fp / n_neg
            pro = np.minimum(points.overlap / n_regions, 1.0)
        if fpr.size == 0:
            continue
        inside, y_cut = _cut_at_limit(previous, fpr, pro, max_fpr)
        collector.add(fpr[:inside], pro[:inside])
        if inside < fpr.size:
            if y_cut is not None:
                collector.add(np.array([max_fpr]), np.array([y_cut]))
            break
        previous = (fpr[-1], pro[-1])
    return collector.curve()
