"""The MVTec AD 2 export for MVTec's evaluation server, and its format check.

The private test sets' ground truth is withheld: their numbers come from the server alone. The
folder uploaded holds, for each category and each of ``test_private`` and ``test_private_mixed``
(the structure of MVTec's ``check_and_prepare_data_for_upload.py``)::

    anomaly_images/<category>/<split>/<image stem>.tiff              float16, the image's size
    anomaly_images_thresholded/<category>/<split>/<image stem>.png   uint8, 0 or 255, same size

Maps come from :func:`hgad.prediction.predict.predict` (the model's recorded feature settings,
inductive ``train_max`` constants, the image's own category) at ``msk_size``, resized back to the
image's full resolution as the evaluation's pixel metrics resize them
(:func:`hgad.evaluation.full_size.to_image_size`, bilinear). The threshold of a category is the
SegF1 rule (:func:`hgad.evaluation.seg_f1.validation_threshold`) on its ``validation/good`` maps.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import tifffile
import torch
from PIL import Image

from hgad.data.mvtec_ad2 import PRIVATE_TESTS, mvtec_ad2_root, private_images
from hgad.evaluation.full_size import image_shape, to_image_size
from hgad.evaluation.seg_f1 import validation_threshold
from hgad.model.model_file import read_model_file
from hgad.prediction.predict import predict

MAPS = "anomaly_images"
THRESHOLDED = "anomaly_images_thresholded"
MAP_SUFFIX, MASK_SUFFIX = ".tiff", ".png"
ANOMALOUS = 255
MAX_LISTED = 20


def _maps_of(model_path, images: Path, work: Path, category: str, device: torch.device,
             batch_size: int) -> dict[str, np.ndarray]:
    """{image stem: float32 [msk_size, msk_size] map} of the images directly in ``images``."""
    shutil.rmtree(work, ignore_errors=True)
    predict(model_path, str(images), work, device, category=category, threshold=0.0,
            batch_size=batch_size)
    return {path.stem: np.load(path) for path in sorted((work / "maps").glob("*.npy"))}


def _refuse_cropped(model_path) -> None:
    """The maps of a model made with ``features.resize: crop`` cover only each image's centre."""
    recorded = (read_model_file(model_path).get("inference") or {}).get("features", {})
    if recorded.get("resize", "crop") != "whole":
        raise ValueError(f"{model_path}: trained on features.resize "
                         f"{recorded.get('resize', 'crop')!r}; the export needs maps of the whole "
                         "image: train with features.resize: whole (config/beyond.yaml)")


def export_mvtec_ad2(model_path: str | os.PathLike, root: str | os.PathLike,
                     out_dir: str | os.PathLike, device: torch.device,
                     batch_size: int = 8) -> dict[str, float]:
    """Write the server's folder ``out_dir`` for every category of the model found at ``root``
    and check it (:func:`check_mvtec_ad2_export`); returns each category's threshold.

    ``out_dir`` appears only once complete and checked (an existing one is replaced).
    """
    _refuse_cropped(model_path)
    out_dir = Path(out_dir)
    categories = read_model_file(model_path)["hparams"]["class_names"]
    images = private_images(root, categories)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    thresholds = {}
    try:
        for category in categories:
            validation = mvtec_ad2_root(root) / category / "validation" / "good"
            work = staging / ".work"
            thresholds[category] = validation_threshold(np.stack(list(
                _maps_of(model_path, validation, work, category, device, batch_size).values())))
            for split in PRIVATE_TESTS:
                maps = _maps_of(model_path, mvtec_ad2_root(root) / category / split, work,
                                category, device, batch_size)
                for image in images[category, split]:
                    full = to_image_size(maps[image.stem], image_shape(image))
                    _write(staging, category, split, image.stem, full, thresholds[category])
        shutil.rmtree(staging / ".work", ignore_errors=True)
        check_mvtec_ad2_export(staging, root, categories)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return thresholds


def _write(folder: Path, category: str, split: str, stem: str, anomaly: np.ndarray,
           threshold: float) -> None:
    """One image's float16 map and its binarised map (above ``threshold``: 255)."""
    maps = folder / MAPS / category / split
    masks = folder / THRESHOLDED / category / split
    maps.mkdir(parents=True, exist_ok=True)
    masks.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(maps / f"{stem}{MAP_SUFFIX}", anomaly.astype(np.float16))
    binary = np.where(anomaly > threshold, ANOMALOUS, 0).astype(np.uint8)
    Image.fromarray(binary, "L").save(masks / f"{stem}{MASK_SUFFIX}")


def _file_problems(image: Path, map_file: Path, mask_file: Path) -> list[str]:
    """What is wrong with the two exported files of ``image``."""
    height, width = image_shape(image)
    problems = []
    if not map_file.is_file():
        problems.append(f"{map_file}: missing (map of {image})")
    else:
        anomaly = tifffile.imread(map_file)
        if anomaly.dtype != np.float16:
            problems.append(f"{map_file}: dtype {anomaly.dtype}, expected float16")
        if anomaly.shape != (height, width):
            problems.append(f"{map_file}: size {anomaly.shape}, expected {(height, width)} "
                            f"(the size of {image})")
        elif not np.isfinite(anomaly).all():
            problems.append(f"{map_file}: holds NaN or infinite values")
    if not mask_file.is_file():
        problems.append(f"{mask_file}: missing (thresholded map of {image})")
        return problems
    with Image.open(mask_file) as opened:
        mask = np.asarray(opened)
    if mask.dtype != np.uint8 or mask.shape != (height, width):
        problems.append(f"{mask_file}: {mask.dtype} {mask.shape}, expected uint8 "
                        f"{(height, width)} (the size of {image})")
    elif not np.isin(mask, (0, ANOMALOUS)).all():
        problems.append(f"{mask_file}: values other than 0 and {ANOMALOUS}")
    return problems


def check_mvtec_ad2_export(folder: str | os.PathLike, root: str | os.PathLike,
                           categories: list[str] | None = None) -> int:
    """Check an export against the dataset at ``root``: every private test image of every
    category (or of ``categories``) has its map (float16 TIFF) and thresholded map (uint8 PNG of
    0 and 255) at its own size, and nothing else is there (hidden files aside). Returns the
    number of images checked; raises ``ValueError`` listing the problems."""
    folder = Path(folder)
    images = private_images(root, categories)
    problems, expected = [], set()
    for (category, split), files in images.items():
        for image in files:
            map_file = folder / MAPS / category / split / f"{image.stem}{MAP_SUFFIX}"
            mask_file = folder / THRESHOLDED / category / split / f"{image.stem}{MASK_SUFFIX}"
            expected |= {map_file, mask_file}
            problems += _file_problems(image, map_file, mask_file)
    found = {path for path in folder.rglob("*")  # hidden: Snakemake's .snakemake_timestamp
             if path.is_file() and not path.name.startswith(".")}
    problems += [f"{path}: not a file of the export" for path in sorted(found - expected)]
    if problems:
        listed = problems[:MAX_LISTED] + ([f"... and {len(problems) - MAX_LISTED} more"]
                                          if len(problems) > MAX_LISTED else [])
        raise ValueError(f"{folder}: {len(problems)} problem(s) in the MVTec AD 2 export:\n  "
                         + "\n  ".join(listed))
    return sum(len(files) for files in images.values())
