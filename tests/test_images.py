"""Image and mask loading with the paper's transforms (docs/method.md#features)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from hgad.data.images import binarize_mask, load_image, load_mask

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def test_binarize_mask_any_nonzero_is_anomalous():
    mask = np.array([[0, 1], [128, 255]], dtype=np.uint8)
    result = binarize_mask(mask)
    assert result.dtype == bool
    assert result.tolist() == [[False, True], [True, True]]


def test_load_mask_binarises_non_binary_values(tmp_path):
    pixels = np.zeros((8, 8), dtype=np.uint8)
    pixels[0, :4] = 1
    pixels[1, :4] = 128
    pixels[2, :4] = 255
    Image.fromarray(pixels, "L").save(tmp_path / "m.png")
    mask = load_mask(str(tmp_path / "m.png"), 8)
    assert mask.dtype == bool and mask.shape == (8, 8)
    assert np.array_equal(mask, pixels != 0)


def test_load_mask_resizes_shorter_side_and_centre_crops(tmp_path):
    # 40 wide, 20 high; the outer quarters must be cropped away, a block in the middle kept
    pixels = np.zeros((20, 40), dtype=np.uint8)
    pixels[:, :10] = 128
    pixels[:, 30:] = 1
    pixels[0:10, 20:24] = 255
    Image.fromarray(pixels, "L").save(tmp_path / "wide.png")
    mask = load_mask(str(tmp_path / "wide.png"), 10)
    # shorter side 20 -> 10 (scale 1/2): 20x10, centre crop keeps columns 10..29 of the original
    expected = np.zeros((10, 10), dtype=bool)
    expected[0:5, 5:7] = True
    assert mask.shape == (10, 10)
    assert np.array_equal(mask, expected)


def test_load_mask_tall_image(tmp_path):
    pixels = np.zeros((40, 20), dtype=np.uint8)
    pixels[:10] = 255  # top quarter: cropped away
    pixels[20:24, 0:10] = 255
    Image.fromarray(pixels, "L").save(tmp_path / "tall.png")
    mask = load_mask(str(tmp_path / "tall.png"), 10)
    expected = np.zeros((10, 10), dtype=bool)
    expected[5:7, 0:5] = True
    assert np.array_equal(mask, expected)


def test_load_mask_empty_path_is_all_normal():
    mask = load_mask("", 16)
    assert mask.shape == (16, 16) and mask.dtype == bool and not mask.any()


def test_load_image_grey_gives_three_normalised_channels(tmp_path):
    value = 200
    Image.fromarray(np.full((24, 36), value, dtype=np.uint8), "L").save(tmp_path / "grey.png")
    image = load_image(str(tmp_path / "grey.png"), 16, MEAN, STD)
    assert image.shape == (3, 16, 16)
    assert image.dtype == torch.float32
    for channel in range(3):
        expected = (value / 255 - MEAN[channel]) / STD[channel]
        assert torch.allclose(image[channel], torch.full((16, 16), expected), atol=1e-3)
    # other normalisation constants are honoured
    plain = load_image(str(tmp_path / "grey.png"), 16, (0, 0, 0), (1, 1, 1))
    assert torch.allclose(plain, torch.full((3, 16, 16), value / 255), atol=1e-3)
    half = load_image(str(tmp_path / "grey.png"), 16, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    assert torch.allclose(half, torch.full((3, 16, 16), value / 255 * 2 - 1), atol=1e-3)


def test_load_image_keeps_colours_and_crops_centre(tmp_path):
    # 60x30 RGB: left third red, middle green, right third blue; the centre crop is green
    pixels = np.zeros((30, 60, 3), dtype=np.uint8)
    pixels[:, :20, 0] = 255
    pixels[:, 20:40, 1] = 255
    pixels[:, 40:, 2] = 255
    Image.fromarray(pixels, "RGB").save(tmp_path / "rgb.png")
    image = load_image(str(tmp_path / "rgb.png"), 10, (0, 0, 0), (1, 1, 1))
    assert image.shape == (3, 10, 10)
    centre = image[:, :, 3:7]
    assert torch.allclose(centre[1], torch.ones_like(centre[1]), atol=0.02)
    assert torch.allclose(centre[0], torch.zeros_like(centre[0]), atol=0.02)
    assert torch.allclose(centre[2], torch.zeros_like(centre[2]), atol=0.02)


@pytest.mark.parametrize("mode", ["RGBA", "P"])
def test_load_image_other_modes(tmp_path, mode):
    rgb = Image.fromarray(np.full((8, 8, 3), 100, dtype=np.uint8), "RGB")
    rgb.convert(mode).save(tmp_path / "x.png")
    image = load_image(str(tmp_path / "x.png"), 8, (0, 0, 0), (1, 1, 1))
    assert image.shape == (3, 8, 8)
    assert torch.allclose(image, torch.full((3, 8, 8), 100 / 255), atol=0.02)


def test_load_mask_16_bit_and_1_bit(tmp_path):
    pixels = np.zeros((8, 8), dtype=np.uint16)
    pixels[0] = 1
    pixels[1] = 255
    pixels[2] = 65535
    Image.fromarray(pixels).save(tmp_path / "m16.png")
    assert np.array_equal(load_mask(str(tmp_path / "m16.png"), 8), pixels != 0)
    binary = np.zeros((8, 8), dtype=np.uint8)
    binary[:3] = 255
    Image.fromarray(binary, "L").convert("1").save(tmp_path / "m1.png")
    assert np.array_equal(load_mask(str(tmp_path / "m1.png"), 8), binary != 0)
