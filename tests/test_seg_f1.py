"""SegF1: threshold from the validation images' maps, F1 of the binarised test maps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tiny import CPU

from hgad.data.manifest import VALIDATION, read_manifest, write_manifest
from hgad.evaluation.evaluate import category_maps, evaluate, load_test_set
from hgad.evaluation.seg_f1 import seg_f1, validation_threshold
from hgad.features.extract import extract_features
from hgad.model.model_file import load_model_file


def test_threshold_is_mean_plus_three_standard_deviations():
    maps = np.array([[[0.0, 1.0], [2.0, 3.0]]], np.float32)  # mean 1.5, std sqrt(1.25)
    assert validation_threshold(maps) == pytest.approx(1.5 + 3 * 1.25 ** 0.5, abs=1e-12)


def test_seg_f1_counts_pixels_above_the_threshold():
    maps = np.array([[[0.9, 0.8, 0.1, 0.5]]])
    masks = np.array([[[1, 0, 1, 0]]])
    # above 0.5: pixels 0 and 1 -> TP 1, FP 1, FN 1 (pixel 2); a pixel at the threshold is normal
    assert seg_f1(maps, masks, 0.5) == pytest.approx(2 / 4)
    assert seg_f1(maps, masks, 0.95) == 0.0
    with pytest.raises(ValueError, match="no anomalous pixel"):
        seg_f1(maps, np.zeros_like(masks), 0.5)


@pytest.fixture(scope="module")
def with_validation(tmp_path_factory, manifest_path, tiny_settings):
    """The demo manifest plus a validation split holding copies of its normal test images'
    rows, and its test and validation caches."""
    folder = tmp_path_factory.mktemp("validation")
    frame = read_manifest(manifest_path)
    normal_test = frame[(frame["split"] == "test") & (frame["label"] == 0)]
    frame = pd.concat([frame, normal_test.assign(split=VALIDATION)], ignore_index=True)
    path = folder / "manifest.csv"
    write_manifest(frame, path)
    caches = {split: extract_features(path, split, folder / split, tiny_settings.features, CPU)
              for split in ("test", VALIDATION)}
    return path, caches


def test_evaluation_sets_each_category_threshold_on_its_validation_maps(
        with_validation, trained, tiny_settings, tmp_path):
    path, caches = with_validation
    result = evaluate(trained.model, path, caches["test"], tmp_path / "m.json",
                      tmp_path / "m.csv", tmp_path / "maps", tiny_settings, CPU,
                      validation_cache=caches[VALIDATION])
    model, _ = load_model_file(trained.model, CPU)
    model.set_precision(tiny_settings.evaluate.precision)
    test = load_test_set(path, caches["test"], tiny_settings)
    for category, metrics in result["categories"].items():
        maps = category_maps(model, test, category, tiny_settings, CPU)
        # the validation images are the normal test images: their maps are those test maps
        threshold = validation_threshold(maps[test.labels(category) == 0])
        assert metrics["pixel_seg_f1"] == pytest.approx(
            seg_f1(maps, test.masks(category), threshold), abs=1e-12)


def test_no_validation_cache_no_seg_f1(with_validation, trained, tiny_settings, tmp_path):
    path, caches = with_validation
    result = evaluate(trained.model, path, caches["test"], tmp_path / "m.json",
                      tmp_path / "m.csv", tmp_path / "maps", tiny_settings, CPU)
    assert not any("seg_f1" in name for metrics in result["categories"].values()
                   for name in metrics)
