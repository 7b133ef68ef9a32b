"""Evaluation of a trained model on a dataset's cached test features, per category.

Writes the anomaly maps of each category to ``<maps_dir>/<category>.npy`` (float16
[N, msk_size, msk_size], memory-mappable; the ``oracle`` maps) and every metric per category
plus the mean over categories to a JSON and a CSV file, once per class-conditioning variant
(:mod:`hgad.evaluation.conditioning`; ``predicted_`` and ``agnostic_`` prefixes). The JSON records
where the numbers came from: the evaluation's ``provenance`` and the model file's
(``training_provenance``: the training commit). Pixel metrics are computed at ``msk_size`` for a
cache made with ``features.resize: crop``, at each test image's full size for ``whole``
(:mod:`hgad.evaluation.full_size`, docs/metrics.md#resolution).

A metric needs normal and anomalous samples: a category whose test images are all normal (or
all anomalous) gets NaN for the image metrics, one without anomalous (or normal) pixels NaN for
the pixel metrics, with a warning naming dataset and category; the other metrics are reported.
Means over categories skip NaN; the JSON writes NaN as null.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from hgad.data.images import load_mask
from hgad.data.manifest import (
    VALIDATION,
    class_names,
    manifest_hash,
    read_manifest,
    select_split,
)
from hgad.evaluation.conditioning import (
    ConditionedMaps,
    conditioned_level_maps,
    variant_anomaly_maps,
)
from hgad.evaluation.full_size import at_mask_sizes, full_size_mask
from hgad.evaluation.maps import map_path, write_maps_info
from hgad.evaluation.metrics import (
    DEFAULT_AUPRO_LIMIT,
    IMAGE_METRICS,
    PIXEL_METRICS,
    Images,
    aupro_name,
    both_classes,
    class_counts,
    image_metrics,
    pixel_auroc,
    pixel_metrics,
    roc_auc,
)
from hgad.evaluation.seg_f1 import seg_f1, validation_threshold
from hgad.features.cache import CacheMismatchError, open_cache, read_meta
from hgad.model.maps import level_maps
from hgad.model.model_file import load_model_file, read_model_file
from hgad.model.network import HGADModel
from hgad.model.normalization import (
    anomaly_maps,
    fit_normalizer,
    fitted_anomaly_maps,
    image_scores,
    train_max_normalizer,
)
from hgad.runtime.atomic import replace_atomically
from hgad.runtime.config import Settings
from hgad.runtime.provenance import provenance
from hgad.runtime.result_warnings import ResultWarning

SEG_F1 = "pixel_seg_f1"


def checked_cache(folder, manifest_path, split: str, rows: int) -> list[np.ndarray]:
    """The level arrays of the cache in ``folder``, checked to be of ``split`` of
    ``manifest_path``'s images (``rows`` of them); :class:`CacheMismatchError` names what
    differs."""
    meta = read_meta(folder)
    if meta.manifest_hash != manifest_hash(manifest_path) or meta.split != split:
        raise CacheMismatchError(f"{folder}: feature cache was made from another manifest or split"
                                 f" than {manifest_path} ({split})")
    arrays = open_cache(folder)
    if len(arrays[0]) != rows:
        raise CacheMismatchError(f"{folder}: {len(arrays[0])} cached images, manifest has {rows}")
    return arrays


@dataclass
class TestSet:
    """A dataset's test rows and cached features (and training ones for ``train_max``)."""

    rows: pd.DataFrame
    arrays: list[np.ndarray]
    train_rows: pd.DataFrame | None
    train_arrays: list[np.ndarray] | None
    msk_size: int
    resize: str = "crop"  # how the cached images were made square (see masks)
    validation_rows: pd.DataFrame | None = None
    validation_arrays: list[np.ndarray] | None = None
    _masks: dict[str, Images] = field(default_factory=dict, repr=False)  # the latest category's

    def indices(self, category: str, train: bool = False) -> np.ndarray:
        rows = self.train_rows if train else self.rows
        return np.flatnonzero(rows["category"].to_numpy() == category)

    def validation_indices(self, category: str) -> np.ndarray:
        """The category's rows of the validation cache (none without one)."""
        if self.validation_rows is None:
            return np.zeros(0, int)
        return np.flatnonzero(self.validation_rows["category"].to_numpy() == category)

    def masks(self, category: str) -> Images:
        """Ground truth of the category's test images, read once.

        ``crop``: bool [R, msk_size, msk_size], made square as the images were, every category's
        kept (the scoring after every sub-epoch reads them again and again). ``whole``: a list of
        R bool [H_i, W_i], each image's at its full size (docs/metrics.md#resolution), kept until
        another category's is read.
        """
        if category not in self._masks:
            rows = self.rows.iloc[self.indices(category)]
            if self.resize == "whole":
                self._masks = {category: [
                    full_size_mask(mask, image)
                    for mask, image in zip(rows["mask"], rows["image"], strict=True)]}
            else:
                self._masks[category] = np.stack([load_mask(path, self.msk_size, self.resize)
                                                  for path in rows["mask"]])
        return self._masks[category]

    def labels(self, category: str) -> np.ndarray:
        return self.rows["label"].to_numpy()[self.indices(category)]

    def where(self, category: str) -> str:
        """``dataset <name>, category <name>`` for messages."""
        return f"dataset {self.rows['dataset'].iloc[0]}, category {category}"


def load_test_set(manifest_path: str | os.PathLike, test_cache: str | os.PathLike,
                  settings: Settings, train_cache: str | os.PathLike | None = None,
                  validation_cache: str | os.PathLike | None = None) -> TestSet:
    """Open the caches of a manifest, checking that they were made from it (the validation
    cache, where given, sets the SegF1 thresholds)."""
    manifest = read_manifest(manifest_path)
    test_rows = select_split(manifest, "test")
    arrays = checked_cache(test_cache, manifest_path, "test", len(test_rows))
    train_rows = train_arrays = None
    if settings.evaluate.normalization == "train_max":
        if train_cache is None:
            raise ValueError("normalization 'train_max' needs the training feature cache")
        train_rows = select_split(manifest, "train")
        train_arrays = checked_cache(train_cache, manifest_path, "train", len(train_rows))
    test = TestSet(test_rows, arrays, train_rows, train_arrays, settings.evaluate.msk_size,
                   read_meta(test_cache).resize)
    if validation_cache is not None:
        test.validation_rows = select_split(manifest, VALIDATION)
        test.validation_arrays = checked_cache(validation_cache, manifest_path, VALIDATION,
                                               len(test.validation_rows))
    return test


def category_maps(model: HGADModel, test: TestSet, category: str, settings: Settings,
                  device: torch.device) -> np.ndarray:
    """Anomaly maps of the category's test images, float32 [R, msk_size, msk_size]."""
    ev = settings.evaluate
    index = model.class_names.index(category)
    rows = test.indices(category)
    maps = level_maps(model, test.arrays, rows, np.full(len(rows), index), ev.batch_size, device)
    if test.train_arrays is None:
        return fitted_anomaly_maps(maps, ev.msk_size, ev.gaussian_sigma, clip=False)[1]
    normalizer = train_max_normalizer(model, test.train_arrays, test.indices(category, train=True),
                                      index, ev.batch_size, ev.msk_size, device)
    return anomaly_maps(maps, normalizer, ev.msk_size, ev.gaussian_sigma)


def _checked_model(model_path, manifest_path, settings: Settings,
                   device) -> tuple[HGADModel, dict]:
    """:func:`load_model_file` in ``evaluate.precision``, checking that the model knows the
    manifest's categories."""
    model, state = load_model_file(model_path, device)
    model.set_precision(settings.evaluate.precision)
    names = class_names(read_manifest(manifest_path))
    if names != model.class_names:
        raise ValueError(f"{model_path} was trained on categories {model.class_names}, "
                         f"{manifest_path} has {names}")
    return model, state


def evaluate(model_path: str | os.PathLike, manifest_path: str | os.PathLike,
             test_cache: str | os.PathLike, metrics_json: str | os.PathLike,
             metrics_csv: str | os.PathLike, maps_dir: str | os.PathLike, settings: Settings,
             device: torch.device, train_cache: str | os.PathLike | None = None,
             validation_cache: str | os.PathLike | None = None) -> dict:
    """Score every test image and compute the metrics per category; returns the JSON content.

    ``train_cache`` is required when ``settings.evaluate.normalization`` is ``train_max``;
    ``validation_cache`` (the manifest's validation split) adds ``pixel_seg_f1`` to every
    category with validation images.
    """
    model, state = _checked_model(model_path, manifest_path, settings, device)
    test = load_test_set(manifest_path, test_cache, settings, train_cache, validation_cache)
    maps_dir = Path(maps_dir)
    maps_dir.mkdir(parents=True, exist_ok=True)
    write_maps_info(maps_dir, test.resize)
    variants = settings.evaluate.class_conditioning
    test_maps = conditioned_maps(model, test, variants, settings, device, train=False)
    reference = None
    if test.train_arrays is not None:
        reference = conditioned_maps(model, test, tuple(v for v in variants if v != "predicted"),
                                     settings, device, train=True)
    scores = variant_anomaly_maps(test_maps, reference, model.class_names, variants,
                                  settings.evaluate.msk_size, settings.evaluate.gaussian_sigma)
    per_category = {}
    for category, by_variant in scores.items():
        np.save(map_path(maps_dir, category), by_variant["oracle"].astype(np.float16))
        labels = test.labels(category)
        metrics = {}
        for variant, maps in by_variant.items():
            prefix = "" if variant == "oracle" else f"{variant}_"
            found = map_metrics(maps, labels, test.masks(category), test.where(category),
                                settings.evaluate.aupro_limits)
            metrics.update({prefix + name: value for name, value in found.items()})
        if len(test.validation_indices(category)):
            fitting = (reference or test_maps)[category].kinds("oracle")
            metrics.update(_seg_f1(model, test, category, fitting, by_variant["oracle"],
                                   settings, device))
        if "predicted" in variants:
            index = model.class_names.index(category)
            metrics["predicted_class_accuracy"] = float(
                np.mean(test_maps[category].predicted == index))
        per_category[category] = {**metrics, "num_test": len(labels),
                                  "num_anomalous": int(labels.sum())}
    return write_metrics(per_category, metrics_json, metrics_csv, model_path, manifest_path,
                         state.get("provenance", {}))


def map_metrics(scores: np.ndarray, labels: np.ndarray, masks: Images, where: str,
                aupro_limits: Sequence[float] = (DEFAULT_AUPRO_LIMIT,)) -> dict[str, float]:
    """Image metrics of the maxima and pixel metrics of anomaly maps [R, S, S], the AUPRO up to
    each of ``aupro_limits`` (:func:`aupro_name`); NaN (with a warning naming ``where``) for
    those whose labels hold a single class. The pixel metrics are at the masks' resolution
    (:meth:`TestSet.masks`; the maps resized to it by
    :func:`hgad.evaluation.full_size.at_mask_sizes`)."""
    more_limits = [limit for limit in aupro_limits if limit != DEFAULT_AUPRO_LIMIT]
    pixel_names = (*PIXEL_METRICS, *map(aupro_name, more_limits))
    return {**_or_nan(image_metrics, IMAGE_METRICS, image_scores(scores), labels,
                      f"{where}: test images", "image"),
            **_or_nan(partial(pixel_metrics, more_limits=more_limits), pixel_names,
                      at_mask_sizes(scores, masks), masks, f"{where}: test pixels", "pixel")}


def _seg_f1(model: HGADModel, test: TestSet, category: str,
            fitting: dict[str, list[torch.Tensor]], test_scores: np.ndarray, settings: Settings,
            device: torch.device) -> dict[str, float]:
    """``pixel_seg_f1`` of the category's oracle maps ``test_scores`` [R, S, S]: the threshold
    from its validation images' maps, normalised with the constants of the test maps (fitted on
    ``fitting``, the per-level maps the test maps' normaliser was fitted on)."""
    ev = settings.evaluate
    rows = test.validation_indices(category)
    normalizer = fit_normalizer(fitting, ev.msk_size, clip=test.train_arrays is not None)
    maps = level_maps(model, test.validation_arrays, rows,
                      np.full(len(rows), model.class_names.index(category)), ev.batch_size,
                      device)
    threshold = validation_threshold(anomaly_maps(maps, normalizer, ev.msk_size,
                                                  ev.gaussian_sigma))
    masks = test.masks(category)
    return _or_nan(lambda s, y: {SEG_F1: seg_f1(s, y, threshold)}, (SEG_F1,),
                   at_mask_sizes(test_scores, masks), masks,
                   f"{test.where(category)}: test pixels (SegF1)", "pixel")


def conditioned_maps(model: HGADModel, test: TestSet, variants: tuple[str, ...],
                     settings: Settings, device: torch.device,
                     train: bool) -> dict[str, ConditionedMaps]:
    """Every category's test maps (the categories with test images) or training maps."""
    arrays = test.train_arrays if train else test.arrays
    result = {}
    for index, category in enumerate(tqdm(model.class_names, unit="category",
                                          desc="score training maps" if train else "score")):
        rows = test.indices(category, train=train)
        if len(rows):
            result[category] = conditioned_level_maps(
                model, arrays, rows, np.full(len(rows), index), variants,
                settings.evaluate.batch_size, device)
    return result


def _or_nan(metrics, names: tuple[str, ...], scores: Images, labels: Images,
            what: str, kind: str) -> dict[str, float]:
    """``metrics(scores, labels)``, or NaN for each of ``names`` (and a warning naming ``what``)
    when the labels hold a single class."""
    if both_classes(labels):
        return metrics(scores, labels)
    anomalous, total = class_counts(labels)
    warnings.warn(f"{what}: {anomalous} anomalous of {total}; the {kind} metrics need"
                  " both normal and anomalous ones and are NaN (n/a in the tables)", ResultWarning,
                  stacklevel=3)
    return dict.fromkeys(names, math.nan)


SNAPSHOT_COLUMNS = ["epoch", "category", "image_auroc", "pixel_auroc", "training_commit",
                    "evaluation_commit"]


def auroc_records(model: HGADModel, test: TestSet, epoch: int, settings: Settings,
                  device: torch.device, training_commit: str,
                  evaluation_commit: str) -> list[dict]:
    """Image and pixel AUROC of ``model`` per category with test images, after ``epoch``
    sub-epochs: one row of :data:`SNAPSHOT_COLUMNS` each (NaN, with a warning, where the labels
    hold a single class). The model runs as it is: set its precision first."""
    records = []
    for category in model.class_names:
        if len(test.indices(category)) == 0:
            continue
        scores = category_maps(model, test, category, settings, device)
        records.append({
            "epoch": epoch, "category": category,
            **_or_nan(lambda s, y: {"image_auroc": roc_auc(s, y)}, ("image_auroc",),
                      image_scores(scores), test.labels(category),
                      f"{test.where(category)}, snapshot {epoch}: test images", "image"),
            **_or_nan(lambda s, y: {"pixel_auroc": pixel_auroc(at_mask_sizes(s, y), y,
                                                               torch.get_num_threads())},
                      ("pixel_auroc",), scores, test.masks(category),
                      f"{test.where(category)}, snapshot {epoch}: test pixels", "pixel"),
            "training_commit": training_commit,
            "evaluation_commit": evaluation_commit,
        })
    return records


def write_snapshot_table(records: list[dict], out_csv: str | os.PathLike) -> pd.DataFrame:
    """Write ``records`` (rows of :data:`SNAPSHOT_COLUMNS`) to ``out_csv``, atomically; returns
    them as a table."""
    table = pd.DataFrame(records, columns=SNAPSHOT_COLUMNS)
    replace_atomically(out_csv, lambda tmp: table.to_csv(tmp, index=False, float_format="%.6f"))
    return table


def evaluate_snapshots(model_path: str | os.PathLike, manifest_path: str | os.PathLike,
                       test_cache: str | os.PathLike, out_csv: str | os.PathLike,
                       settings: Settings, device: torch.device,
                       train_cache: str | os.PathLike | None = None) -> pd.DataFrame:
    """Image and pixel AUROC per category of every snapshot listed in the final model file.

    This is the paper protocol's model selection on the test set; its results are only ever
    reported in columns marked as test-set-selected. Writes and returns a table with columns
    epoch (sub-epochs done), category, image_auroc, pixel_auroc, training_commit (the
    snapshot's) and evaluation_commit.
    """
    final = read_model_file(model_path)
    test = load_test_set(manifest_path, test_cache, settings, train_cache)
    records = []
    evaluation_commit = provenance()["commit"]
    snapshots = [Path(model_path).parent / path for path in final.get("snapshots", [])]
    for snapshot in tqdm(snapshots, desc="snapshots", unit="snapshot"):
        model, state = _checked_model(snapshot, manifest_path, settings, device)
        records += auroc_records(model, test, state["epoch"], settings, device,
                                 state.get("provenance", {}).get("commit", "unknown"),
                                 evaluation_commit)
    return write_snapshot_table(records, out_csv)


def write_metrics(per_category: dict, metrics_json, metrics_csv, model_path, manifest_path,
                  training_provenance: dict | None = None) -> dict:
    """Write the metrics of every category and their mean as JSON and CSV; returns the JSON
    content. ``training_provenance`` is the model file's (none for a method that trains nothing,
    e.g. the kNN baseline)."""
    table = pd.DataFrame.from_dict(per_category, orient="index")
    metric_names = [c for c in table.columns if not c.startswith("num_")]
    mean = table[metric_names].mean().to_dict()  # skips NaN: over the categories that have it
    result = {"model": str(model_path), "manifest": str(manifest_path),
              "categories": {c: _nan_to_none(values) for c, values in per_category.items()},
              "mean": _nan_to_none(mean), "provenance": provenance(),
              "training_provenance": training_provenance}
    replace_atomically(metrics_json, lambda tmp: tmp.write_text(json.dumps(result, indent=2)))
    table.loc["mean", metric_names] = pd.Series(mean)
    table.index.name = "category"
    replace_atomically(metrics_csv, lambda tmp: table.to_csv(tmp, float_format="%.6f"))
    return result


def _nan_to_none(values: dict) -> dict:
    """NaN becomes None (JSON null: NaN is not JSON)."""
    return {key: None if isinstance(v, float) and math.isnan(v) else v
            for key, v in values.items()}
