"""The learning-rate schedule: linear warm-up, then cosine per meta-epoch.

Definition: docs/method.md#schedule.
"""

from __future__ import annotations

import math

import pytest

from hgad.runtime.config import settings_from_config
from hgad.training.schedule import cosine_lr, learning_rate

LR, META, WARM, STEPS = 2e-4, 25, 2, 10


def _settings(**train):
    values = {"lr": LR, "meta_epochs": META, "lr_warm_epochs": WARM, **train}
    return settings_from_config({"train": values}).train


def _cosine(epoch, lr=LR, meta=META):
    eta_min = lr * 0.1**3
    return eta_min + (lr - eta_min) * (1 + math.cos(math.pi * epoch / meta)) / 2


def test_cosine_end_points():
    settings = _settings()
    assert cosine_lr(settings, 0) == pytest.approx(LR)
    assert cosine_lr(settings, META) == pytest.approx(LR * 1e-3)
    assert cosine_lr(settings, META // 2) == pytest.approx(_cosine(META // 2))
    for epoch in range(META + 1):
        assert cosine_lr(settings, epoch) == pytest.approx(_cosine(epoch), rel=1e-12)


def test_warm_up_starts_at_a_tenth_and_rises_linearly():
    settings = _settings()
    values = [learning_rate(settings, meta, step, STEPS)
              for meta in range(WARM) for step in range(STEPS)]
    assert values[0] == pytest.approx(LR / 10)
    target = _cosine(WARM)
    increment = (target - LR / 10) / (WARM * STEPS)
    for index, value in enumerate(values):
        assert value == pytest.approx(LR / 10 + index * increment, rel=1e-12)
    # one more increment after the last warm-up step reaches the cosine value of epoch WARM,
    # which is the first post-warm-up value
    assert values[-1] + increment == pytest.approx(target, rel=1e-12)
    assert learning_rate(settings, WARM, 0, STEPS) == pytest.approx(target, rel=1e-12)


def test_after_warm_up_constant_within_meta_epoch_and_decreasing():
    settings = _settings()
    previous = math.inf
    for meta in range(WARM, META):
        within = {learning_rate(settings, meta, step, STEPS) for step in range(STEPS)}
        assert len(within) == 1
        (value,) = within
        assert value == pytest.approx(_cosine(meta), rel=1e-12)
        assert value < previous
        previous = value
    assert previous > LR * 1e-3


def test_no_warm_up():
    settings = _settings(lr_warm_epochs=0)
    assert learning_rate(settings, 0, 0, STEPS) == pytest.approx(LR)
    assert learning_rate(settings, 3, 5, STEPS) == pytest.approx(_cosine(3))


def test_other_lr_and_length():
    settings = _settings(lr=1e-3, meta_epochs=4, lr_warm_epochs=1)
    assert learning_rate(settings, 0, 0, 4) == pytest.approx(1e-4)
    assert learning_rate(settings, 0, 2, 4) == pytest.approx(
        1e-4 + 0.5 * (_cosine(1, 1e-3, 4) - 1e-4))
    assert cosine_lr(settings, 4) == pytest.approx(1e-6)
