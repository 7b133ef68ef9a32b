"""Model files: a missing file stays an OSError, and weights that do not fit the recorded
hyperparameters are named in one line."""

from __future__ import annotations

import pytest
import torch
from tiny import CPU

from hgad.model.model_file import load_model_file, read_model_file


def test_a_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_model_file(tmp_path / "absent.pt")


def test_weights_that_do_not_fit_their_hparams_are_named(tmp_path, trained):
    state = torch.load(trained.model, weights_only=True)
    hparams = state["hparams"]
    state["hparams"] = {**hparams, "coupling_layers": hparams["coupling_layers"] + 1}
    path = tmp_path / "model.pt"
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"model\.pt: not a model file of `hgad train`: its "
                                         r"weights do not fit its hparams \(RuntimeError\)"):
        load_model_file(path, CPU)
