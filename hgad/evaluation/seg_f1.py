"""SegF1: the F1 of binarised anomaly maps at a threshold set without test labels
(docs/metrics.md#segf1), as MVTec AD 2 reports it.

The threshold comes from the anomaly maps of the category's validation images, all normal: their
pixel scores' mean plus :data:`SIGMAS` standard deviations. The test maps are binarised at it
(a pixel is anomalous when its score is above it) and compared with the masks over every pixel
of the category's test set, at the masks' resolution.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from hgad.evaluation.metrics import Images

SIGMAS = 3.0


def validation_threshold(maps: ArrayLike) -> float:
    """Mean + :data:`SIGMAS` x standard deviation of every pixel of ``maps`` [V, H, W]
    (the validation images' anomaly maps), in float64."""
    values = np.asarray(maps, dtype=np.float64)
    if values.size == 0:
        raise ValueError("no validation maps to set the SegF1 threshold")
    return float(values.mean() + SIGMAS * values.std())


def seg_f1(maps: Images, masks: Images, threshold: float) -> float:
    """F1 = 2 TP / (2 TP + FP + FN) of ``maps`` > ``threshold`` against ``masks`` (non-zero =
    anomalous), over all pixels, counted image by image: [N, H, W] arrays or sequences of N
    arrays [H_i, W_i] of the same shapes. The masks must hold anomalous pixels."""
    if len(maps) != len(masks):
        raise ValueError(f"maps and masks must have one shape, got {len(maps)} maps and "
                         f"{len(masks)} masks")
    true_positive = wrong = anomalous = 0
    for i in range(len(masks)):
        truth, score = np.asarray(masks[i]) != 0, np.asarray(maps[i])
        if score.shape != truth.shape:
            raise ValueError(f"maps and masks must have one shape, got {score.shape} and "
                             f"{truth.shape} for image {i}")
        found = score > threshold
        true_positive += int(np.count_nonzero(found & truth))
        wrong += int(np.count_nonzero(found != truth))  # FP + FN
        anomalous += int(np.count_nonzero(truth))
    if not anomalous:
        raise ValueError("masks hold no anomalous pixel; SegF1 needs some")
    return 2 * true_positive / (2 * true_positive + wrong)
