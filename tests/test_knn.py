"""The kNN baseline on the cached features, against a brute-force NumPy reference."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from tiny import CATEGORIES, CPU

import hgad.evaluation.knn
from hgad.evaluation.knn import evaluate_knn, knn_anomaly_maps, knn_level_maps, memory_bank


def _tiny_caches():
    """Two levels (4x4 and 2x2, D=3) of 5 training and 3 test images."""
    rng = np.random.default_rng(0)
    train = [rng.normal(size=(5, 3, s, s)).astype(np.float16) for s in (4, 2)]
    test = [rng.normal(size=(3, 3, s, s)).astype(np.float16) for s in (4, 2)]
    return train, test


def _brute_force(train, train_rows, test, test_rows, msk_size):
    """Nearest-neighbour distance per position by a double loop, bilinear upsampling with
    align_corners=True by np.interp along each axis, sum over levels: [R, msk_size, msk_size]."""
    total = np.zeros((len(test_rows), msk_size, msk_size))
    for train_level, test_level in zip(train, test, strict=True):
        bank = [train_level[i, :, y, x].astype(np.float64) for i in train_rows
                for y in range(train_level.shape[2]) for x in range(train_level.shape[3])]
        side = test_level.shape[2]
        grid = np.linspace(0, side - 1, msk_size)
        for r, i in enumerate(test_rows):
            dist = np.array([[min(np.sqrt(((test_level[i, :, y, x] - b) ** 2).sum()) for b in bank)
                              for x in range(side)] for y in range(side)])
            rows = np.array([np.interp(grid, np.arange(side), row) for row in dist])
            total[r] += np.array([np.interp(grid, np.arange(side), col) for col in rows.T]).T
    return total


def test_knn_maps_match_brute_force(monkeypatch):
    # blocks smaller than the data, so the blockwise minimum is exercised
    monkeypatch.setattr(hgad.evaluation.knn, "QUERY_CHUNK", 5)
    monkeypatch.setattr(hgad.evaluation.knn, "BANK_CHUNK", 7)
    train, test = _tiny_caches()
    train_rows, test_rows = np.array([0, 2, 3, 4]), np.array([2, 0])
    maps = knn_level_maps(train, train_rows, test, test_rows, 1.0, 1, CPU)
    assert [m.shape for m in maps] == [(2, 4, 4), (2, 2, 2)]
    scores = knn_anomaly_maps(maps, msk_size=8, sigma=0)
    expected = _brute_force(train, train_rows, test, test_rows, 8)
    assert scores.dtype == np.float32 and scores.shape == (2, 8, 8)
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-4)
    # image score = the map's maximum
    np.testing.assert_allclose(scores.reshape(2, -1).max(1), expected.reshape(2, -1).max(1),
                               rtol=1e-4)


def test_coreset_keeps_a_random_fraction():
    train, _ = _tiny_caches()
    full = memory_bank(train[0], np.arange(5), 1.0, CPU)
    half = memory_bank(train[0], np.arange(5), 0.3, CPU)
    assert full.shape == (80, 3) and half.shape == (math.ceil(0.3 * 80), 3)
    # a random subset of the full bank's rows (not its first rows), the same each time
    assert all((full == row).all(1).any() for row in half)
    assert not torch.equal(half, full[:len(half)])
    assert torch.equal(half, memory_bank(train[0], np.arange(5), 0.3, CPU))


def _float32_bank(array, rows, coreset_fraction):
    """The bank as a float32 copy of every position, then the coreset's rows (seed 0)."""
    bank = torch.from_numpy(array[rows]).float().permute(0, 2, 3, 1).reshape(-1, array.shape[1])
    if coreset_fraction < 1:
        keep = math.ceil(coreset_fraction * len(bank))
        bank = bank[torch.randperm(len(bank), generator=torch.Generator().manual_seed(0))[:keep]]
    return bank


@pytest.mark.parametrize("coreset_fraction", [1.0, 0.3])
def test_bank_stays_in_the_cache_dtype_with_the_float32_distances(monkeypatch, coreset_fraction):
    """Half the memory of a float32 bank, the same rows in the same order, and bit for bit the
    same distances (each block is upcast exactly)."""
    monkeypatch.setattr(hgad.evaluation.knn, "QUERY_CHUNK", 5)
    monkeypatch.setattr(hgad.evaluation.knn, "BANK_CHUNK", 7)
    train, test = _tiny_caches()
    rows = np.array([0, 2, 3, 4])
    bank = memory_bank(train[0], rows, coreset_fraction, CPU)
    reference = _float32_bank(train[0], rows, coreset_fraction)
    assert bank.dtype == torch.float16
    assert torch.equal(bank.float(), reference)
    queries = torch.from_numpy(test[0]).float().permute(0, 2, 3, 1).reshape(-1, 3)
    assert torch.equal(hgad.evaluation.knn.nearest_distances(queries, bank),
                       hgad.evaluation.knn.nearest_distances(queries, reference))


def test_evaluate_knn_writes_metrics(tmp_path, caches, manifest_path, tiny_settings):
    result = evaluate_knn(manifest_path, caches.train, caches.test, tmp_path / "m.json",
                          tmp_path / "m.csv", tiny_settings, CPU)
    stored = json.loads((tmp_path / "m.json").read_text())
    assert stored["categories"].keys() == set(CATEGORIES)
    for category in CATEGORIES:
        assert 0 <= stored["categories"][category]["image_auroc"] <= 1
        assert 0 <= stored["categories"][category]["pixel_aupro"] <= 1
    assert stored["mean"]["image_auroc"] == pytest.approx(result["mean"]["image_auroc"])
    assert "knn" in stored["model"]
