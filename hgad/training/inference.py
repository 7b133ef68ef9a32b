"""What ``hgad predict`` needs besides the weights, computed when training ends.

Stored in the model file under ``inference``:
- ``features``: how the training features were made (backbone, weights source, out_index,
  img_size, levels, mean, std, precision, cache dtype, resize) and ``weights_digest``, the
  sha256 of the backbone's tensors that extraction recorded in the cache (None for random
  weights); ``hgad predict`` extracts with exactly these.
- ``scoring``: ``msk_size``, ``gaussian_sigma`` and ``precision`` of the maps.
- ``categories``: per category the inductive normalisation constants (``train_max``:
  :func:`hgad.model.normalization.train_max_normalizer`, the constants evaluation uses: fitted
  here with :func:`hgad.model.normalization.fitted_anomaly_maps`, which gives the same) and the
  image scores of its training images under them (``train_scores``), whose quantiles give the
  decision threshold for a target false-positive rate.
"""

from __future__ import annotations

import os
from dataclasses import asdict

import numpy as np
import torch
from tqdm import tqdm

from hgad.features.cache import read_meta, read_weights_digest
from hgad.model.maps import level_maps
from hgad.model.network import HGADModel
from hgad.model.normalization import Normalizer, fitted_anomaly_maps, image_scores
from hgad.runtime.config import EvalSettings

FEATURE_FIELDS = ("backbone", "weights", "out_index", "img_size", "levels", "mean", "std",
                  "precision", "dtype", "resize")


def feature_record(cache: str | os.PathLike) -> dict:
    """The ``features`` entry of a model trained on the cache in folder ``cache``."""
    meta = read_meta(cache)
    record = {key: getattr(meta, key) for key in FEATURE_FIELDS}
    record["mean"], record["std"] = list(meta.mean), list(meta.std)
    record["weights_digest"] = read_weights_digest(cache)
    return record


def normalizer_from_record(entry: dict) -> Normalizer:
    """The :class:`Normalizer` of one ``categories`` entry."""
    return Normalizer(level_max=entry["level_max"], sum_max=entry["sum_max"], clip=True)


def inference_record(model: HGADModel, arrays: list[np.ndarray], labels: np.ndarray,
                     cache: str | os.PathLike, settings: EvalSettings,
                     device: torch.device) -> dict:
    """The ``inference`` entry of a model file (module docstring).

    ``arrays[l]`` is level l's training cache [N, D, H_l, W_l] (read from the folder ``cache``),
    ``labels`` the class index [N]
    of each training image. The constants equal those evaluation fits with ``train_max``; the
    model is left in the scoring precision.
    """
    model.set_precision(settings.precision)
    categories = {}
    for index, name in enumerate(tqdm(model.class_names, desc="normalisation constants",
                                      unit="category")):
        rows = np.flatnonzero(labels == index)
        maps = level_maps(model, arrays, rows, np.full(len(rows), index), settings.batch_size,
                          device)
        normalizer, anomaly = fitted_anomaly_maps(maps, settings.msk_size,
                                                  settings.gaussian_sigma, clip=True)
        scores = image_scores(anomaly)
        entry = asdict(normalizer)
        del entry["clip"]
        categories[name] = {**entry, "train_scores": [float(s) for s in scores]}
    return {"features": feature_record(cache),
            "scoring": {"msk_size": settings.msk_size, "gaussian_sigma": settings.gaussian_sigma,
                        "precision": settings.precision},
            "categories": categories}
