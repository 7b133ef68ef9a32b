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


REQUIRED_KEYS = ("hparams", "model")
MODEL_FILE = "a model file of `hgad train`"


def load_plain(path: str | os.PathLike, what: str, device: torch.device | str = "cpu",
               error: type[ValueError] = ValueError):
    """``torch.load(path, weights_only=True)``: tensors and plain containers only, never code.

    A file that does not load so (not a torch file, or one holding other objects) raises
    ``error`` naming the path as not ``what``; an ``OSError`` (a missing file) is raised as is.
    """
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except OSError:
        raise
    except Exception as failure:  # unpickling arbitrary bytes raises anything
        raise error(f"{path}: not {what}: torch.load(weights_only=True) refused to load it "
                    f"({type(failure).__name__})") from failure


def read_model_file(path: str | os.PathLike, device: torch.device | str = "cpu") -> dict:
    """The content of a model file, its tensors on ``device``; ``ValueError`` naming the path
    for a file that is not one (:func:`load_plain`, or no dict of :data:`REQUIRED_KEYS`)."""
    state = load_plain(path, MODEL_FILE, device)
    absent = [key for key in REQUIRED_KEYS if not isinstance(state, dict) or key not in state]
    if absent:
        held = f"a {type(state).__name__}" + (" without " + ", ".join(map(repr, absent))
                                              if isinstance(state, dict) else "")
        raise ValueError(f"{path}: not {MODEL_FILE}: it holds {held}")
    return state


def load_model_file(path: str | os.PathLike, device: torch.device) -> tuple[HGADModel, dict]:
    """(model on ``device`` in eval mode, file content) of a model file; ``ValueError`` naming
    the path for a file that is not one (:func:`read_model_file`) or whose weights do not fit
    its ``hparams``."""
    state = read_model_file(path, device)
    try:
        model = HGADModel.from_checkpoint(state)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"{path}: not {MODEL_FILE}: its weights do not fit its hparams "
                         f"({type(error).__name__})") from error
    return model.to(device).eval(), state


def load_model(path: str | os.PathLike, device: torch.device) -> HGADModel:
    """The model of a model file, on ``device`` in eval mode."""
    return load_model_file(path, device)[0]
