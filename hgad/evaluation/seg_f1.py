"""SegF1: the F1 of binarised anomaly maps at a threshold set without test labels
(docs/metrics.md#segf1), as MVTec AD 2 reports it.

The threshold comes from the anomaly maps of the category's validation images, all normal: their
pixel scores' mean plus :data:`SIGMAS` standard deviations. The test maps are binarised at it
(a pixel is anomalous when its score is above it) and compared with the masks over every pixel
of the category's test set.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

SIGMAS = 3.0


def validation_threshold(maps: ArrayLike) -> float:
    """Mean + :data:`SIGMAS` x standard deviation of every pixel of ``maps`` [V, H, W]
    (the validation images' anomaly maps), in float64."""
    values = np.asarray(maps, dtype=np.float64)
    if values.size == 0:
        raise ValueError("no validation maps to set the SegF1 threshold")
    return float(values.mean() + SIGMAS * values.std())


def seg_f1(maps: ArrayLike, masks: ArrayLike, threshold: float) -> float:
    """F1 = 2 TP / (2 TP + FP + FN) of ``maps`` [N, H, W] > ``threshold`` against ``masks``
    [N, H, W] (non-zero = anomalous), over all pixels; the masks must hold anomalous pixels."""
    if np.shape(maps) != np.shape(masks):
        raise ValueError(f"maps and masks must have one shape, got {np.shape(maps)} and "
                         f"{np.shape(masks)}")
    truth = np.asarray(masks) != 0
    found = np.asarray(maps) > threshold
    true_positive = int(np.count_nonzero(found & truth))
    wrong = int(np.count_nonzero(found != truth))  # FP + FN
    if not truth.any():
        raise ValueError("masks hold no anomalous pixel; SegF1 needs some")
    return 2 * true_positive / (2 * true_positive + wrong)
