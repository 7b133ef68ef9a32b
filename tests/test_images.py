"""Image and mask loading with the paper's transforms (docs/method.md#features)."""

from __future__ import annotations

import struct
import zlib

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


def _png_16bit_rgb(path, pixels: np.ndarray) -> None:
    """A 16-bit-per-channel RGB PNG of ``pixels`` [H, W, 3] uint16 (Pillow cannot write one)."""
    height, width, _ = pixels.shape
    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in pixels)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_16_bit_grey_png_scores_like_its_8_bit_version(tmp_path):
    # a full-range 16-bit gradient: clipped to 8 bits it would be almost all white
    pixels = np.linspace(0, 65535, 24 * 36).reshape(24, 36).astype(np.uint16)
    Image.fromarray(pixels).save(tmp_path / "16.png")
    Image.fromarray((pixels >> 8).astype(np.uint8), "L").save(tmp_path / "8.png")
    assert Image.open(tmp_path / "16.png").mode == "I;16"
    sixteen = load_image(str(tmp_path / "16.png"), 16, MEAN, STD)
    eight = load_image(str(tmp_path / "8.png"), 16, MEAN, STD)
    assert torch.equal(sixteen, eight)
    assert sixteen.std() > 0.5  # not a constant image


def test_16_bit_rgb_png_scores_like_its_8_bit_version(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 65536, (24, 36, 3)).astype(np.uint16)
    _png_16bit_rgb(tmp_path / "16.png", pixels)
    Image.fromarray((pixels >> 8).astype(np.uint8), "RGB").save(tmp_path / "8.png")
    assert torch.equal(load_image(str(tmp_path / "16.png"), 16, MEAN, STD),
                       load_image(str(tmp_path / "8.png"), 16, MEAN, STD))


@pytest.mark.parametrize(("pixels", "mode", "message"), [
    (np.full((8, 8), 0.5, dtype=np.float32), "F", "floating-point image"),
    (np.full((8, 8), 100_000, dtype=np.int32), "I", "32-bit integer image with values"),
])
def test_image_without_8_or_16_bit_intensities_is_refused(tmp_path, pixels, mode, message):
    path = tmp_path / "x.tiff"
    Image.fromarray(pixels, mode).save(path)
    with pytest.raises(ValueError, match=f"{path}: {message}"):
        load_image(str(path), 8, MEAN, STD)
