"""Snapshots during training, their evaluation, and the test-selected "best" table columns."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tiny import CPU, Run, run_train

from hgad.evaluation.evaluate import evaluate, evaluate_snapshots
from hgad.reporting.formatting import BEST_LABEL
from hgad.reporting.selection import best_note, best_selected
from hgad.reporting.tables import write_tables
from hgad.runtime.provenance import git_commit


def test_snapshots_are_kept_and_scored(tmp_path, caches, manifest_path, tiny_settings):
    settings = replace(tiny_settings, train=replace(tiny_settings.train, snapshot_every=1))
    run = Run.at(tmp_path / "run")
    run_train(run, caches, manifest_path, settings)
    final = torch.load(run.model, map_location="cpu", weights_only=True)
    assert final["snapshots"] == [f"checkpoints/snapshots/epoch{e:04d}.pt" for e in (1, 2, 3)]
    # The last snapshot is the final model.
    last = torch.load(run.folder / final["snapshots"][-1], map_location="cpu", weights_only=True)
    for name, tensor in final["model"].items():
        assert torch.equal(tensor, last["model"][name]), name

    table = evaluate_snapshots(run.model, manifest_path, caches.test, tmp_path / "snap.csv",
                               settings, CPU)
    assert sorted(table["epoch"].unique()) == [1, 2, 3]
    assert set(table["category"]) == {"brick", "grass"}
    metrics = evaluate(run.model, manifest_path, caches.test, tmp_path / "m.json",
                       tmp_path / "m.csv", tmp_path / "maps", settings, CPU)
    at_end = table[table["epoch"] == 3].set_index("category")
    for category in ("brick", "grass"):
        for metric in ("image_auroc", "pixel_auroc"):
            assert np.isclose(at_end.loc[category, metric],
                              metrics["categories"][category][metric], atol=1e-5)
    # Where the numbers came from: the commit that trained, and the one that evaluated.
    trained_at = final["provenance"]["commit"]
    assert metrics["training_provenance"] == final["provenance"]
    assert metrics["provenance"]["commit"] == git_commit(Path(__file__).parent)
    assert set(table["training_commit"]) == {trained_at}
    assert set(table["evaluation_commit"]) == {metrics["provenance"]["commit"]}


def test_tables_name_the_training_commit(tmp_path):
    content = {"categories": {"a": {"image_auroc": 0.9, "pixel_auroc": 0.8}}, "mean": {},
               "provenance": {"commit": "evaluated-here"},
               "training_provenance": {"commit": "trained-there"}}
    path = tmp_path / "m.json"
    path.write_text(json.dumps(content))
    table = write_tables("mine", {0: path}, tmp_path / "t.md", tmp_path / "t.csv")
    assert not table.empty
    assert "Seed 0, from commit trained-there." in (tmp_path / "t.md").read_text()


def _snapshot_csv(path, values):
    """values: {epoch: {category: (image, pixel)}}"""
    rows = [{"epoch": e, "category": c, "image_auroc": i, "pixel_auroc": p}
            for e, per in values.items() for c, (i, p) in per.items()]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_best_selected_picks_each_metric_at_its_own_epoch(tmp_path):
    seed0 = _snapshot_csv(tmp_path / "s0.csv", {
        8: {"a": (0.9, 0.5), "b": (0.7, 0.6)},     # image mean 0.80, pixel mean 0.55
        16: {"a": (0.6, 0.9), "b": (0.8, 0.9)},    # image mean 0.70, pixel mean 0.90
    })
    seed1 = _snapshot_csv(tmp_path / "s1.csv", {
        8: {"a": (0.5, 0.8), "b": (0.5, 0.8)},     # image 0.5, pixel 0.8
        16: {"a": (0.7, 0.7), "b": (0.9, 0.7)},    # image 0.8, pixel 0.7
    })
    best = best_selected({0: seed0, 1: seed1})
    assert best.loc["a", "best_image_auroc_mean"] == np.mean([0.9, 0.7])
    assert best.loc["mean", "best_image_auroc_mean"] == np.mean([0.8, 0.8])
    assert best.loc["b", "best_pixel_auroc_mean"] == np.mean([0.9, 0.8])
    assert best.loc["a", "best_image_auroc_epochs"] == "8, 16"
    assert best.loc["a", "best_pixel_auroc_epochs"] == "16, 8"


def test_table_marks_best_columns_as_test_selected(tmp_path):
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({
        "categories": {"a": {"image_auroc": 0.8, "pixel_auroc": 0.9},
                       "b": {"image_auroc": 0.6, "pixel_auroc": 0.7}},
        "mean": {}, "provenance": {"commit": "abc"}}))
    snaps = _snapshot_csv(tmp_path / "s.csv", {8: {"a": (0.95, 0.5), "b": (0.85, 0.5)},
                                               16: {"a": (0.8, 0.9), "b": (0.6, 0.7)}})
    table = write_tables("mine", {0: metrics}, tmp_path / "t.md", tmp_path / "t.csv",
                         snapshot_files={0: snaps})
    assert table.loc["mean", "Image/Pixel AUROC"] == "70.0/80.0"  # the final model: headline
    assert table.loc["mean", BEST_LABEL] == "90.0/80.0"
    text = (tmp_path / "t.md").read_text()
    assert "test-selected" in text and "selects the model on the test data" in text
    assert ("chose among snapshots taken every 8 sub-epochs only (after sub-epochs 8, 16, …, 16;"
            in text)


def test_best_note_names_the_sub_epochs_chosen_among():
    every = ("Here too it chose among the models after every sub-epoch"
             " (`train.score_every_sub_epoch` or `train.snapshot_every: 1`).")
    assert best_note([1, 2, 3]).endswith(every)
    assert "every 8 sub-epochs only (after sub-epochs 8, 16, …, 200;" in best_note(
        list(range(8, 201, 8)))
    assert best_note([3, 5]).endswith("chose among the snapshots of sub-epochs 3, 5 only.")


def test_no_snapshots_kept_gives_no_best_columns(tmp_path):
    empty = tmp_path / "s.csv"
    pd.DataFrame(columns=["epoch", "category", "image_auroc", "pixel_auroc"]).to_csv(empty,
                                                                                   index=False)
    assert best_selected({0: empty}).columns.empty
