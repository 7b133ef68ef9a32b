"""The paper protocol's test scoring after every sub-epoch, inside the training job
(``train.score_every_sub_epoch``; docs/method.md#model-selection).

Training calls a :class:`SubEpochScoring` after each sub-epoch with the weights it holds in
memory (the workflow's train rule script wires it in; training imports no evaluation code). It
computes what :func:`hgad.evaluation.evaluate.evaluate_snapshots` computes for a snapshot taken
at that sub-epoch, and writes the same table, without any model file.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import torch

from hgad.evaluation.evaluate import auroc_records, load_test_set, write_snapshot_table
from hgad.features.cache import read_digest, read_meta
from hgad.model.network import HGADModel
from hgad.runtime.config import Settings
from hgad.runtime.fingerprint import code_digest
from hgad.runtime.provenance import provenance


class SubEpochScoring:
    """Image and pixel AUROC per category of the model being trained, after every sub-epoch.

    A :class:`hgad.training.train.SubEpochHook`: training keeps the rows it returns in its
    checkpoint (a resumed run keeps those of the sub-epochs before the interruption) and hands
    all of them to :meth:`done`, which writes ``out_csv`` (the columns of
    :data:`hgad.evaluation.evaluate.SNAPSHOT_COLUMNS`).
    """

    def __init__(self, manifest_path: str | os.PathLike, test_cache: str | os.PathLike,
                 out_csv: str | os.PathLike, settings: Settings, device: torch.device,
                 train_cache: str | os.PathLike | None = None):
        self.test = load_test_set(manifest_path, test_cache, settings, train_cache)
        self.out_csv = Path(out_csv)
        self.settings = settings
        self.device = device
        self.commit = provenance()["commit"]
        caches = {"test": test_cache}
        if self.test.train_arrays is not None:
            caches["train"] = train_cache
        self.fingerprint = json.dumps({
            "evaluate": asdict(settings.evaluate),
            "caches": {split: {**asdict(read_meta(folder)), "digest": read_digest(folder)}
                       for split, folder in caches.items()},
            "code": code_digest(__file__)}, sort_keys=True)

    def __call__(self, epochs_done: int, model: HGADModel) -> list[dict]:
        """The rows of the model after ``epochs_done`` sub-epochs, scored in
        ``evaluate.precision`` (training sets its own precision back)."""
        model.set_precision(self.settings.evaluate.precision)
        return auroc_records(model, self.test, epochs_done, self.settings, self.device,
                             self.commit, self.commit)

    def done(self, records: list[dict]) -> None:
        """Write every sub-epoch's rows, in the order given."""
        write_snapshot_table(records, self.out_csv)
