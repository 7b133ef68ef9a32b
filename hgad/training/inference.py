"""What ``hgad predict`` needs besides the weights, computed when training ends.

Stored in the model file under ``inference``:
- ``features``: how the training features were made (backbone, weights source, out_index,
  img_size, levels, mean, std, precision, cache dtype, resize) and ``weights_digest``, the
  sha256 of the backbone's tensors (None for random weights); ``hgad predict`` extracts with
  exactly these.
- ``scoring``: ``msk_size``, ``gaussian_sigma`` and ``precision`` of the maps.
- ``categories``: per category the inductive normalisation constants (``train_max``:
  :func:`hgad.model.normalization.train_max_normalizer`, the constants evaluation uses: fitted
  here with :func:`hgad.model.normalization.fitted_anomaly_maps`, which gives the same) and the
  image scores of its training images under them (``train_scores``), whose quantiles give the
  decision threshold for a target false-positive rate.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict

import numpy as np
import torch
from tqdm import tqdm

from hgad.features.backbone import create_backbone
from hgad.features.cache import CacheMeta
from hgad.model.maps import level_maps
from hgad.model.network import HGADModel
from hgad.model.normalization import Normalizer, fitted_anomaly_maps, image_scores
from hgad.runtime.config import EvalSettings

FEATURE_FIELDS = ("backbone", "weights", "out_index", "img_size", "levels", "mean", "std",
                  "precision", "dtype", "resize")


def tensor_digest(module: torch.nn.Module) -> str:
    """sha256 over the names and bytes of a module's tensors (its weights' identity)."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def weights_digest(backbone: str, weights: str, out_index: int) -> str | None:
    """:func:`tensor_digest` of the feature extractor; None for random weights (``none``)."""
    if weights == "none":
        return None
    return tensor_digest(create_backbone(backbone, weights, out_index))


def feature_record(meta: CacheMeta) -> dict:
    """The ``features`` entry of a model trained on a cache with metadata ``meta``."""
    record = {key: getattr(meta, key) for key in FEATURE_FIELDS}
    record["mean"], record["std"] = list(meta.mean), list(meta.std)
    record["weights_digest"] = weights_digest(meta.backbone, meta.weights, meta.out_index)
    return record


def normalizer_from_record(entry: dict) -> Normalizer:
    """The :class:`Normalizer` of one ``categories`` entry."""
    return Normalizer(level_max=entry["level_max"], sum_max=entry["sum_max"], clip=True)


def inference_record(model: HGADModel, arrays: list[np.ndarray], labels: np.ndarray,
                     meta: CacheMeta, settings: EvalSettings, device: torch.device) -> dict:
    """The ``inference`` entry of a model file (module docstring).

    ``arrays[l]`` is level l's training cache [N, D, H_l, W_l], ``labels`` the class index [N]
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
    return {"features": feature_record(meta),
            "scoring": {"msk_size": settings.msk_size, "gaussian_sigma": settings.gaussian_sigma,
                        "precision": settings.precision},
            "categories": categories}
