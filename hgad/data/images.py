"""Image and mask loading with the paper's transforms (docs/method.md#features), numpy only.

Images: shorter side resized to ``img_size`` (Lanczos), centre crop, RGB float in [0, 1]
(normalised by :func:`hgad.features.extract.load_image`). Masks: resized to ``msk_size`` (nearest),
centre crop, binarised (any non-zero pixel is anomalous). That is the reference's ``crop``
(:data:`RESIZE_MODES`); ``whole`` instead resizes the whole image (and mask) to the square, aspect
ratio not kept, so that no border is cut (MVTec AD 2 has defects there).

16-bit images (common from industrial cameras) are scaled to 8 bits (value >> 8) before
anything else, so they score exactly like their 8-bit versions: Pillow opens a 16-bit greyscale
PNG as mode ``I;16`` (or ``I``), which its RGB conversion would clip to white, and already reads
16-bit colour PNGs as 8-bit ``RGB``. Modes that hold no 8- or 16-bit intensities (float images,
integers beyond 16 bits) are refused, naming the file (:func:`unsupported_mode`).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

RESIZE_MODES = ("crop", "whole")


def _to_square(image: Image.Image, size: int, resample: int, resize: str) -> Image.Image:
    """``image`` as ``size`` x ``size`` by ``resize`` (one of :data:`RESIZE_MODES`)."""
    if resize == "whole":
        return image.resize((size, size), resample)
    if resize != "crop":
        raise ValueError(f"unknown resize mode {resize!r} (known: {', '.join(RESIZE_MODES)})")
    return _resize_shorter_and_crop(image, size, resample)


def _resize_shorter_and_crop(image: Image.Image, size: int, resample: int) -> Image.Image:
    width, height = image.size
    scale = size / min(width, height)
    resized = image.resize(
        (max(size, round(width * scale)), max(size, round(height * scale))), resample
    )
    return ImageOps.fit(resized, (size, size), method=resample, centering=(0.5, 0.5))


SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
SIXTEEN_BIT_MAX = 65535


def unsupported_mode(image: Image.Image) -> str | None:
    """Why an opened image cannot become the backbone's input, or None if it can."""
    if image.mode == "F":
        return "floating-point image (mode F) is not supported: save it as 8- or 16-bit"
    if image.mode == "I":
        low, high = image.getextrema()
        if low < 0 or high > SIXTEEN_BIT_MAX:
            return (f"32-bit integer image with values {low}..{high} is not supported: "
                    "save it as 8- or 16-bit")
    return None


def to_rgb(image: Image.Image, path: str) -> Image.Image:
    """An opened image as 8-bit RGB; 16-bit greyscale is scaled (>> 8), not clipped.

    Raises ValueError naming ``path`` for the modes of :func:`unsupported_mode`.
    """
    problem = unsupported_mode(image)
    if problem:
        raise ValueError(f"{path}: {problem}")
    if image.mode in SIXTEEN_BIT_MODES:
        image = Image.fromarray((np.asarray(image).astype(np.uint32) >> 8).astype(np.uint8), "L")
    return image.convert("RGB")


def load_rgb(path: str, img_size: int, resize: str = "crop") -> np.ndarray:
    """Load an image file as RGB float32 [img_size, img_size, 3] in [0, 1], not normalised."""
    with Image.open(path) as image:
        rgb = to_rgb(image, path)
    rgb = _to_square(rgb, img_size, Image.LANCZOS, resize)
    return np.asarray(rgb, dtype=np.float32) / 255.0


def load_mask(path: str, msk_size: int, resize: str = "crop") -> np.ndarray:
    """Load a ground-truth mask as bool [msk_size, msk_size], resized as the image was; an empty
    path gives all False."""
    if not path:
        return np.zeros((msk_size, msk_size), dtype=bool)
    with Image.open(path) as mask:
        grey = mask.convert("L")
    grey = _to_square(grey, msk_size, Image.NEAREST, resize)
    return binarize_mask(np.asarray(grey))


def binarize_mask(mask: np.ndarray) -> np.ndarray:
    """Any non-zero value is anomalous: masks of BTAD and VisA are not strictly 0/255."""
    return np.asarray(mask) != 0
