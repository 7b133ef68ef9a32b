"""The model file: written by training and by checkpoint import, read by evaluation.

A model file is a ``torch.save`` dict holding ``hparams`` (the :class:`hgad.model.network.HGADModel`
constructor's arguments), ``model`` (its state dict), ``settings`` (what it was made with),
``provenance`` (:func:`hgad.runtime.provenance.provenance`) and optional extras (``epoch``, the
sub-epochs done; ``snapshots``, paths of the snapshot files relative to the file's folder).
It holds tensors and plain containers only and is loaded with ``weights_only``: a model file
never runs code.
"""

from __future__ import annotations

import os

import torch

from hgad.model.network import HGADModel
from hgad.runtime.atomic import replace_atomically
from hgad.runtime.provenance import provenance


def save_model_file(path: str | os.PathLike, model: HGADModel, settings: dict, **extra) -> None:
    """Write ``model`` with its ``settings`` and ``extra`` entries to ``path``, atomically."""
    content = {"hparams": model.hparams, "model": model.state_dict(), "settings": settings,
               "provenance": provenance(), **extra}
    replace_atomically(path, lambda tmp: torch.save(content, tmp))


def read_model_file(path: str | os.PathLike, device: torch.device | str = "cpu") -> dict:
    """The content of a model file, its tensors on ``device``."""
    return torch.load(path, map_location=device, weights_only=True)


def load_model_file(path: str | os.PathLike, device: torch.device) -> tuple[HGADModel, dict]:
    """(model on ``device`` in eval mode, file content) of a model file."""
    state = read_model_file(path, device)
    return HGADModel.from_checkpoint(state).to(device).eval(), state


def load_model(path: str | os.PathLike, device: torch.device) -> HGADModel:
    """The model of a model file, on ``device`` in eval mode."""
    return load_model_file(path, device)[0]
