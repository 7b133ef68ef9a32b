"""Tables beyond the paper: class-conditioning variants and the kNN baseline's row group."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from hgad.reporting import numbers, tables

# seed -> category -> {variant prefix: (image_auroc, pixel_auroc)}
AUROCS = {0: {"brick": {"": (0.90, 0.80), "predicted_": (0.70, 0.60), "agnostic_": (0.50, 0.40)},
              "grass": {"": (0.70, 0.60), "predicted_": (0.50, 0.40), "agnostic_": (0.30, 0.20)}},
          1: {"brick": {"": (0.94, 0.84), "predicted_": (0.74, 0.64), "agnostic_": (0.54, 0.44)},
              "grass": {"": (0.74, 0.64), "predicted_": (0.54, 0.44), "agnostic_": (0.34, 0.24)}}}
KNN = {"brick": (0.60, 0.55), "grass": (0.40, 0.35)}


def _write(path: Path, categories: dict) -> Path:
    path.write_text(json.dumps({"categories": categories, "provenance": {"commit": "abc"}}))
    return path


def _metrics(tmp_path: Path) -> dict[int, Path]:
    files = {}
    for seed, per_category in AUROCS.items():
        categories = {}
        for category, variants in per_category.items():
            values = {f"{prefix}{metric}": value for prefix, pair in variants.items()
                      for metric, value in zip(numbers.AUROC_METRICS, pair, strict=True)}
            categories[category] = {**values, "predicted_class_accuracy": 0.5, "num_test": 9}
        files[seed] = _write(tmp_path / f"seed{seed}.json", categories)
    return files


def _knn(tmp_path: Path) -> Path:
    return _write(tmp_path / "knn.json", {
        category: dict(zip(numbers.AUROC_METRICS, pair, strict=True))
        for category, pair in KNN.items()})


@pytest.fixture
def written(tmp_path):
    metrics, knn = _metrics(tmp_path), _knn(tmp_path)
    tables.write_tables("demo", metrics, tmp_path / "t.md", tmp_path / "t.csv",
                        tmp_path / "all.md", tmp_path / "all.csv", baseline_files={"knn": knn})
    tables.write_summary({"demo": metrics}, tmp_path / "s.md", tmp_path / "s.csv",
                         baseline_files={"demo": {"knn": knn}})
    return tmp_path


def _rows(markdown: str) -> dict[str, list[str]]:
    """A pipe table's cells by row label (the header row under ``header``)."""
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    return {"header": cells[0], **{row[0]: row[1:] for row in cells[2:]}}


def test_per_dataset_table_has_a_column_pair_per_variant(written):
    rows = _rows((written / "t.md").read_text())
    header = rows["header"][1:]
    assert header.index("Predicted Image/Pixel") < header.index("Agnostic Image/Pixel")
    assert rows["brick"][header.index("Image/Pixel AUROC")] == "92.0/82.0"  # oracle, the headline
    assert rows["brick"][header.index("Predicted Image/Pixel")] == "72.0/62.0"
    assert rows["mean"][header.index("Agnostic Image/Pixel")] == "42.0/32.0"


def test_per_dataset_table_has_the_baseline_row_group(written):
    rows = _rows((written / "t.md").read_text())
    header = rows["header"][1:]
    labels = [label for label in rows if label != "header"]
    assert labels == ["brick", "grass", "mean", "kNN baseline: brick", "kNN baseline: grass",
                      "kNN baseline: mean"]
    assert rows["kNN baseline: brick"][header.index("Image/Pixel AUROC")] == "60.0/55.0"
    assert rows["kNN baseline: mean"][header.index("Image AUROC")] == "50.0"
    assert rows["kNN baseline: mean"][header.index("Predicted Image/Pixel")] == "–"
    numbers = pd.read_csv(written / "t.csv", index_col="category")
    assert numbers.loc["kNN baseline: mean", "pixel_auroc_mean"] == pytest.approx(0.45)
    assert numbers.loc["mean", "predicted_image_auroc_mean"] == pytest.approx(0.62)


def test_all_metrics_table_has_every_variant(written):
    header = _rows((written / "all.md").read_text())["header"]
    for label in ("Image AUROC", "Predicted Image AUROC", "Agnostic Pixel AUROC",
                  "Predicted class accuracy"):
        assert label in header


def test_summary_has_one_oracle_predicted_agnostic_column_and_the_baseline(written):
    rows = _rows((written / "s.md").read_text())
    header = rows["header"][1:]
    column = header.index("Image AUROC oracle / predicted / agnostic")
    assert rows["demo"][column] == "82.0 / 62.0 / 42.0"
    assert "Predicted Image/Pixel" not in header
    assert rows["demo (kNN baseline)"][header.index("Image/Pixel AUROC")] == "50.0/45.0"
