"""Tests of the plotting curves in hgad.evaluation.metrics: they are the curves the metrics
integrate."""

from __future__ import annotations

import numpy as np
import pytest

from hgad.evaluation import metrics


@pytest.fixture(params=[5, metrics._CHUNK], ids=["tiny-blocks", "default-blocks"])
def chunk(request, monkeypatch):
    """Run a test with tiny blocks too, so tie groups cross block boundaries."""
    monkeypatch.setattr(metrics, "_CHUNK", request.param)
    return request.param


def _area_up_to(x: np.ndarray, y: np.ndarray, limit: float) -> float:
    """Trapezoid area of the curve (x, y) over [0, limit], y interpolated linearly at limit."""
    inside = int(np.count_nonzero(x <= limit))
    area = float(np.trapezoid(y[:inside], x[:inside]))
    if inside < x.size and x[inside - 1] < limit:
        x0, y0, x1, y1 = x[inside - 1], y[inside - 1], x[inside], y[inside]
        y_cut = y0 + (y1 - y0) * (limit - x0) / (x1 - x0)
        area += 0.5 * (y0 + y_cut) * (limit - x0)
    return area


def _random_scores(rng, n: int, ties: bool) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.random(n) < 0.3
    labels[:2] = [True, False]
    scores = rng.normal(size=n) + labels
    if ties:
        scores = np.round(scores, 1)
    return scores, labels


def _random_maps(rng, ties: bool) -> tuple[np.ndarray, np.ndarray]:
    masks = np.zeros((4, 16, 16), bool)
    masks[0, 2:6, 3:9] = True
    masks[0, 10:12, 10:15] = True
    masks[2, 5:14, 1:4] = True
    masks[3, 0, 0] = True
    maps = rng.random(masks.shape).astype(np.float32) + 0.7 * masks
    if ties:
        maps = np.round(maps, 1)
    return maps, masks


def _assert_monotone(x: np.ndarray, y: np.ndarray) -> None:
    assert np.all(np.diff(x) >= 0) and np.all(np.diff(y) >= 0)


@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_roc_curve_area_is_roc_auc(seed, ties, chunk):
    scores, labels = _random_scores(np.random.default_rng(seed), 300, ties)
    fpr, tpr = metrics.roc_curve_points(scores, labels, max_points=None)
    assert (fpr[0], tpr[0]) == (0.0, 0.0) and (fpr[-1], tpr[-1]) == (1.0, 1.0)
    _assert_monotone(fpr, tpr)
    assert np.trapezoid(tpr, fpr) == pytest.approx(metrics.roc_auc(scores, labels), abs=1e-9)
    groups = np.unique(scores).size
    assert fpr.size == groups + 1  # one point per tie group, plus (0, 0)


@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
@pytest.mark.parametrize("max_fpr", [0.3, 0.05, 1.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_pro_curve_area_is_aupro(seed, max_fpr, ties, chunk):
    maps, masks = _random_maps(np.random.default_rng(seed), ties)
    expected = metrics.aupro(maps, masks, max_fpr=max_fpr)
    fpr, pro = metrics.pro_curve_points(maps, masks, max_fpr=max_fpr, max_points=None)
    _assert_monotone(fpr, pro)
    assert (fpr[0], pro[0]) == (0.0, 0.0) and fpr[-1] == max_fpr
    assert np.trapezoid(pro, fpr) / max_fpr == pytest.approx(expected, abs=1e-9)
    # the whole curve, integrated to max_fpr with interpolation, gives the same number
    full_fpr, full_pro = metrics.pro_curve_points(maps, masks, max_fpr=1.0, max_points=None)
    assert (full_fpr[-1], full_pro[-1]) == (1.0, 1.0)
    assert _area_up_to(full_fpr, full_pro, max_fpr) / max_fpr == pytest.approx(expected, abs=1e-9)


def test_thinning_keeps_endpoints_and_monotonicity(chunk):
    rng = np.random.default_rng(3)
    scores, labels = _random_scores(rng, 5000, ties=False)
    full = metrics.roc_curve_points(scores, labels, max_points=None)
    for max_points in (2, 3, 50, 400):
        fpr, tpr = metrics.roc_curve_points(scores, labels, max_points=max_points)
        assert 2 <= fpr.size <= max_points
        assert (fpr[0], tpr[0]) == (0.0, 0.0) and (fpr[-1], tpr[-1]) == (1.0, 1.0)
        _assert_monotone(fpr, tpr)
        # every kept point lies on the unthinned curve
        pairs = set(zip(*full, strict=True))
        assert all(p in pairs for p in zip(fpr, tpr, strict=True))
    fpr, tpr = metrics.roc_curve_points(scores, labels, max_points=400)
    assert fpr.size > 300  # evenly spread along the curve: the bins are nearly all used
    assert abs(np.trapezoid(tpr, fpr) - np.trapezoid(full[1], full[0])) < 5e-3

    maps, masks = _random_maps(rng, ties=False)
    full_fpr, full_pro = metrics.pro_curve_points(maps, masks, max_points=None)
    fpr, pro = metrics.pro_curve_points(maps, masks, max_points=20)
    assert fpr.size <= 20 < full_fpr.size
    assert (fpr[0], pro[0]) == (0.0, 0.0) and (fpr[-1], pro[-1]) == (full_fpr[-1], full_pro[-1])
    _assert_monotone(fpr, pro)


def test_curve_errors():
    with pytest.raises(ValueError, match="single class"):
        metrics.roc_curve_points([0.1, 0.2], [0, 0])
    with pytest.raises(ValueError, match="max_points"):
        metrics.roc_curve_points([0.1, 0.2], [0, 1], max_points=1)
    with pytest.raises(ValueError, match="max_fpr"):
        metrics.pro_curve_points(np.zeros((1, 2, 2)), np.eye(2)[None], max_fpr=0)
