"""features.precision: fp32 is the plain float32 backbone; bf16 (autocast) stays close to it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from tiny import CPU

from hgad.data.manifest import read_manifest, select_split
from hgad.features.backbone import create_backbone
from hgad.features.cache import CacheMismatchError, open_cache, read_meta
from hgad.features.extract import cache_meta, extract_features, load_image, multiscale_features
from hgad.runtime.device import precision_autocast

# bf16 keeps 8 bits of mantissa; through the backbone's stage the features move by about 2.5 %
# (relative L2, measured on the tiny fixtures); twice that is the bound.
RELATIVE_L2 = 0.05


@pytest.fixture(scope="module")
def bf16_cache(tmp_path_factory, manifest_path, tiny_settings):
    settings = replace(tiny_settings.features, precision="bf16")
    return extract_features(manifest_path, "test", tmp_path_factory.mktemp("bf16") / "test",
                            settings, CPU), settings


def test_fp32_cache_is_the_float32_backbone_rounded_to_float16(caches, manifest_path,
                                                                tiny_settings):
    fs = tiny_settings.features
    paths = select_split(read_manifest(manifest_path), "test")["image"]
    images = torch.stack([load_image(p, fs.img_size, fs.mean, fs.std) for p in paths])
    backbone = create_backbone(fs.backbone, fs.weights, fs.out_index)
    with torch.inference_mode():
        expected = multiscale_features(backbone, images, fs.levels)
    for cached, level in zip(open_cache(caches.test), expected, strict=True):
        assert np.array_equal(np.asarray(cached), level.to(torch.float16).numpy())


def test_bf16_cache_is_the_bf16_backbone_rounded_to_float16(tmp_path, manifest_path,
                                                            tiny_settings):
    """What ``hgad predict`` computes for a bf16 model: the same backbone in the same layout
    (at 128 px, where the channels-last bf16 convolutions round differently from the others)."""
    fs = replace(tiny_settings.features, precision="bf16", img_size=128)
    folder = extract_features(manifest_path, "test", tmp_path / "test", fs, CPU)
    paths = select_split(read_manifest(manifest_path), "test")["image"]
    images = torch.stack([load_image(p, fs.img_size, fs.mean, fs.std) for p in paths])
    backbone = create_backbone(fs.backbone, fs.weights, fs.out_index, "bf16")
    with torch.inference_mode(), precision_autocast(CPU, "bf16"):
        expected = multiscale_features(backbone, images, fs.levels)
    for cached, level in zip(open_cache(folder), expected, strict=True):
        assert np.array_equal(np.asarray(cached), level.to(torch.float16).numpy())


def test_bf16_features_are_close_to_fp32(bf16_cache, caches):
    folder, _ = bf16_cache
    for fp32, bf16 in zip(open_cache(caches.test), open_cache(folder), strict=True):
        fp32, bf16 = np.asarray(fp32, np.float32), np.asarray(bf16, np.float32)
        assert bf16.dtype == fp32.dtype and bf16.shape == fp32.shape
        assert not np.array_equal(fp32, bf16)  # bf16 did run
        assert np.linalg.norm(bf16 - fp32) <= RELATIVE_L2 * np.linalg.norm(fp32)


def test_cache_records_its_precision(bf16_cache, manifest_path, tiny_settings):
    folder, settings = bf16_cache
    assert read_meta(folder).precision == "bf16"
    assert read_meta(folder) == cache_meta(settings, manifest_path, "test",
                                           read_meta(folder).num_images)
    with pytest.raises(CacheMismatchError, match="precision: cache has 'bf16', requested 'fp32'"):
        open_cache(folder, expected=cache_meta(tiny_settings.features, manifest_path, "test",
                                               read_meta(folder).num_images))
