"""The model's per-level score maps: log-likelihood and negative entropy of every position.

Definition: docs/method.md#scoring. Evaluation (every class-conditioning variant), the
normalisation constants stored at the end of training and ``hgad predict`` all compute their
maps here; :mod:`hgad.model.normalization` turns them into anomaly maps.

Shapes: B images, K categories, per level l features [B, D, H_l, W_l].
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from hgad.model.network import HGADModel
from hgad.model.prior import (
    class_log_likelihoods,
    log_likelihood,
    mixture_log_likelihood,
    negative_entropy,
)

KINDS = ("logp", "neg_entropy")

# One level of a batch through the flow: (feature shape [B, D, H, W], z, logdet).
Encoded = tuple[torch.Size, torch.Tensor, torch.Tensor]


def encode_levels(model: HGADModel, features: list[torch.Tensor]) -> list[Encoded]:
    """Every level of a batch (``features[l]`` float32 [B, D, H_l, W_l]) through its flow."""
    return [(f.shape, *model.encode(level, f)) for level, f in enumerate(features)]


def _as_maps(values: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Per-position values [B*H*W] -> float32 maps [B, H, W] (on their device)."""
    return values.view(shape[0], shape[2], shape[3]).float()


def log_likelihood_maps(model: HGADModel, encoded: list[Encoded],
                        classes: torch.Tensor | None) -> list[torch.Tensor]:
    """Per level, float32 [B, H_l, W_l]: each position's per-dimension log-likelihood under the
    class ``classes[b]`` of its image (int64 [B], on the latents' device), or under the whole
    hierarchical mixture when ``classes`` is None."""
    maps = []
    for level, (shape, z, logdet) in enumerate(encoded):
        prior = model.priors[level]
        if classes is None:
            values = mixture_log_likelihood(prior, z, logdet)
        else:
            values = log_likelihood(prior, z, logdet,
                                    classes.repeat_interleave(shape[2] * shape[3]))
        maps.append(_as_maps(values, shape))
    return maps


def negative_entropy_maps(model: HGADModel, encoded: list[Encoded]) -> list[torch.Tensor]:
    """Per level, float32 [B, H_l, W_l]: each position's negative entropy of its class
    posterior."""
    return [_as_maps(negative_entropy(model.priors[level], z), shape)
            for level, (shape, z, _) in enumerate(encoded)]


def batch_maps(model: HGADModel, encoded: list[Encoded],
               classes: torch.Tensor) -> dict[str, list[torch.Tensor]]:
    """{kind: per-level maps [B, H_l, W_l]} of a batch under its images' classes [B]."""
    return {"logp": log_likelihood_maps(model, encoded, classes),
            "neg_entropy": negative_entropy_maps(model, encoded)}


def class_scores(model: HGADModel, encoded: list[Encoded]) -> torch.Tensor:
    """Per image and class, the per-dimension log-likelihood summed over positions and levels,
    [B, K]: the predicted category is its argmax."""
    total = 0
    for level, (shape, z, logdet) in enumerate(encoded):
        per_class = class_log_likelihoods(model.priors[level], z, logdet)  # [B*H*W, K]
        total = total + per_class.view(shape[0], -1, per_class.shape[1]).sum(1)
    return total


def cached_batches(arrays: list[np.ndarray], rows: np.ndarray, batch_size: int,
                   device: torch.device) -> Iterator[tuple[slice, list[torch.Tensor]]]:
    """Yield (slice into ``rows``, per-level float32 features [B, D, H_l, W_l] on ``device``) of
    the cached images ``rows``, ``batch_size`` at a time; ``arrays[l]`` is level l's cache
    [N, D, H_l, W_l]."""
    for start in range(0, len(rows), batch_size):
        batch = rows[start:start + batch_size]
        yield (slice(start, start + len(batch)),
               [torch.from_numpy(array[batch]).to(device, torch.float32) for array in arrays])


@torch.inference_mode()
def level_maps(model: HGADModel, arrays: list[np.ndarray], rows: np.ndarray, classes: np.ndarray,
               batch_size: int, device: torch.device) -> dict[str, list[torch.Tensor]]:
    """Per-level score maps of the cached images ``rows`` (class indices ``classes``).

    ``arrays[l]`` is level l's cache [N, D, H_l, W_l]. Returns {kind: [tensor [R, H_l, W_l]]} on
    the CPU in float32, R = len(rows). The maps stay on ``device`` until all are made (one host
    synchronisation per call, not one per batch).
    """
    model.eval()
    parts: dict[str, list[list[torch.Tensor]]] = {kind: [[] for _ in arrays] for kind in KINDS}
    for batch, features in cached_batches(arrays, rows, batch_size, device):
        maps = batch_maps(model, encode_levels(model, features),
                          torch.as_tensor(classes[batch], device=device))
        for kind in KINDS:
            for level, level_part in enumerate(maps[kind]):
                parts[kind][level].append(level_part)
    return {kind: [torch.cat(level_parts).cpu() for level_parts in per_level]
            for kind, per_level in parts.items()}
