"""``hgad predict``: a trained model on new images, with no dataset, manifest or cache.

The whole chain of the workflow: the backbone with the feature settings recorded in the model
file (checked against the backbone's weights digest), features rounded to the cache's dtype as
training saw them, flow and prior, and scoring with the inductive (``train_max``) constants of
:mod:`hgad.training.inference`. The category is the one given, or the predicted one: the category
whose prior gives the image's latents the highest per-dimension log-likelihood summed over positions
and levels. Its confidence is the softmax over categories of those sums.

Nothing is scored before every input is known to be usable: the model file is loaded and checked,
the output folder is created, and every image is decoded in full (a first pass that decodes each
image and lets it go, so memory holds one image at a time; the scoring pass decodes them again).
A bad input is one ``ValueError`` naming it. Maps and overlays are written into a hidden folder
inside the output folder and moved into ``maps/`` and ``overlays/`` only once every image is
scored, then ``scores.csv`` is written: a failed run leaves none of them.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import DataLoader
from tqdm import tqdm

from hgad.data.checks import decoded_size
from hgad.data.folders import IMAGE_SUFFIXES
from hgad.data.images import load_rgb
from hgad.features.backbone import create_backbone, tensor_digest
from hgad.features.extract import ImageFiles, multiscale_features
from hgad.model.maps import batch_maps, class_scores, encode_levels
from hgad.model.model_file import load_model_file
from hgad.model.network import HGADModel
from hgad.model.normalization import anomaly_maps, image_scores
from hgad.runtime.atomic import replace_atomically
from hgad.runtime.config import FeatureSettings
from hgad.runtime.device import precision_autocast
from hgad.runtime.fingerprint import is_hidden
from hgad.training.inference import FEATURE_FIELDS, normalizer_from_record

COLUMNS = ["image", "category", "predicted_category", "confidence", "score", "threshold",
           "anomalous"]
OUTPUT_FOLDERS = ("maps", "overlays")


def find_images(spec: str) -> tuple[list[Path], Path]:
    """(image files, their root) of a folder (searched recursively) or a glob pattern; hidden
    files and folders are skipped (a glob's wildcards skip them too)."""
    folder = Path(spec)
    if folder.is_dir():
        files = sorted(p for p in folder.rglob("*")
                       if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                       and not any(is_hidden(part) for part in p.relative_to(folder).parts))
    else:
        files = sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())
        folder = Path(os.path.commonpath([p.parent for p in files])) if files else folder
    if not files:
        raise FileNotFoundError(f"{spec}: no image files ({', '.join(IMAGE_SUFFIXES)})")
    return files, folder


def check_images(paths: list[Path]) -> None:
    """Decode every image in full and let it go: ``ValueError`` naming the first that cannot be
    decoded."""
    for path in tqdm(paths, desc="check images", unit="image"):
        _, problem = decoded_size(str(path))
        if problem:
            raise ValueError(problem)


def output_folder(out_dir: str | os.PathLike) -> Path:
    """``out_dir``, created (with its parents) unless it exists; ``ValueError`` if it is a file."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{out_dir}: --out names a file; give a folder for the predictions")
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


@contextmanager
def staged_outputs(out_dir: Path) -> Iterator[Path]:
    """A hidden folder inside ``out_dir`` holding empty :data:`OUTPUT_FOLDERS`: on a normal exit
    their files are moved into ``out_dir``'s, and the folder is removed in any case."""
    staging = Path(tempfile.mkdtemp(prefix=".predict-", dir=out_dir))
    try:
        for name in OUTPUT_FOLDERS:
            (staging / name).mkdir()
        yield staging
        for name in OUTPUT_FOLDERS:
            (out_dir / name).mkdir(exist_ok=True)
            for path in sorted((staging / name).iterdir()):
                os.replace(path, out_dir / name / path.name)
    finally:
        shutil.rmtree(staging)


def output_stem(path: Path, root: Path) -> str:
    """A flat, unique file name stem for an image below ``root`` (a/b/000.png -> a__b__000)."""
    return "__".join(path.relative_to(root).with_suffix("").parts)


def check_feature_settings(recorded: dict, settings: FeatureSettings, model_path,
                           source: str) -> None:
    """Refuse feature settings ``settings`` (of ``source``) that differ from the model's."""
    for key in FEATURE_FIELDS:
        if key == "dtype":
            continue
        given, wanted = getattr(settings, key), recorded[key]
        if (list(given) if isinstance(given, tuple) else given) != wanted:
            raise ValueError(f"{model_path} was trained on features with {key}={wanted!r}, "
                             f"{source} has features.{key}={given!r}")


def _backbone(recorded: dict, model_path, device: torch.device) -> torch.nn.Module:
    """The recorded feature extractor, refused if its weights are not the training ones."""
    backbone = create_backbone(recorded["backbone"], recorded["weights"], recorded["out_index"],
                               recorded["precision"])
    digest = recorded["weights_digest"]
    if digest is not None and tensor_digest(backbone) != digest:
        raise ValueError(f"{model_path}: weights_digest differs: the backbone weights "
                         f"{recorded['weights']!r} found here are not those the model was "
                         "trained with")
    return backbone.to(device)


@torch.inference_mode()
def batch_level_maps(model: HGADModel, features: list[torch.Tensor], category: int | None
                     ) -> tuple[dict[str, list[torch.Tensor]], torch.Tensor, torch.Tensor]:
    """Per-level maps of one batch (features[l] [B, D, H_l, W_l] float32) under ``category``
    (None: the predicted one). Returns ({kind: [float32 [B, H_l, W_l] on the CPU]}, the category
    used [B], the softmax over categories of :func:`hgad.model.maps.class_scores` [B, K])."""
    model.eval()
    encoded = encode_levels(model, features)
    sums = class_scores(model, encoded)
    used = sums.argmax(1) if category is None else torch.full_like(sums[:, 0], category,
                                                                    dtype=int)
    maps = {kind: [level.cpu() for level in per_level]
            for kind, per_level in batch_maps(model, encoded, used).items()}
    return maps, used.cpu(), torch.softmax(sums, dim=1).cpu()


def thresholds(record: dict, threshold: float | None, fpr: float) -> dict[str, float]:
    """Per category: ``threshold``, or the (1 - fpr) quantile of its training images' scores."""
    if threshold is not None:
        return {name: float(threshold) for name in record["categories"]}
    if not 0 <= fpr <= 1:
        raise ValueError(f"--fpr must lie in [0, 1], got {fpr}")
    return {name: float(np.quantile(entry["train_scores"], 1 - fpr))
            for name, entry in record["categories"].items()}


def overlay(image: np.ndarray, anomaly: np.ndarray, threshold: float) -> Image.Image:
    """The image (float RGB [S, S, 3]) half covered by the map in the jet colours, scaled so
    that red means at or above the decision threshold."""
    from matplotlib import colormaps

    heat = colormaps["jet"](np.clip(anomaly / max(threshold, 1e-12), 0, 1))[..., :3]
    blend = 0.5 * np.clip(image, 0, 1) + 0.5 * heat
    return Image.fromarray((blend * 255).round().astype(np.uint8))


def predict(model_path: str | os.PathLike, images: str, out_dir: str | os.PathLike,
            device: torch.device, category: str | None = None, threshold: float | None = None,
            fpr: float = 0.01, batch_size: int = 8,
            feature_settings: tuple[FeatureSettings, str] | None = None) -> pd.DataFrame:
    """Score the images of ``images`` (a folder or a glob); write ``out_dir/scores.csv``
    (:data:`COLUMNS`), ``out_dir/maps/<stem>.npy`` (float32 [msk_size, msk_size]) and
    ``out_dir/overlays/<stem>.png`` per image; return the table.

    ``feature_settings`` (settings, where they come from) are checked against the model's.
    """
    model, state = load_model_file(model_path, device)
    record = state.get("inference")
    if record is None:
        raise ValueError(f"{model_path}: no inference record (the model was trained before hgad "
                         "predict existed, or converted from the reference code); retrain it")
    model.set_precision(record["scoring"]["precision"])
    recorded = {"resize": "crop", "precision": "fp32", **record["features"]}  # older files
    if feature_settings is not None:
        given, source = feature_settings
        check_feature_settings(recorded, given, model_path, source)
    names = model.class_names
    if category is not None and category not in names:
        raise ValueError(f"--category {category!r}: {model_path} knows only {names}")
    fixed = None if category is None else names.index(category)
    paths, root = find_images(images)
    out_dir = output_folder(out_dir)
    check_images(paths)
    backbone = _backbone(recorded, model_path, device)
    settings = FeatureSettings(**{key: recorded[key] for key in FEATURE_FIELDS if key != "dtype"},
                               batch_size=batch_size, num_workers=0)
    normalizers = {name: normalizer_from_record(entry)
                   for name, entry in record["categories"].items()}
    limits = thresholds(record, threshold, fpr)
    msk_size, sigma = record["scoring"]["msk_size"], record["scoring"]["gaussian_sigma"]
    dtype = getattr(torch, recorded["dtype"])
    loader = DataLoader(ImageFiles([str(p) for p in paths], settings), batch_size=batch_size)
    rows, start = [], 0
    with torch.inference_mode(), staged_outputs(out_dir) as staging:
        for batch in tqdm(loader, desc="predict", unit="batch"):
            with precision_autocast(device, settings.precision):
                extracted = multiscale_features(backbone, batch.to(device), settings.levels)
            features = [f.to(dtype).to(torch.float32) for f in extracted]
            maps, used, confidence = batch_level_maps(model, features, fixed)
            predicted = confidence.argmax(1)
            anomaly = np.empty((len(batch), msk_size, msk_size), np.float32)
            for index in used.unique().tolist():
                chosen = torch.nonzero(used == index)[:, 0]
                anomaly[chosen.numpy()] = anomaly_maps(
                    {kind: [m[chosen] for m in per_level] for kind, per_level in maps.items()},
                    normalizers[names[index]], msk_size, sigma)
            for i, (path, score) in enumerate(zip(paths[start:start + len(batch)],
                                                  image_scores(anomaly), strict=True)):
                name, stem = names[int(used[i])], output_stem(path, root)
                np.save(staging / "maps" / f"{stem}.npy", anomaly[i])
                overlay(load_rgb(str(path), msk_size, settings.resize), anomaly[i],
                        limits[name]).save(staging / "overlays" / f"{stem}.png", format="PNG")
                rows.append({"image": str(path), "category": name,
                             "predicted_category": names[int(predicted[i])],
                             "confidence": float(confidence[i, predicted[i]]),
                             "score": float(score), "threshold": limits[name],
                             "anomalous": int(score > limits[name])})
            start += len(batch)
    table = pd.DataFrame(rows, columns=COLUMNS)
    replace_atomically(out_dir / "scores.csv", lambda tmp: table.to_csv(tmp, index=False))
    return table
