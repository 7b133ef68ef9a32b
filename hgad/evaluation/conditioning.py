"""Class conditioning at test time.

Definition: docs/method.md#class-conditioning-at-test-time.

``oracle`` scores an image under its true category's prior (the paper); ``predicted`` under the
category whose prior gives the image's latents the highest per-dimension log-likelihood summed
over all positions and levels; ``agnostic`` under the whole hierarchical mixture. The flow pass
is shared: each batch is encoded once and scored in every variant.

Normalisation never uses the true category outside ``oracle``: ``predicted`` uses the constants
of the predicted category (``train_max``: its training maps scored as ``oracle``; ``test_max``: the
test maps of every image predicted as it), ``agnostic`` one set of constants over all categories.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hgad.model.maps import (
    cached_batches,
    class_scores,
    encode_levels,
    log_likelihood_maps,
    negative_entropy_maps,
)
from hgad.model.network import HGADModel
from hgad.model.normalization import Normalizer, anomaly_maps, fit_normalizer

VARIANTS = ("oracle", "predicted", "agnostic")


@dataclass
class ConditionedMaps:
    """Per-level maps of R images (each a list over levels of float32 [R, H_l, W_l] on the CPU):
    ``logp[variant]`` and the shared ``neg_entropy``; ``predicted`` int64 [R] the predicted class
    index of each image."""

    logp: dict[str, list[torch.Tensor]]
    neg_entropy: list[torch.Tensor]
    predicted: np.ndarray

    def kinds(self, variant: str) -> dict[str, list[torch.Tensor]]:
        """The ``{kind: per-level maps}`` of one variant, as :mod:`hgad.model.normalization` takes
        them."""
        return {"logp": self.logp[variant], "neg_entropy": self.neg_entropy}

    def select(self, index: np.ndarray) -> ConditionedMaps:
        """The images ``index`` (an index array into R)."""
        index = torch.as_tensor(index)
        return ConditionedMaps({v: [m[index] for m in maps] for v, maps in self.logp.items()},
                               [m[index] for m in self.neg_entropy],
                               self.predicted[index.numpy()])

    @staticmethod
    def concat(parts: list[ConditionedMaps]) -> ConditionedMaps:
        """The images of every part, in order."""
        return ConditionedMaps(
            {v: [torch.cat(level) for level in zip(*(p.logp[v] for p in parts), strict=True)]
             for v in parts[0].logp},
            [torch.cat(level) for level in zip(*(p.neg_entropy for p in parts), strict=True)],
            np.concatenate([p.predicted for p in parts]))


@torch.inference_mode()
def conditioned_level_maps(model: HGADModel, arrays: list[np.ndarray], rows: np.ndarray,
                           classes: np.ndarray, variants: tuple[str, ...], batch_size: int,
                           device: torch.device) -> ConditionedMaps:
    """Per-level maps of the cached images ``rows`` (true class indices ``classes``) in each of
    ``variants``; ``arrays[l]`` is level l's cache [N, D, H_l, W_l].

    ``oracle`` equals :func:`hgad.model.maps.level_maps` bit for bit (same batches, same calls).
    """
    model.eval()
    logp: dict[str, list[list[torch.Tensor]]] = {v: [[] for _ in arrays] for v in variants}
    neg_entropy: list[list[torch.Tensor]] = [[] for _ in arrays]
    predicted = []
    for batch, features in cached_batches(arrays, rows, batch_size, device):
        encoded = encode_levels(model, features)
        given = {"oracle": torch.as_tensor(classes[batch], device=device),
                 "predicted": class_scores(model, encoded).argmax(1), "agnostic": None}
        for variant in variants:
            for level, maps in enumerate(log_likelihood_maps(model, encoded, given[variant])):
                logp[variant][level].append(maps.cpu())
        for level, maps in enumerate(negative_entropy_maps(model, encoded)):
            neg_entropy[level].append(maps.cpu())
        predicted.append(given["predicted"].cpu().numpy())
    return ConditionedMaps({v: [torch.cat(parts) for parts in per_level]
                            for v, per_level in logp.items()},
                           [torch.cat(parts) for parts in neg_entropy],
                           np.concatenate(predicted))


def variant_anomaly_maps(test: dict[str, ConditionedMaps], reference: dict[str, ConditionedMaps]
                         | None, class_names: list[str], variants: tuple[str, ...],
                         msk_size: int, sigma: float) -> dict[str, dict[str, np.ndarray]]:
    """Final anomaly maps ``{category: {variant: float32 [R, msk_size, msk_size]}}``.

    ``test`` holds each category's test maps (true category); ``reference`` every category's
    training maps (``train_max``, constants clipped at 0) or None (``test_max``).
    """
    clip = reference is not None
    fitting = reference if clip else test
    oracle = {name: fit_normalizer(maps.kinds("oracle"), msk_size, clip)
              for name, maps in fitting.items()}
    if "predicted" in variants:
        predicted = _predicted_normalizers(test, oracle, class_names, msk_size, clip)
    if "agnostic" in variants:
        agnostic = fit_normalizer(ConditionedMaps.concat(list(fitting.values())).kinds("agnostic"),
                                  msk_size, clip)
    result = {}
    for category, maps in test.items():
        result[category] = {}
        for variant in variants:
            if variant == "predicted":
                scores = np.empty((len(maps.predicted), msk_size, msk_size), np.float32)
                for index in np.unique(maps.predicted):
                    rows = np.flatnonzero(maps.predicted == index)
                    scores[rows] = anomaly_maps(maps.select(rows).kinds(variant), predicted[index],
                                                msk_size, sigma)
            else:
                normalizer = oracle[category] if variant == "oracle" else agnostic
                scores = anomaly_maps(maps.kinds(variant), normalizer, msk_size, sigma)
            result[category][variant] = scores
    return result


def _predicted_normalizers(test: dict[str, ConditionedMaps], oracle: dict[str, Normalizer],
                           class_names: list[str], msk_size: int,
                           clip: bool) -> dict[int, Normalizer]:
    """Per predicted class index: ``oracle``'s constants of that category (``train_max``), or
    (``test_max``) constants from the test maps of every image predicted as it."""
    if clip:
        return {index: oracle[name] for index, name in enumerate(class_names)}
    pooled = ConditionedMaps.concat(list(test.values()))
    return {index: fit_normalizer(
                pooled.select(np.flatnonzero(pooled.predicted == index)).kinds("predicted"),
                msk_size, clip)
            for index in np.unique(pooled.predicted)}
