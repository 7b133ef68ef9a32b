"""The kNN baseline on the same cached features (PatchCore-like, with a random coreset).

Definition: docs/method.md#baseline-knn-on-the-same-features.

Per category and level, the memory bank holds every position's feature vector of the category's
training images (or a random ``coreset_fraction`` of them, seed 0). A test position's score is
the L2 distance to its nearest neighbour in the bank of the image's category (exact search,
batched). Per image, each level's distance map is upsampled bilinearly to ``msk_size``
(``align_corners=True``, as HGAD's maps), the levels are summed and the sum is smoothed with the
same Gaussian; the image score is the map's maximum. No normalisation is needed: distances of
all levels are in the same feature space. One pass over the cached features, no backbone, no
training.
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter
from tqdm import tqdm

from hgad.data.manifest import class_names, read_manifest, select_split
from hgad.evaluation.evaluate import TestSet, checked_cache, map_metrics, write_metrics
from hgad.features.cache import read_meta
from hgad.model.prior import squared_distances
from hgad.runtime.config import Settings

QUERY_CHUNK = 2048  # positions per distance block; a block is QUERY_CHUNK x BANK_CHUNK floats
BANK_CHUNK = 16384


def nearest_distances(queries: torch.Tensor, bank: torch.Tensor) -> torch.Tensor:
    """min_b ||q - bank_b|| for float32 queries [Q, D] and a bank [B, D] of any float dtype
    (upcast to float32 one block at a time) -> [Q], exact, blockwise."""
    result = []
    for q_start in range(0, len(queries), QUERY_CHUNK):
        block = queries[q_start:q_start + QUERY_CHUNK]
        best = torch.full((len(block),), math.inf, device=block.device)
        for b_start in range(0, len(bank), BANK_CHUNK):
            distances = squared_distances(block, bank[b_start:b_start + BANK_CHUNK].float())
            best = torch.minimum(best, distances.min(1).values)
        result.append(best)
    return torch.cat(result).clamp_min(0).sqrt()


def positions(features: np.ndarray, device: torch.device) -> torch.Tensor:
    """Cached features [R, D, H, W] -> float32 vectors [R*H*W, D] ordered (image, row, column)."""
    tensor = torch.from_numpy(np.ascontiguousarray(features)).to(device, torch.float32)
    return tensor.permute(0, 2, 3, 1).reshape(-1, tensor.shape[1])


def memory_bank(array: np.ndarray, rows: np.ndarray, coreset_fraction: float,
                device: torch.device) -> torch.Tensor:
    """The training positions of the images ``rows`` of a level's cache [N, D, H, W], [B, D] in
    the cache's dtype (float16: half the memory of float32, and the same distances, since
    :func:`nearest_distances` upcasts exactly); a random ``ceil(fraction * B)`` of them (seed 0)
    when ``coreset_fraction`` < 1, gathered without a permuted copy of the whole bank."""
    features = torch.from_numpy(np.ascontiguousarray(array[rows])).to(device)
    count, dim, height, width = features.shape
    if coreset_fraction >= 1:
        return features.permute(0, 2, 3, 1).reshape(-1, dim)
    total = count * height * width
    keep = math.ceil(coreset_fraction * total)
    chosen = torch.randperm(total, generator=torch.Generator().manual_seed(0))[:keep].to(device)
    # position p (ordered image, row, column) is image p // (H*W), place p % (H*W)
    return features.view(count, dim, height * width)[chosen // (height * width), :,
                                                     chosen % (height * width)]


@torch.inference_mode()
def knn_level_maps(train_arrays: list[np.ndarray], train_rows: np.ndarray,
                   test_arrays: list[np.ndarray], test_rows: np.ndarray, coreset_fraction: float,
                   batch_size: int, device: torch.device) -> list[torch.Tensor]:
    """Nearest-neighbour distance maps of the test images, per level [R, H_l, W_l] (CPU float32),
    against the bank of the training images ``train_rows``."""
    maps = []
    for train_array, test_array in zip(train_arrays, test_arrays, strict=True):
        bank = memory_bank(train_array, train_rows, coreset_fraction, device)
        height, width = test_array.shape[2:]
        parts = [nearest_distances(positions(test_array[test_rows[i:i + batch_size]], device),
                                   bank).view(-1, height, width).cpu()
                 for i in range(0, len(test_rows), batch_size)]
        maps.append(torch.cat(parts))
    return maps


def knn_anomaly_maps(level_maps: list[torch.Tensor], msk_size: int, sigma: float) -> np.ndarray:
    """sum_l upsample(map_l), smoothed per image: float32 [R, msk_size, msk_size]."""
    total = sum(F.interpolate(maps[:, None], size=(msk_size, msk_size), mode="bilinear",
                              align_corners=True)[:, 0] for maps in level_maps)
    scores = total.numpy().astype(np.float32)
    if sigma > 0:
        for image in scores:
            image[:] = gaussian_filter(image, sigma=sigma)
    return scores


def evaluate_knn(manifest_path: str | os.PathLike, train_cache: str | os.PathLike,
                 test_cache: str | os.PathLike, metrics_json: str | os.PathLike,
                 metrics_csv: str | os.PathLike, settings: Settings,
                 device: torch.device) -> dict:
    """Score every test image with the kNN baseline; metrics per category as
    :func:`hgad.evaluation.evaluate.evaluate` writes them (same JSON and CSV layout)."""
    manifest = read_manifest(manifest_path)
    test_rows, train_rows = select_split(manifest, "test"), select_split(manifest, "train")
    ev = settings.evaluate
    test = TestSet(test_rows, checked_cache(test_cache, manifest_path, "test", len(test_rows)),
                   train_rows,
                   checked_cache(train_cache, manifest_path, "train", len(train_rows)),
                   ev.msk_size, read_meta(test_cache).resize)
    per_category = {}
    for category in tqdm(class_names(manifest), desc="knn baseline", unit="category"):
        rows = test.indices(category)
        if len(rows) == 0:
            continue
        level_maps = knn_level_maps(test.train_arrays, test.indices(category, train=True),
                                    test.arrays, rows, settings.knn.coreset_fraction,
                                    ev.batch_size, device)
        scores = knn_anomaly_maps(level_maps, ev.msk_size, ev.gaussian_sigma)
        labels = test.labels(category)
        per_category[category] = {**map_metrics(scores, labels, test.masks(category),
                                                f"{test.where(category)} (kNN baseline)",
                                                ev.aupro_limits),
                                  "num_test": len(labels), "num_anomalous": int(labels.sum())}
    source = f"knn baseline (coreset_fraction {settings.knn.coreset_fraction})"
    return write_metrics(per_category, metrics_json, metrics_csv, source, manifest_path)
