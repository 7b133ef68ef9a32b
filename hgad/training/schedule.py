"""The paper's learning-rate schedule as a pure function of the position.

Definition: docs/method.md#schedule.
"""

from __future__ import annotations

import math

from hgad.runtime.config import TrainSettings


def cosine_lr(settings: TrainSettings, meta_epoch: int) -> float:
    """lr_e = eta_min + (lr - eta_min) * (1 + cos(pi * e / meta_epochs)) / 2."""
    eta_min = settings.lr * settings.lr_decay_rate**3
    return eta_min + (settings.lr - eta_min) * (
        1 + math.cos(math.pi * meta_epoch / settings.meta_epochs)) / 2


def learning_rate(settings: TrainSettings, meta_epoch: int, step: int,
                  steps_per_meta: int) -> float:
    """Learning rate at iteration ``step`` (0-based) of ``meta_epoch``.

    During the first ``lr_warm_epochs`` meta-epochs it rises linearly per iteration from lr/10 to
    the cosine value at the end of the warm-up; afterwards it is the cosine value of the meta-epoch.
    The reference code sets every parameter group (flow, centres, weights) to this same value.
    """
    if meta_epoch < settings.lr_warm_epochs:
        start = settings.lr / 10
        end = cosine_lr(settings, settings.lr_warm_epochs)
        progress = (step + meta_epoch * steps_per_meta) / (settings.lr_warm_epochs * steps_per_meta)
        return start + progress * (end - start)
    return cosine_lr(settings, meta_epoch)
