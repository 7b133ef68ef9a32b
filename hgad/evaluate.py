"""Evaluation of a trained model on a dataset's cached test features, per category.

Writes the anomaly maps of each category to ``<maps_dir>/<category>.npy`` (float16
[N, msk_size, msk_size], memory-mappable) and every metric per category plus the mean over
categories to a JSON and a CSV file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from hgad.config import Settings
from hgad.data.images import load_mask
from hgad.data.manifest import class_names, manifest_hash, read_manifest, select_split
from hgad.features.cache import CacheMismatchError, open_cache, read_meta
from hgad.metrics import image_metrics, pixel_metrics
from hgad.model import HGADModel
from hgad.provenance import provenance
from hgad.score import anomaly_maps, fit_normalizer, level_maps


def load_model(model_path: str | os.PathLike, device: torch.device) -> HGADModel:
    """A model saved by :func:`hgad.train.train` (``weights_only`` load: the file runs no code)."""
    state = torch.load(model_path, map_location=device, weights_only=True)
    return HGADModel.from_checkpoint(state).to(device).eval()


def _checked_cache(folder, manifest_path, split: str, rows: int) -> list[np.ndarray]:
    meta = read_meta(folder)
    if meta.manifest_hash != manifest_hash(manifest_path) or meta.split != split:
        raise CacheMismatchError(f"{folder}: feature cache was made from another manifest or split"
                                 f" than {manifest_path} ({split})")
    arrays = open_cache(folder)
    if len(arrays[0]) != rows:
        raise CacheMismatchError(f"{folder}: {len(arrays[0])} cached images, manifest has {rows}")
    return arrays


def file_stem(category: str) -> str:
    """A file name for a category (Union names contain '/')."""
    return category.replace("/", "__")


def evaluate(model_path: str | os.PathLike, manifest_path: str | os.PathLike,
             test_cache: str | os.PathLike, metrics_json: str | os.PathLike,
             metrics_csv: str | os.PathLike, maps_dir: str | os.PathLike, settings: Settings,
             device: torch.device, train_cache: str | os.PathLike | None = None) -> dict:
    """Score every test image and compute the metrics per category; returns the JSON content.

    ``train_cache`` is required when ``settings.evaluate.normalization`` is ``train_max``.
    """
    ev = settings.evaluate
    model = load_model(model_path, device)
    manifest = read_manifest(manifest_path)
    if class_names(manifest) != model.class_names:
        raise ValueError(f"{model_path} was trained on categories {model.class_names}, "
                         f"{manifest_path} has {class_names(manifest)}")
    test_rows = select_split(manifest, "test")
    test_arrays = _checked_cache(test_cache, manifest_path, "test", len(test_rows))
    inductive = ev.normalization == "train_max"
    if inductive:
        if train_cache is None:
            raise ValueError("normalization 'train_max' needs the training feature cache")
        train_rows = select_split(manifest, "train")
        train_arrays = _checked_cache(train_cache, manifest_path, "train", len(train_rows))
    maps_dir = Path(maps_dir)
    maps_dir.mkdir(parents=True, exist_ok=True)
    per_category = {}
    for category in tqdm(model.class_names, desc="evaluate", unit="category"):
        index = model.class_names.index(category)
        rows = np.flatnonzero(test_rows["category"].to_numpy() == category)
        if len(rows) == 0:
            continue
        classes = np.full(len(rows), index)
        maps = level_maps(model, test_arrays, rows, classes, ev.batch_size, device)
        if inductive:
            train_idx = np.flatnonzero(train_rows["category"].to_numpy() == category)
            reference = level_maps(model, train_arrays, train_idx, np.full(len(train_idx), index),
                                   ev.batch_size, device)
        else:
            reference = maps
        normalizer = fit_normalizer(reference, ev.msk_size, clip=inductive)
        scores = anomaly_maps(maps, normalizer, ev.msk_size, ev.gaussian_sigma)
        np.save(maps_dir / f"{file_stem(category)}.npy", scores.astype(np.float16))
        subset = test_rows.iloc[rows]
        masks = np.stack([load_mask(m, ev.msk_size) for m in subset["mask"]])
        labels = subset["label"].to_numpy()
        per_category[category] = {
            **image_metrics(scores.reshape(len(scores), -1).max(1), labels),
            **pixel_metrics(scores, masks),
            "num_test": int(len(rows)), "num_anomalous": int(labels.sum()),
        }
    return _write(per_category, metrics_json, metrics_csv, model_path, manifest_path)


def _write(per_category: dict, metrics_json, metrics_csv, model_path, manifest_path) -> dict:
    table = pd.DataFrame.from_dict(per_category, orient="index")
    metric_names = [c for c in table.columns if not c.startswith("num_")]
    mean = table[metric_names].mean().to_dict()
    result = {"model": str(model_path), "manifest": str(manifest_path),
              "categories": per_category, "mean": mean, "provenance": provenance()}
    for path in (metrics_json, metrics_csv):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(metrics_json).write_text(json.dumps(result, indent=2))
    table.loc["mean", metric_names] = pd.Series(mean)
    table.index.name = "category"
    table.to_csv(metrics_csv, float_format="%.6f")
    return result
