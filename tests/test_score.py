"""Anomaly maps (docs/method.md#scoring) and the evaluation of a trained model."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.ndimage import gaussian_filter
from tiny import CATEGORIES, CPU, N_DEFECTS, N_TEST_GOOD, N_TEST_PER_DEFECT

from hgad.data.images import load_mask
from hgad.data.manifest import read_manifest, select_split
from hgad.evaluation.evaluate import evaluate
from hgad.evaluation.metrics import image_metrics, pixel_metrics
from hgad.features.cache import open_cache
from hgad.model.maps import KINDS, level_maps
from hgad.model.model_file import load_model
from hgad.model.normalization import anomaly_maps, fit_normalizer, fitted_anomaly_maps

N_TEST = N_TEST_GOOD + N_DEFECTS * N_TEST_PER_DEFECT


def _synthetic_maps():
    """Two levels, 3 images: level 0 [3, 4, 4] varies, level 1 [3, 2, 2] is constant per image
    (so its bilinear upsampling is the same constant)."""
    generator = torch.Generator().manual_seed(0)
    maps = {}
    for kind in KINDS:
        level0 = torch.randn(3, 4, 4, generator=generator) * 2 - 5
        level1 = (torch.randn(3, generator=generator) - 3)[:, None, None].expand(3, 2, 2)
        maps[kind] = [level0, level1.contiguous()]
    return maps


def _expected_anomaly(maps_kind, level_max, sum_max):
    level0, level1 = maps_kind
    total = torch.exp(level0 - level_max[0]) + torch.exp(level1[:, :1, :1] - level_max[1])
    return sum_max - total


def test_normalizer_and_maps_by_hand():
    maps = _synthetic_maps()
    normalizer = fit_normalizer(maps, msk_size=4, clip=False)
    final = np.ones((3, 4, 4))
    for kind in KINDS:
        level0, level1 = maps[kind]
        level_max = [level0.max().item(), level1.max().item()]
        assert normalizer.level_max[kind] == pytest.approx(level_max)
        total = torch.exp(level0 - level_max[0]) + torch.exp(level1[:, :1, :1] - level_max[1])
        assert normalizer.sum_max[kind] == pytest.approx(total.max().item(), rel=1e-6)
        final = final * (total.max() - total).numpy()
    scores = anomaly_maps(maps, normalizer, msk_size=4, sigma=0)
    assert scores.shape == (3, 4, 4) and scores.dtype == np.float32
    assert np.allclose(scores, final, atol=1e-6)


@pytest.mark.parametrize("clip", [False, True])
def test_fitting_and_scoring_at_once_equals_the_two_steps_bit_for_bit(clip):
    """Over more images than one chunk of fit_normalizer's maximum (64)."""
    generator = torch.Generator().manual_seed(1)
    maps = {kind: [torch.randn(70, 6, 6, generator=generator) * 3,
                   torch.randn(70, 3, 3, generator=generator) * 3] for kind in KINDS}
    normalizer, scores = fitted_anomaly_maps(maps, msk_size=16, sigma=1.0, clip=clip)
    assert normalizer == fit_normalizer(maps, msk_size=16, clip=clip)
    assert np.array_equal(scores, anomaly_maps(maps, normalizer, msk_size=16, sigma=1.0))


def test_maps_smoothed_on_several_threads_equal_those_of_one_bit_for_bit(monkeypatch):
    generator = torch.Generator().manual_seed(2)
    maps = {kind: [torch.randn(7, 6, 6, generator=generator) * 3,
                   torch.randn(7, 3, 3, generator=generator) * 3] for kind in KINDS}
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    alone = fitted_anomaly_maps(maps, msk_size=16, sigma=2.0, clip=False)[1]
    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)
    shared = fitted_anomaly_maps(maps, msk_size=16, sigma=2.0, clip=False)[1]
    assert np.array_equal(alone, shared)
    expected = np.ones_like(alone)
    for kind in KINDS:  # each map smoothed alone, as the reference code does
        sums = sum(torch.nn.functional.interpolate(torch.exp(m - m.max())[:, None], size=(16, 16),
                                                   mode="bilinear", align_corners=True)[:, 0]
                   for m in maps[kind])
        anomaly = (sums.max() - sums).numpy().astype(np.float32)
        expected *= np.stack([gaussian_filter(image, sigma=2.0) for image in anomaly])
    assert np.array_equal(shared, expected)


def test_test_max_maps_are_non_negative_with_zero_at_the_most_normal_location():
    maps = _synthetic_maps()
    normalizer = fit_normalizer(maps, msk_size=4, clip=False)
    scores = anomaly_maps(maps, normalizer, msk_size=4, sigma=0)
    assert scores.min() >= 0
    # at the location where the logp level sum is largest (most normal), the anomaly is 0
    level0, level1 = maps["logp"]
    total = torch.exp(level0 - level0.max()) + torch.exp(level1[:, :1, :1] - level1.max())
    image, row, col = np.unravel_index(int(total.argmax()), total.shape)
    assert scores[image, row, col] == pytest.approx(0, abs=1e-7)
    smoothed = anomaly_maps(maps, normalizer, msk_size=4, sigma=1)
    assert smoothed.min() >= 0
    assert not np.allclose(smoothed, scores)


def test_train_max_clips_at_zero():
    maps = _synthetic_maps()
    reference = {kind: [m - 1.0 for m in per_level] for kind, per_level in maps.items()}
    reference["logp"][0] = reference["logp"][0] - 3  # test maps exceed the training maxima
    normalizer = fit_normalizer(reference, msk_size=4, clip=True)
    scores = anomaly_maps(maps, normalizer, msk_size=4, sigma=0)
    assert scores.min() >= 0
    expected = np.ones((3, 4, 4))
    for kind in KINDS:
        anomaly = _expected_anomaly(maps[kind], normalizer.level_max[kind],
                                    normalizer.sum_max[kind])
        expected = expected * anomaly.clamp_min(0).numpy()
    assert np.allclose(scores, expected, atol=1e-6)
    assert (scores == 0).sum() > 0


def test_bilinear_upsampling_to_mask_size_by_hand():
    a = math.exp(-1)
    maps = {"logp": [torch.tensor([[[0.0, -1.0], [-1.0, -1.0]]])],
            "neg_entropy": [torch.tensor([[[-1.0, 0.0], [0.0, 0.0]]])]}
    normalizer = fit_normalizer(maps, msk_size=3, clip=False)
    scores = anomaly_maps(maps, normalizer, msk_size=3, sigma=0)
    assert scores.shape == (1, 3, 3)
    # align_corners=True: the corners are kept, the middle samples are averages
    up_logp = np.array([[1, (1 + a) / 2, a], [(1 + a) / 2, (1 + 3 * a) / 4, a], [a, a, a]])
    up_negh = np.array([[a, (1 + a) / 2, 1], [(1 + a) / 2, (3 + a) / 4, 1], [1, 1, 1]])
    expected = (1 - up_logp) * (1 - up_negh)
    assert np.allclose(scores[0], expected, atol=1e-6)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, trained, caches, manifest_path, tiny_settings):
    out = tmp_path_factory.mktemp("eval")
    result = evaluate(trained.model, manifest_path, caches.test, out / "metrics.json",
                      out / "metrics.csv", out / "maps", tiny_settings, CPU)
    return out, result


def test_evaluate_writes_metrics(evaluated):
    out, result = evaluated
    stored = json.loads((out / "metrics.json").read_text())
    assert stored["categories"].keys() == set(CATEGORIES)
    for category in CATEGORIES:
        metrics = stored["categories"][category]
        assert metrics["num_test"] == N_TEST
        assert metrics["num_anomalous"] == N_DEFECTS * N_TEST_PER_DEFECT
    for name in ("image_auroc", "pixel_auroc"):
        mean = np.mean([stored["categories"][c][name] for c in CATEGORIES])
        assert stored["mean"][name] == pytest.approx(mean)
    assert stored["mean"] == pytest.approx(result["mean"])
    table = pd.read_csv(out / "metrics.csv", index_col="category")
    assert sorted(table.index) == sorted([*CATEGORIES, "mean"])
    for name in ("image_auroc", "pixel_auroc"):
        assert table.loc["mean", name] == pytest.approx(stored["mean"][name], abs=1e-6)
        for category in CATEGORIES:
            assert table.loc[category, name] == pytest.approx(
                stored["categories"][category][name], abs=1e-6)


def test_evaluate_writes_maps(evaluated, tiny_settings, manifest_path, trained, caches):
    out, result = evaluated
    msk = tiny_settings.evaluate.msk_size
    model = load_model(trained.model, CPU)
    test_rows = select_split(read_manifest(manifest_path), "test")
    arrays = open_cache(caches.test)
    for index, category in enumerate(CATEGORIES):
        maps = np.load(out / "maps" / f"{category}.npy")
        assert maps.shape == (N_TEST, msk, msk)
        assert maps.dtype == np.float16
        assert np.isfinite(maps).all() and maps.min() >= 0
        # the stored maps are those of the category's test images, in manifest order
        rows = np.flatnonzero(test_rows["category"].to_numpy() == category)
        per_level = level_maps(model, arrays, rows, np.full(len(rows), index), 4, CPU)
        normalizer = fit_normalizer(per_level, msk, clip=False)
        expected = anomaly_maps(per_level, normalizer, msk, tiny_settings.evaluate.gaussian_sigma)
        assert np.allclose(maps.astype(np.float32), expected, rtol=1e-2,
                           atol=1e-3 * float(expected.max()))
        image_scores = expected.reshape(N_TEST, -1).max(1)
        labels = test_rows["label"].to_numpy()[rows]
        masks = np.stack([load_mask(path, msk) for path in test_rows["mask"].to_numpy()[rows]])
        assert result["categories"][category]["image_auroc"] == pytest.approx(
            image_metrics(image_scores, labels)["image_auroc"])
        assert result["categories"][category]["pixel_auroc"] == pytest.approx(
            pixel_metrics(expected, masks)["pixel_auroc"])


def test_level_maps_of_trained_model(trained, caches, manifest_path, tiny_settings):
    model = load_model(trained.model, CPU)
    arrays = open_cache(caches.test)
    rows = np.arange(N_TEST)
    maps = level_maps(model, arrays, rows, np.zeros(N_TEST, dtype=int), 4, CPU)
    assert [m.shape for m in maps["logp"]] == [(N_TEST, 4, 4), (N_TEST, 2, 2)]
    assert [m.shape for m in maps["neg_entropy"]] == [(N_TEST, 4, 4), (N_TEST, 2, 2)]
    for level in range(2):
        assert torch.all(maps["neg_entropy"][level] <= 1e-6)
        assert torch.all(maps["neg_entropy"][level] >= -math.log(2) - 1e-5)
        assert torch.isfinite(maps["logp"][level]).all()
    # the batch size does not change the maps
    other = level_maps(model, arrays, rows, np.zeros(N_TEST, dtype=int), 5, CPU)
    for kind in KINDS:
        for a, b in zip(maps[kind], other[kind], strict=True):
            assert torch.allclose(a, b, atol=1e-4)
    # test_max maps of real model outputs: non-negative, minimum 0 over the test set
    normalizer = fit_normalizer(maps, 32, clip=False)
    scores = anomaly_maps(maps, normalizer, 32, sigma=0)
    assert scores.min() >= 0
    assert scores.min() == pytest.approx(0, abs=1e-6)


def test_train_max_needs_the_train_cache(tmp_path, trained, caches, manifest_path,
                                         tiny_settings):
    settings = dataclasses.replace(
        tiny_settings, evaluate=dataclasses.replace(tiny_settings.evaluate,
                                                    normalization="train_max"))
    with pytest.raises(ValueError, match="train"):
        evaluate(trained.model, manifest_path, caches.test, tmp_path / "m.json",
                 tmp_path / "m.csv", tmp_path / "maps", settings, CPU)
    assert not (tmp_path / "m.json").exists()


def test_train_max_normalises_by_the_training_maps(tmp_path, trained, caches, manifest_path,
                                                   tiny_settings):
    """The constants come from the category's training images, not its test images."""
    settings = dataclasses.replace(
        tiny_settings, evaluate=dataclasses.replace(tiny_settings.evaluate,
                                                    normalization="train_max"))
    result = evaluate(trained.model, manifest_path, caches.test, tmp_path / "m.json",
                      tmp_path / "m.csv", tmp_path / "maps", settings, CPU,
                      train_cache=caches.train)
    ev = settings.evaluate
    model = load_model(trained.model, CPU)
    manifest = read_manifest(manifest_path)
    test_rows, train_rows = select_split(manifest, "test"), select_split(manifest, "train")
    for index, category in enumerate(CATEGORIES):
        rows = np.flatnonzero(test_rows["category"].to_numpy() == category)
        train_idx = np.flatnonzero(train_rows["category"].to_numpy() == category)
        test_maps = level_maps(model, open_cache(caches.test), rows, np.full(len(rows), index),
                               ev.batch_size, CPU)
        train_maps = level_maps(model, open_cache(caches.train), train_idx,
                                np.full(len(train_idx), index), ev.batch_size, CPU)
        by_train = fit_normalizer(train_maps, ev.msk_size, clip=True)
        by_test = fit_normalizer(test_maps, ev.msk_size, clip=True)
        assert by_train != by_test  # else this test could not tell the two apart
        expected = anomaly_maps(test_maps, by_train, ev.msk_size, ev.gaussian_sigma)
        transductive = anomaly_maps(test_maps, by_test, ev.msk_size, ev.gaussian_sigma)
        stored = np.load(tmp_path / "maps" / f"{category}.npy").astype(np.float32)
        tolerance = 1e-3 * float(expected.max())
        assert np.allclose(stored, expected, rtol=1e-2, atol=tolerance)
        assert not np.allclose(stored, transductive, rtol=1e-2, atol=tolerance)
        assert result["categories"][category]["image_auroc"] == pytest.approx(image_metrics(
            expected.reshape(len(rows), -1).max(1), test_rows["label"].to_numpy()[rows]
        )["image_auroc"])


def test_evaluate_rejects_swapped_caches(tmp_path, trained, caches, manifest_path,
                                         tiny_settings):
    from hgad.features.cache import CacheMismatchError

    with pytest.raises(CacheMismatchError):
        evaluate(trained.model, manifest_path, caches.train, tmp_path / "m.json",
                 tmp_path / "m.csv", tmp_path / "maps", tiny_settings, CPU)
