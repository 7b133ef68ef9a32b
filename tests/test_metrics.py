"""Tests of hgad.evaluation.metrics against scikit-learn, hand-computed AUPRO values and a plain
AUPRO."""

from __future__ import annotations

import bisect

import numpy as np
import pytest
from scipy import ndimage
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from hgad.evaluation import metrics


@pytest.fixture(params=[5, metrics._CHUNK], ids=["tiny-blocks", "default-blocks"])
def chunk(request, monkeypatch):
    """Run a test with tiny blocks too, so tie groups cross block boundaries."""
    monkeypatch.setattr(metrics, "_CHUNK", request.param)
    return request.param


def _sk_f1_max(scores, labels):
    precision, recall, _ = precision_recall_curve(labels, scores)
    total = precision + recall
    return np.max(
        np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
    )


def _sk_iou_max(scores, labels):
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    n_pos = labels.sum()
    return np.max(tpr * n_pos / (fpr * (labels.size - n_pos) + n_pos))


def _random_scores(rng, n, ties):
    scores = rng.normal(size=n)
    return np.round(scores, 1) if ties else scores


@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
@pytest.mark.parametrize("seed", range(4))
def test_1d_metrics_match_sklearn(seed, ties, chunk):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 300))
    labels = rng.random(n) < rng.uniform(0.1, 0.6)
    labels[:2] = [False, True]
    scores = _random_scores(rng, n, ties) + labels * rng.uniform(0, 1.5)
    assert metrics.roc_auc(scores, labels) == pytest.approx(
        roc_auc_score(labels, scores), abs=1e-12
    )
    assert metrics.average_precision(scores, labels) == pytest.approx(
        average_precision_score(labels, scores), abs=1e-12
    )
    assert metrics.f1_max(scores, labels) == pytest.approx(_sk_f1_max(scores, labels), abs=1e-12)
    assert metrics.image_metrics(scores, labels.astype(int)) == pytest.approx(
        {
            "image_auroc": roc_auc_score(labels, scores),
            "image_ap": average_precision_score(labels, scores),
            "image_f1_max": _sk_f1_max(scores, labels),
        },
        abs=1e-12,
    )


def test_all_scores_tied():
    labels = np.array([0, 1, 0, 1, 1])
    scores = np.full(5, 0.5)
    assert metrics.roc_auc(scores, labels) == 0.5
    assert metrics.average_precision(scores, labels) == pytest.approx(0.6)
    assert metrics.f1_max(scores, labels) == pytest.approx(0.75)


def test_scores_are_not_squashed():
    labels = np.array([0, 1, 0, 1])
    scores = np.array([-50.0, 30.0, 40.0, 100.0])  # a float32 sigmoid would tie 30, 40 and 100
    assert metrics.roc_auc(scores, labels) == 0.75


@pytest.mark.parametrize("labels", [[0, 0, 0], [1, 1, 1]])
def test_single_class_labels_raise(labels):
    for metric in (
        metrics.roc_auc,
        metrics.average_precision,
        metrics.f1_max,
        metrics.image_metrics,
    ):
        with pytest.raises(ValueError, match="single class"):
            metric([0.1, 0.2, 0.3], labels)


@pytest.mark.parametrize("fill", [0, 1])
def test_single_class_masks_raise(fill):
    masks = np.full((2, 4, 4), fill, np.uint8)
    with pytest.raises(ValueError, match="single class"):
        metrics.pixel_metrics(np.zeros((2, 4, 4), np.float32), masks)
    with pytest.raises(ValueError, match="single class"):
        metrics.aupro(np.zeros((2, 4, 4), np.float32), masks)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="NaN"):
        metrics.roc_auc([0.1, np.nan, 0.3], [0, 1, 1])
    with pytest.raises(ValueError, match="1-D"):
        metrics.roc_auc([0.1, 0.2], [0, 1, 1])
    masks = np.zeros((1, 3, 3), bool)
    masks[0, 1, 1] = True
    with pytest.raises(ValueError, match="shape"):
        metrics.pixel_metrics(np.zeros((1, 3, 4)), masks)
    with pytest.raises(ValueError, match="max_fpr"):
        metrics.aupro(np.zeros((1, 3, 3)), masks, max_fpr=0.0)


# ----------------------------------------------------------------------------------------------
# AUPRO


def _trapezoid(x, y, x_max):
    """The official MVTec ``trapezoid`` (x sorted ascending, 0 < x_max <= x[-1])."""
    correction = 0.0
    if x_max not in x:
        ins = bisect.bisect(x.tolist(), x_max)
        y_cut = y[ins - 1] + (y[ins] - y[ins - 1]) * (x_max - x[ins - 1]) / (x[ins] - x[ins - 1])
        correction = 0.5 * (y_cut + y[ins - 1]) * (x_max - x[ins - 1])
    keep = x <= x_max
    x, y = x[keep], y[keep]
    return float(np.sum(0.5 * (y[1:] + y[:-1]) * (x[1:] - x[:-1])) + correction)


def _reference_aupro(maps, masks, max_fpr=0.3):
    """A plain threshold sweep over every distinct score, then the official integration; maps
    and masks [N, H, W] or lists of [H_i, W_i]."""
    regions, normal = [], []
    for score_map, mask in zip(maps, masks, strict=True):
        labelled, count = ndimage.label(mask != 0, structure=np.ones((3, 3)))
        regions += [score_map[labelled == k] for k in range(1, count + 1)]
        normal.append(score_map[mask == 0])
    normal = np.concatenate(normal)
    thresholds = np.unique(np.concatenate([np.ravel(m) for m in maps]))[::-1]
    fprs = np.array([np.mean(normal >= t) for t in thresholds])
    pros = np.array([np.mean([np.mean(r >= t) for r in regions]) for t in thresholds])
    by_fpr = np.argsort(fprs, kind="stable")
    x = np.concatenate(([0.0], fprs[by_fpr], [1.0]))
    y = np.concatenate(([0.0], pros[by_fpr], [1.0]))
    return _trapezoid(x, y, max_fpr) / max_fpr


def _random_set(rng, ties, n=4, size=12):
    """Blob masks [n, size, size] (image 0 normal) and maps that favour the blobs somewhat."""
    masks = ndimage.gaussian_filter(rng.random((n, size, size)), sigma=(0, 1.2, 1.2)) > 0.56
    masks[0] = False
    masks[1, 0, 0] = True
    maps = rng.random(masks.shape) + 0.6 * masks
    return (np.round(maps, 1) if ties else maps), masks


@pytest.mark.parametrize("max_fpr", [0.3, 0.05, 1.0])
@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
@pytest.mark.parametrize("seed", range(3))
def test_aupro_matches_plain_reference(seed, ties, max_fpr, chunk):
    maps, masks = _random_set(np.random.default_rng(seed), ties)
    expected = _reference_aupro(maps, masks, max_fpr)
    assert metrics.aupro(maps, masks, max_fpr) == pytest.approx(expected, abs=1e-9)


def test_aupro_perfect_and_inverted_maps():
    masks = np.zeros((3, 6, 6), np.uint8)
    masks[1, 1:3, 1:4] = 255
    masks[2, 4:, 4:] = 1
    assert metrics.aupro(masks.astype(np.float32), masks) == pytest.approx(1.0, abs=1e-12)
    assert metrics.aupro(-masks.astype(np.float32), masks) == 0.0


def test_aupro_two_regions_of_different_sizes():
    # Region A is 3 pixels joined only diagonally (one region with 8-connectivity), region B 8.
    mask = np.zeros((7, 7), bool)
    mask[0, 0] = mask[1, 1] = mask[1, 2] = True
    mask[4:6, 2:6] = True
    score = np.zeros((7, 7))
    score[0, 0] = score[1, 1] = score[1, 2] = 0.9  # A first: PRO 1/2 at FPR 0
    score[6, :4] = 0.8  # 4 of the 38 normal pixels
    score[4:6, 2:6] = 0.7  # then B: PRO 1
    # Curve (0,0) (0,.5) (4/38,.5) (4/38,1) (1,1): area to .3 is .5*4/38 + (.3 - 4/38).
    expected = (0.5 * 4 / 38 + 0.3 - 4 / 38) / 0.3
    assert metrics.aupro(score[None], mask[None]) == pytest.approx(expected, abs=1e-12)


def test_aupro_interpolates_inside_a_tie_group():
    mask = np.zeros((3, 4), bool)
    mask[0, :2] = True  # one region of 2 pixels, 10 normal pixels
    score = np.full((3, 4), 0.1)
    score[0, 0] = 0.9
    score[0, 1] = score[1, 0] = score[1, 1] = 0.5  # ties: the second region pixel, 2 normal
    score[2, 0] = score[2, 1] = 0.8
    # Curve (0,0) (0,.5) (.2,.5) (.4,1) (1,1); PRO at .3 interpolates to .75.
    expected = (0.5 * 0.2 + 0.5 * (0.5 + 0.75) * 0.1) / 0.3
    assert metrics.aupro(score[None], mask[None]) == pytest.approx(expected, abs=1e-12)


# ----------------------------------------------------------------------------------------------
# pixel_metrics


def _reference_pixel_metrics(maps, masks, more_limits=()) -> dict[str, float]:
    """scikit-learn's metrics of all pixels, concatenated image by image, and the plain AUPRO up
    to 0.3 and each of ``more_limits``; maps and masks as in :func:`_reference_aupro`."""
    scores = np.concatenate([np.ravel(m) for m in maps])
    labels = np.concatenate([np.ravel(m) for m in masks])
    return {"pixel_auroc": roc_auc_score(labels, scores),
            "pixel_ap": average_precision_score(labels, scores),
            "pixel_f1_max": _sk_f1_max(scores, labels),
            "pixel_iou_max": _sk_iou_max(scores, labels),
            "pixel_aupro": _reference_aupro(maps, masks),
            **{f"pixel_aupro_{limit:g}": _reference_aupro(maps, masks, limit)
               for limit in more_limits}}


@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
def test_pixel_metrics_match_flat_sklearn(ties, chunk):
    maps, masks = _random_set(np.random.default_rng(7), ties)
    result = metrics.pixel_metrics(maps, masks.astype(np.uint8) * 255)
    assert result == pytest.approx(_reference_pixel_metrics(maps, masks), abs=1e-9)


def test_pixel_metrics_float16_memmap_equals_in_memory(tmp_path, chunk):
    maps, masks = _random_set(np.random.default_rng(3), ties=False, n=6, size=16)
    stored = np.lib.format.open_memmap(
        tmp_path / "maps.npy", mode="w+", dtype=np.float16, shape=maps.shape
    )
    stored[:] = maps
    stored.flush()
    on_disk = np.load(tmp_path / "maps.npy", mmap_mode="r")
    assert isinstance(on_disk, np.memmap)
    in_memory = np.asarray(on_disk, dtype=np.float32).copy()
    assert metrics.pixel_metrics(on_disk, masks) == pytest.approx(
        metrics.pixel_metrics(in_memory, masks), abs=1e-12
    )


@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
def test_counted_roc_auc_equals_the_curve_bit_for_bit(ties):
    """roc_auc counts pairs; the curve walk (used for every other metric) integrates trapezoids.
    Both are the same integer over 2 n_pos n_neg, so they must agree exactly, ties included."""
    rng = np.random.default_rng(7)
    labels = rng.random(200_000) < 0.05
    scores = (_random_scores(rng, labels.size, ties) + labels).astype(np.float32)
    from_curve = metrics._curve_1d(scores, labels).roc_auc
    assert metrics.roc_auc(scores, labels) == from_curve
    assert from_curve == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


@pytest.mark.parametrize("threads", [2, 3, 8])
def test_roc_auc_sorted_in_pieces_is_the_same_number(threads):
    """Ties straddle the pieces the normal scores are sorted in: each pair is still counted once."""
    rng = np.random.default_rng(11)
    labels = rng.random(100_003) < 0.05
    scores = np.round(rng.random(labels.size) * 50 + 3 * labels).astype(np.float32)
    assert metrics.roc_auc(scores, labels, threads) == metrics.roc_auc(scores, labels)
    maps, masks = scores[:100_000].reshape(4, 250, 100), labels[:100_000].reshape(4, 250, 100)
    assert (metrics.pixel_auroc(maps, masks, threads)
            == pytest.approx(roc_auc_score(masks.ravel(), maps.ravel()), abs=1e-12))


# ----------------------------------------------------------------------------------------------
# Images of different sizes


def _images_of_different_sizes(ties: bool) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Maps and masks of three images of different sizes; a defect runs along image 0's right
    border and image 1's left one, so regions joined across a border would be one."""
    rng = np.random.default_rng(11)
    masks = [np.zeros(shape, bool) for shape in ((5, 7), (9, 4), (6, 6))]
    masks[0][1:4, 6] = True
    masks[1][0:3, 0] = True
    masks[1][7:, 2:] = True
    masks[2][2:4, 2:5] = True
    maps = [(rng.random(mask.shape) + 0.5 * mask).astype(np.float32) for mask in masks]
    return [np.round(m, 1) for m in maps] if ties else maps, masks


@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
def test_images_of_different_sizes_are_their_pixels_concatenated(ties, chunk):
    maps, masks = _images_of_different_sizes(ties)
    result = metrics.pixel_metrics(maps, masks, more_limits=[0.05])
    assert result == pytest.approx(_reference_pixel_metrics(maps, masks, [0.05]), abs=1e-9)
    assert metrics.aupro(maps, masks, 0.05) == result["pixel_aupro_0.05"]
    fpr, tpr = metrics.roc_curve_points(maps, masks, max_points=None)
    assert np.trapezoid(tpr, fpr) == pytest.approx(result["pixel_auroc"], abs=1e-12)
    fpr, pro = metrics.pro_curve_points(maps, masks, 1.0, max_points=None)
    assert fpr.size > 2 and (fpr[-1], pro[-1]) == (1.0, 1.0)


def test_a_sequence_of_equal_sizes_equals_the_array(chunk):
    maps, masks = _random_set(np.random.default_rng(5), ties=True)
    expected = metrics.pixel_metrics(maps, masks)
    assert metrics.pixel_metrics(list(maps), list(masks)) == expected
    assert metrics.pixel_metrics(tuple(maps), masks) == expected


def test_sizes_that_do_not_match_are_named():
    maps, masks = _images_of_different_sizes(ties=False)
    with pytest.raises(ValueError, match=r"image 1"):
        metrics.pixel_metrics([maps[0], maps[2], maps[1]], masks)
    with pytest.raises(ValueError, match="3 maps for 2 masks"):
        metrics.pixel_metrics(maps, masks[:2])
    with pytest.raises(ValueError, match=r"\[H, W\] arrays"):
        metrics.pixel_metrics(maps, [m.ravel() for m in masks])
