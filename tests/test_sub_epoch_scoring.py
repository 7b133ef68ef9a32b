"""The test set scored after every sub-epoch inside training (train.score_every_sub_epoch):
the same rows as scoring snapshots, no change to training, rows kept across a resume."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest
import torch
from tiny import CPU, Run, run_train

from hgad.evaluation.evaluate import SNAPSHOT_COLUMNS, evaluate_snapshots
from hgad.evaluation.sub_epoch_scoring import SubEpochScoring


class Interrupt(Exception):
    pass


class KeptScoring(SubEpochScoring):
    """The hook, also keeping the rows it was given at the end (before the CSV rounds them)."""

    def done(self, records):
        self.records = pd.DataFrame(records, columns=SNAPSHOT_COLUMNS)
        super().done(records)


def _scoring(tmp_path, caches, manifest_path, settings) -> KeptScoring:
    return KeptScoring(manifest_path, caches.test, tmp_path / "scored.csv", settings, CPU,
                       train_cache=caches.train)


def _rows(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"category": str})


@pytest.fixture(scope="module")
def scored(tmp_path_factory, caches, manifest_path, tiny_settings):
    """One run with a snapshot after every sub-epoch and the scoring hook; (run, settings,
    the hook)."""
    folder = tmp_path_factory.mktemp("scored")
    settings = replace(tiny_settings, train=replace(tiny_settings.train, snapshot_every=1))
    run = Run.at(folder / "run")
    scoring = _scoring(folder, caches, manifest_path, settings)
    run_train(run, caches, manifest_path, settings, on_sub_epoch_end=scoring)
    return run, settings, scoring


def test_rows_equal_those_of_the_snapshots_bit_for_bit(tmp_path, scored, caches, manifest_path):
    """Bit-equal, not within a tolerance: a snapshot holds the same float32 weights, and both
    are scored by the same code on the same device and threads."""
    run, settings, scoring = scored
    from_snapshots = evaluate_snapshots(run.model, manifest_path, caches.test,
                                        tmp_path / "snapshots.csv", settings, CPU)
    assert list(from_snapshots["epoch"]) == [1, 1, 2, 2, 3, 3]
    pd.testing.assert_frame_equal(scoring.records, from_snapshots, check_exact=True)
    assert scoring.out_csv.read_bytes() == (tmp_path / "snapshots.csv").read_bytes()


def test_scoring_changes_neither_weights_nor_loss_log(scored, trained):
    run = scored[0]
    hooked = torch.load(run.model, map_location="cpu", weights_only=True)["model"]
    plain = torch.load(trained.model, map_location="cpu", weights_only=True)["model"]
    assert hooked.keys() == plain.keys()
    for name, tensor in plain.items():
        assert torch.equal(hooked[name], tensor), name
    assert run.log.read_bytes() == trained.log.read_bytes()


def test_resumed_run_keeps_the_rows_before_the_interruption(tmp_path, caches, manifest_path,
                                                            tiny_settings):
    """Two sub-epochs per meta-epoch; the run stops inside meta-epoch 1 (after sub-epoch 3), so
    the resume starts from the checkpoint after sub-epoch 2 and scores 3 and 4 again."""
    settings = replace(tiny_settings, train=replace(tiny_settings.train, meta_epochs=2,
                                                    sub_epochs=2))
    whole_scoring = _scoring(tmp_path / "whole", caches, manifest_path, settings)
    run_train(Run.at(tmp_path / "whole"), caches, manifest_path, settings,
              on_sub_epoch_end=whole_scoring)

    scoring = _scoring(tmp_path / "cut", caches, manifest_path, settings)

    class StopAfterThird:
        fingerprint = scoring.fingerprint
        done = scoring.done

        def __call__(self, epochs_done, model):
            rows = scoring(epochs_done, model)
            if epochs_done == 3:
                raise Interrupt
            return rows

    cut = Run.at(tmp_path / "cut")
    with pytest.raises(Interrupt):
        run_train(cut, caches, manifest_path, settings, on_sub_epoch_end=StopAfterThird())
    scored_again = []

    def recording(epochs_done, model):
        scored_again.append(epochs_done)
        return scoring(epochs_done, model)

    recording.fingerprint, recording.done = scoring.fingerprint, scoring.done
    run_train(cut, caches, manifest_path, settings, on_sub_epoch_end=recording)
    assert scored_again == [3, 4]
    rows = _rows(tmp_path / "cut" / "scored.csv")
    assert list(rows["epoch"]) == [1, 1, 2, 2, 3, 3, 4, 4]
    pd.testing.assert_frame_equal(scoring.records, whole_scoring.records, check_exact=True)


def test_training_precision_is_set_back_after_scoring(tmp_path, caches, manifest_path,
                                                      tiny_settings):
    """bf16 training scored in fp32: the steps after each scoring still run in bf16."""
    settings = replace(tiny_settings, train=replace(tiny_settings.train, precision="bf16"))
    plain, hooked = Run.at(tmp_path / "plain"), Run.at(tmp_path / "hooked")
    run_train(plain, caches, manifest_path, settings)
    run_train(hooked, caches, manifest_path, settings,
              on_sub_epoch_end=_scoring(tmp_path, caches, manifest_path, settings))
    assert hooked.log.read_bytes() == plain.log.read_bytes()
