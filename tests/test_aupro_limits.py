"""AUPRO at several integration limits: one sort, named columns, the configuration, the tables."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from hgad.evaluation.evaluate import map_metrics
from hgad.evaluation.metrics import aupro, aupro_name, pixel_metrics
from hgad.reporting import tables
from hgad.runtime.config import settings_from_config


def _maps_and_masks(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    masks = np.zeros((3, 12, 12), bool)
    masks[0, 2:5, 2:6] = masks[1, 7:11, 1:3] = masks[1, 0:2, 9:12] = True
    maps = rng.random((3, 12, 12)).astype(np.float32) + 0.6 * masks
    return maps, masks


def test_each_limit_is_the_aupro_up_to_it():
    maps, masks = _maps_and_masks()
    found = pixel_metrics(maps, masks, more_limits=(0.05, 0.5))
    assert found["pixel_aupro"] == aupro(maps, masks, 0.3)
    assert found["pixel_aupro_0.05"] == aupro(maps, masks, 0.05)
    assert found["pixel_aupro_0.5"] == aupro(maps, masks, 0.5)
    assert len({found["pixel_aupro"], found["pixel_aupro_0.05"], found["pixel_aupro_0.5"]}) == 3


def test_names_of_the_limits():
    assert aupro_name(0.3) == "pixel_aupro"
    assert aupro_name(0.05) == "pixel_aupro_0.05"


def test_map_metrics_names_every_configured_limit_and_nan_without_anomalous_pixels():
    maps, masks = _maps_and_masks()
    labels = masks.reshape(3, -1).any(1).astype(int)
    found = map_metrics(maps, labels, masks, "test", aupro_limits=(0.3, 0.05))
    assert found["pixel_aupro_0.05"] == aupro(maps, masks, 0.05)
    with pytest.warns(UserWarning, match="pixel metrics"):
        empty = map_metrics(maps, labels, np.zeros_like(masks), "test", aupro_limits=(0.3, 0.05))
    assert math.isnan(empty["pixel_aupro_0.05"]) and math.isnan(empty["pixel_aupro"])


def test_configuration_default_and_the_limit_of_pixel_aupro_required():
    assert settings_from_config({}).evaluate.aupro_limits == (0.3,)
    chosen = settings_from_config({"evaluate": {"aupro_limits": [0.05, 0.3]}})
    assert chosen.evaluate.aupro_limits == (0.05, 0.3)
    with pytest.raises(ValueError, match="evaluate.aupro_limits"):
        settings_from_config({"evaluate": {"aupro_limits": [0.05]}})


def test_all_metrics_table_shows_each_limit(tmp_path):
    categories = {name: {"image_auroc": 0.9, "pixel_auroc": 0.8, "pixel_aupro": 0.7,
                         "pixel_aupro_0.05": 0.25, "num_test": 4, "num_anomalous": 2}
                  for name in ("can", "rice")}
    metrics = tmp_path / "seed0.json"
    metrics.write_text(json.dumps({"categories": categories, "provenance": {"commit": "abc"}}))
    tables.write_tables("mvtec_ad2", {0: metrics}, tmp_path / "t.md", tmp_path / "t.csv",
                        tmp_path / "all.md", tmp_path / "all.csv")
    lines = (tmp_path / "all.md").read_text().splitlines()
    header = next(line for line in lines if line.startswith("|"))
    assert "Pixel AUPRO 0.05" in header
    assert "| can " in "\n".join(lines) and "25.0" in (tmp_path / "all.md").read_text()
    assert "pixel_aupro_0.05_mean" in (tmp_path / "all.csv").read_text()
