"""Anomaly maps from the per-level log-likelihood and negative-entropy maps
(:mod:`hgad.model.maps`).

Definition: docs/method.md#scoring.

For each of the two kinds separately: subtract a per-level maximum, exp, upsample to ``msk_size``,
sum over levels, and take (a maximum of that sum) - sum as the anomaly; smooth each image's map
with a Gaussian (sigma 4). The final map is the product of the two; the image score is its maximum.

``test_max`` (the paper) takes both maxima over the category's test maps (transductive);
``train_max`` takes them over the category's training maps (inductive), and clips the anomaly at 0.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter

from hgad.model.maps import KINDS, level_maps
from hgad.model.network import HGADModel


@dataclass(frozen=True)
class Normalizer:
    """Per kind: the per-level maxima and the maximum of the level sum (see module docstring)."""

    level_max: dict[str, list[float]]
    sum_max: dict[str, float]
    clip: bool


def _level_sum(per_level: list[torch.Tensor], level_max: list[float],
               msk_size: int) -> torch.Tensor:
    """sum_l upsample(exp(map_l - max_l)) -> [R, msk_size, msk_size]."""
    total = 0
    for maps, maximum in zip(per_level, level_max, strict=True):
        total = total + F.interpolate(torch.exp(maps - maximum)[:, None], size=(msk_size, msk_size),
                                      mode="bilinear", align_corners=True)[:, 0]
    return total


def _max_level_sum(per_level: list[torch.Tensor], level_max: list[float], msk_size: int,
                   chunk: int = 64) -> float:
    """max of :func:`_level_sum` over all images, ``chunk`` images at a time (bounded memory)."""
    count = len(per_level[0])
    return max(float(_level_sum([maps[i:i + chunk] for maps in per_level], level_max,
                                msk_size).max())
               for i in range(0, count, chunk))


def fit_normalizer(maps: dict[str, list[torch.Tensor]], msk_size: int, clip: bool) -> Normalizer:
    """Normalisation constants from a set of per-level maps (the test or the training maps)."""
    level_max = {kind: [float(m.max()) for m in maps[kind]] for kind in KINDS}
    sum_max = {kind: _max_level_sum(maps[kind], level_max[kind], msk_size) for kind in KINDS}
    return Normalizer(level_max=level_max, sum_max=sum_max, clip=clip)


def train_max_normalizer(model: HGADModel, train_arrays: list[np.ndarray], rows: np.ndarray,
                         index: int, batch_size: int, msk_size: int,
                         device: torch.device) -> Normalizer:
    """The ``train_max`` constants of category ``index`` (clipped), fitted on the maps of its
    training images ``rows`` of the training cache ``train_arrays`` (level l [N, D, H_l, W_l]),
    each scored under the category."""
    maps = level_maps(model, train_arrays, rows, np.full(len(rows), index), batch_size, device)
    return fit_normalizer(maps, msk_size, clip=True)


def anomaly_maps(maps: dict[str, list[torch.Tensor]], normalizer: Normalizer, msk_size: int,
                 sigma: float) -> np.ndarray:
    """Final anomaly maps float32 [R, msk_size, msk_size] (higher = more anomalous)."""
    sums = {kind: _level_sum(maps[kind], normalizer.level_max[kind], msk_size) for kind in KINDS}
    return _anomaly_from_sums(sums, normalizer, sigma)


def fitted_anomaly_maps(maps: dict[str, list[torch.Tensor]], msk_size: int, sigma: float,
                        clip: bool) -> tuple[Normalizer, np.ndarray]:
    """:func:`fit_normalizer` on ``maps`` and their :func:`anomaly_maps` under it, bit for bit,
    each kind's level sum computed once instead of twice (the whole set at once: memory of
    :func:`anomaly_maps`, not the bounded chunks of :func:`fit_normalizer`)."""
    level_max = {kind: [float(m.max()) for m in maps[kind]] for kind in KINDS}
    sums = {kind: _level_sum(maps[kind], level_max[kind], msk_size) for kind in KINDS}
    normalizer = Normalizer(level_max=level_max,
                            sum_max={kind: float(sums[kind].max()) for kind in KINDS}, clip=clip)
    return normalizer, _anomaly_from_sums(sums, normalizer, sigma)


def _anomaly_from_sums(sums: dict[str, torch.Tensor], normalizer: Normalizer,
                       sigma: float) -> np.ndarray:
    """The final maps from each kind's level sum [R, S, S] (see the module docstring)."""
    final = None
    for kind in KINDS:
        anomaly = normalizer.sum_max[kind] - sums[kind]
        if normalizer.clip:
            anomaly = anomaly.clamp_min(0)
        anomaly = anomaly.numpy().astype(np.float32)
        if sigma > 0:
            _smooth(anomaly, sigma)
        final = anomaly if final is None else final * anomaly
    return final


def _smooth(maps: np.ndarray, sigma: float) -> None:
    """Smooth each map of ``maps`` [R, S, S] in place with scipy's Gaussian filter, the maps
    shared out over torch's threads (scipy releases the GIL; each map is one call, as alone)."""
    def smooth(rows: range) -> None:
        for row in rows:
            maps[row] = gaussian_filter(maps[row], sigma=sigma)

    threads = max(1, min(torch.get_num_threads(), len(maps)))
    if threads == 1:
        smooth(range(len(maps)))
        return
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(smooth, [range(start, len(maps), threads) for start in range(threads)]))


def image_scores(maps: np.ndarray) -> np.ndarray:
    """The image score of each anomaly map [R, S, S]: its maximum, [R]."""
    return maps.reshape(len(maps), -1).max(1)
