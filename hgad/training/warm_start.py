"""Warm start (``train.init``): training begins from the weights of an existing model file.

The file is a model file of ``hgad train`` or one converted from the authors' code with ``hgad
import-checkpoint``. Only its weights are taken (the optimiser states start fresh); its categories
and architecture must be those of the model being trained.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from hgad.model.model_file import read_model_file
from hgad.model.network import HGADModel


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes (part of the training fingerprint of a warm start)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_init(path: str | os.PathLike, model: HGADModel) -> None:
    """Copy the weights of the model file ``path`` into ``model`` (in place).

    Raises ``ValueError`` naming both lists when the categories differ, and naming the field
    when the architecture (channels, coupling layers, ...) differs.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"train.init: model file {path} does not exist")
    try:
        state = read_model_file(path)
    except ValueError as error:
        raise ValueError(f"train.init: {error}") from error
    found, wanted = state["hparams"], model.hparams
    if found["class_names"] != wanted["class_names"]:
        raise ValueError(f"train.init: {path} was trained on categories {found['class_names']}, "
                         f"the dataset has {wanted['class_names']}")
    for key, value in wanted.items():
        if found.get(key) != value:
            raise ValueError(f"train.init: {path} has {key}={found.get(key)!r}, the configured "
                             f"model has {key}={value!r}")
    model.load_state_dict(state["model"])
