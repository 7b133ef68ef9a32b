"""The embedded demo dataset: real texture photographs from scikit-image with synthetic defects.

Deterministic from a seed, written in the MVTec AD layout. Normal images are random crops of a
texture photograph (random 90-degree rotation, flip and brightness jitter). Anomalous test images
carry one defect of a known kind; its mask marks exactly the pixels that the defect changed.

This is a smoke test of the pipeline, not a benchmark.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data as skdata
from skimage.draw import disk, ellipse, line_aa
from tqdm import tqdm

TEXTURES = {"brick": skdata.brick, "grass": skdata.grass, "gravel": skdata.gravel,
            "moon": skdata.moon}
DEFECTS = ("scratch", "hole", "stain", "patch")


def _texture_rgb(name: str) -> np.ndarray:
    """The texture photograph as float32 RGB in [0, 1], shape [H, W, 3]."""
    image = TEXTURES[name]().astype(np.float32) / 255.0
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]


def _normal_crop(texture: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A random ``size``-pixel square of ``texture`` [H, W, 3], rotated/flipped/jittered."""
    height, width = texture.shape[:2]
    crop_size = int(rng.integers(int(0.6 * min(height, width)), int(0.8 * min(height, width))))
    top = int(rng.integers(0, height - crop_size + 1))
    left = int(rng.integers(0, width - crop_size + 1))
    crop = texture[top:top + crop_size, left:left + crop_size]
    crop = np.rot90(crop, k=int(rng.integers(4)))
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    resized = Image.fromarray((crop * 255).astype(np.uint8)).resize((size, size), Image.BILINEAR)
    crop = np.asarray(resized, dtype=np.float32) / 255.0
    gain, offset = rng.uniform(0.9, 1.1), rng.uniform(-0.04, 0.04)
    return np.clip(crop * gain + offset, 0.0, 1.0)


def _scratch(image, rng, size, other):
    """A few thick, brightly coloured line segments."""
    mask = np.zeros((size, size), bool)
    colour = rng.uniform(0.0, 1.0, 3)
    for _ in range(int(rng.integers(1, 3))):
        r0, c0, r1, c1 = (int(v) for v in rng.integers(size // 8, size - size // 8, 4))
        for offset in range(-size // 64, size // 64 + 1):
            rr, cc, _ = line_aa(r0 + offset, c0, r1 + offset, c1)
            keep = (rr >= 0) & (rr < size) & (cc >= 0) & (cc < size)
            mask[rr[keep], cc[keep]] = True
    image[mask] = colour
    return mask


def _hole(image, rng, size, other):
    """A dark elliptical hole with a shaded rim."""
    mask = np.zeros((size, size), bool)
    centre = rng.integers(size // 4, 3 * size // 4, 2)
    radii = rng.integers(size // 16, size // 7, 2)
    rr, cc = ellipse(centre[0], centre[1], radii[0], radii[1], shape=mask.shape,
                     rotation=rng.uniform(0, np.pi))
    mask[rr, cc] = True
    image[mask] = image[mask] * 0.15
    return mask


def _stain(image, rng, size, other):
    """A coloured stain: a cluster of overlapping discs tinted towards one colour."""
    mask = np.zeros((size, size), bool)
    centre = rng.integers(size // 4, 3 * size // 4, 2)
    for _ in range(int(rng.integers(3, 6))):
        jitter = rng.integers(-size // 12, size // 12 + 1, 2)
        rr, cc = disk(tuple(centre + jitter), int(rng.integers(size // 24, size // 10)),
                      shape=mask.shape)
        mask[rr, cc] = True
    tint = rng.uniform(0.0, 1.0, 3)
    image[mask] = 0.3 * image[mask] + 0.7 * tint
    return mask


def _patch(image, rng, size, other):
    """A rectangle pasted from another texture (a foreign object)."""
    mask = np.zeros((size, size), bool)
    height, width = (int(v) for v in rng.integers(size // 8, size // 4, 2))
    top, left = (int(v) for v in rng.integers(size // 8, size - size // 4 - size // 8, 2))
    mask[top:top + height, left:left + width] = True
    image[mask] = other[top:top + height, left:left + width][mask[top:top + height,
                                                                  left:left + width]]
    return mask


_DRAW = {"scratch": _scratch, "hole": _hole, "stain": _stain, "patch": _patch}


def _save(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.clip(array, 0, 1) * 255).round().astype(np.uint8)).save(path)


def generate_demo(
    dest: str | os.PathLike,
    seed: int = 0,
    categories: list[str] | None = None,
    image_size: int = 256,
    n_train: int = 60,
    n_test_good: int = 12,
    n_test_per_defect: int = 6,
) -> Path:
    """Write the demo dataset to ``dest`` (MVTec layout), deterministically from ``seed``.

    Written to a temporary sibling folder and renamed at the end, so an interrupted run never
    leaves something that looks like a dataset. Returns ``dest``.
    """
    dest = Path(dest)
    categories = list(categories or TEXTURES)
    unknown = sorted(set(categories) - set(TEXTURES))
    if unknown:
        raise ValueError(f"unknown demo categories {unknown}; choose from {sorted(TEXTURES)}")
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for index, category in enumerate(tqdm(categories, desc="demo dataset", unit="category")):
        rng = np.random.default_rng([seed, index])
        texture = _texture_rgb(category)
        foreign = [_texture_rgb(name) for name in TEXTURES if name != category]
        root = tmp / category
        for i in range(n_train):
            _save(_normal_crop(texture, image_size, rng), root / "train" / "good" / f"{i:03d}.png")
        for i in range(n_test_good):
            _save(_normal_crop(texture, image_size, rng), root / "test" / "good" / f"{i:03d}.png")
        for defect in DEFECTS:
            for i in range(n_test_per_defect):
                image = _normal_crop(texture, image_size, rng)
                other = _normal_crop(foreign[int(rng.integers(len(foreign)))], image_size, rng)
                mask = _DRAW[defect](image, rng, image_size, other)
                _save(image, root / "test" / defect / f"{i:03d}.png")
                _save(mask.astype(np.float32), root / "ground_truth" / defect / f"{i:03d}_mask.png")
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(tmp, dest)
    return dest
