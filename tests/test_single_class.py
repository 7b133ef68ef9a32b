"""A category whose test set holds no anomalous image: NaN metrics, a warning, n/a in tables."""

from __future__ import annotations

import json

import pytest
import torch
from tiny import CPU

from hgad.data.manifest import read_manifest, write_manifest
from hgad.evaluation.evaluate import evaluate, evaluate_snapshots
from hgad.evaluation.metrics import IMAGE_METRICS, PIXEL_METRICS
from hgad.features.extract import extract_features
from hgad.reporting.formatting import NOT_AVAILABLE
from hgad.reporting.selection import best_selected
from hgad.reporting.tables import write_tables
from hgad.runtime.result_warnings import ResultWarning

WARNED = "dataset demo, category grass{}: test {}: 0 anomalous of {}; the {} metrics need both"


@pytest.fixture(scope="module")
def normal_only(tmp_path_factory, manifest_path, tiny_settings):
    """The demo manifest without grass's anomalous test images, and its test feature cache."""
    folder = tmp_path_factory.mktemp("normal_only")
    frame = read_manifest(manifest_path)
    drop = (frame["category"] == "grass") & (frame["label"] == 1)
    write_manifest(frame[~drop], folder / "manifest.csv")
    cache = extract_features(folder / "manifest.csv", "test", folder / "test",
                             tiny_settings.features, CPU)
    grass = int(((frame["category"] == "grass") & (frame["split"] == "test") & ~drop).sum())
    return folder, cache, grass


def test_evaluation_reports_nan_for_what_needs_anomalies(normal_only, trained, tiny_settings):
    folder, cache, grass = normal_only
    with pytest.warns(ResultWarning) as caught:
        result = evaluate(trained.model, folder / "manifest.csv", cache, folder / "m.json",
                          folder / "m.csv", folder / "maps", tiny_settings, CPU)
    messages = [str(w.message) for w in caught]
    assert any(m.startswith(WARNED.format("", "images", grass, "image")) for m in messages)
    assert any(m.startswith(WARNED.format("", "pixels", grass * 32 * 32, "pixel"))
               for m in messages)
    written = json.loads((folder / "m.json").read_text())
    assert all(written["categories"]["grass"][m] is None for m in IMAGE_METRICS + PIXEL_METRICS)
    brick = result["categories"]["brick"]
    assert all(0 < brick[m] <= 1 for m in IMAGE_METRICS + PIXEL_METRICS)
    # every metric that is n/a for grass (those of each conditioning variant too) is brick's alone
    skipped = [m for m, value in written["categories"]["grass"].items() if value is None]
    assert set(IMAGE_METRICS + PIXEL_METRICS) <= set(skipped)
    assert {m: written["mean"][m] for m in skipped} == {m: brick[m] for m in skipped}

    write_tables("demo", {0: folder / "m.json"}, folder / "t.md", folder / "t.csv",
                 folder / "full.md", folder / "full.csv")
    for table in ("t.md", "full.md"):
        text = (folder / table).read_text()
        grass_row = next(line for line in text.splitlines() if line.startswith("| grass"))
        assert grass_row.count(NOT_AVAILABLE) >= 2, grass_row
        assert "Means over categories skip n/a" in text


def test_snapshot_scores_are_nan_too(normal_only, trained, tiny_settings, tmp_path):
    folder, cache, grass = normal_only
    state = torch.load(trained.model, map_location="cpu", weights_only=True)
    torch.save(state, tmp_path / "snapshot.pt")
    torch.save({**state, "snapshots": ["snapshot.pt"]}, tmp_path / "model.pt")
    with pytest.warns(ResultWarning, match=WARNED.format(f", snapshot {state['epoch']}", "images",
                                                       grass, "image")):
        table = evaluate_snapshots(tmp_path / "model.pt", folder / "manifest.csv", cache,
                                   tmp_path / "snap.csv", tiny_settings, CPU)
    rows = table.set_index("category")
    assert rows.loc["grass"].isna()[["image_auroc", "pixel_auroc"]].all()
    assert rows.loc["brick"].notna().all()
    best = best_selected({0: tmp_path / "snap.csv"})
    assert best.loc["mean", "best_image_auroc_mean"] == rows.loc["brick", "image_auroc"]
