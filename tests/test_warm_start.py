"""Warm start (``train.init``): weights from a model file; categories and architecture checked."""

from __future__ import annotations

import csv
import dataclasses

import numpy as np
import pytest
import torch
from tiny import CPU, Run, run_train

from hgad.data.manifest import class_names, read_manifest, select_split
from hgad.features.cache import open_cache
from hgad.model.model_file import load_model
from hgad.model.prior import hgad_losses
from hgad.training.train import LOG_FIELDS, epoch_order
from hgad.training.warm_start import file_sha256


def _warm(settings, init, **train):
    return dataclasses.replace(settings, train=dataclasses.replace(settings.train, init=str(init),
                                                                   **train))


def test_first_losses_are_the_init_models(tmp_path, trained, caches, manifest_path,
                                          tiny_settings):
    settings = _warm(tiny_settings, trained.model, meta_epochs=1)
    run = Run.at(tmp_path / "warm")
    run_train(run, caches, manifest_path, settings)
    with open(run.log, newline="") as handle:
        first = [row for row in csv.DictReader(handle) if row["iteration"] == "0"]
    tr = settings.train
    names = class_names(read_manifest(manifest_path))
    labels = torch.tensor([names.index(c) for c in
                           select_split(read_manifest(manifest_path), "train")["category"]])
    order = epoch_order(0, 0, 0, len(labels))
    batch = np.sort(order[:tr.batch_size].numpy())
    model = load_model(trained.model, CPU).train()
    for level, array in enumerate(open_cache(caches.train)):
        features = torch.from_numpy(array[batch]).to(torch.float32)
        z, logdet = model.encode(level, features)
        with torch.no_grad():
            terms = hgad_losses(model.priors[level], z, logdet,
                                labels[batch].repeat_interleave(features[0, 0].numel()),
                                lambda1=tr.lambda1, lambda2=tr.lambda2,
                                label_smoothing=tr.label_smoothing, intra=False)
        logged = next(row for row in first if int(row["level"]) == level)
        for name, value in zip(LOG_FIELDS[5:], terms.stacked().tolist(), strict=True):
            if not np.isnan(value):
                assert float(logged[name]) == pytest.approx(value, rel=1e-6), (level, name)
    saved = torch.load(run.model, map_location="cpu", weights_only=True)
    assert saved["settings"]["init_sha256"] == file_sha256(trained.model)


def _altered(path, out, change) -> str:
    state = torch.load(path, map_location="cpu", weights_only=True)
    change(state["hparams"])
    torch.save(state, out)
    return str(out)


def test_category_mismatch_is_refused(tmp_path, trained, caches, manifest_path, tiny_settings):
    init = _altered(trained.model, tmp_path / "other.pt",
                    lambda h: h.update(class_names=["brick", "gravel"]))
    with pytest.raises(ValueError, match=r"\['brick', 'gravel'\].*\['brick', 'grass'\]"):
        run_train(Run.at(tmp_path / "run"), caches, manifest_path, _warm(tiny_settings, init))


def test_a_file_that_is_not_a_model_is_refused(tmp_path, caches, manifest_path, tiny_settings):
    init = tmp_path / "notes.txt"
    init.write_text("not a model\n")
    with pytest.raises(ValueError, match=rf"^train\.init: {init}: not a model file of `hgad"):
        run_train(Run.at(tmp_path / "run"), caches, manifest_path, _warm(tiny_settings, str(init)))


def test_architecture_mismatch_is_refused(tmp_path, trained, caches, manifest_path,
                                          tiny_settings):
    settings = _warm(tiny_settings, trained.model)
    settings = dataclasses.replace(
        settings, model=dataclasses.replace(settings.model, coupling_layers=3))
    with pytest.raises(ValueError, match=r"coupling_layers=2.*coupling_layers=3"):
        run_train(Run.at(tmp_path / "run"), caches, manifest_path, settings)


@pytest.mark.workflow
def test_init_file_is_an_input_of_the_train_rule(tmp_path):
    from workflow_runner import TINY, run_workflow

    config = {**TINY, "train": {**TINY["train"], "init": str(tmp_path / "absent.pt")}}
    result = run_workflow(tmp_path, config, "--dry-run")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "MissingInputException" in output and "absent.pt" in output
