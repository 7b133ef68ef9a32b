"""Tests of hgad.reporting.draw: what each figure shows (its bars, lines and labels, read from the
matplotlib objects) and that it is written as valid PNG/PDF files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import BarContainer
from matplotlib.image import imread

from hgad.reporting import draw, numbers
from hgad.training.train import LOG_FIELDS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PDF_MAGIC = b"%PDF-"


def write_metrics(folder: Path, categories: dict[str, list[tuple[float, float]]]) -> dict:
    """One metrics JSON per seed; ``categories`` maps a name to (image, pixel) AUROC per seed."""
    seeds = len(next(iter(categories.values())))
    files = {}
    for seed in range(seeds):
        content = {"categories": {name: {"image_auroc": values[seed][0],
                                         "pixel_auroc": values[seed][1], "num_test": 10}
                                  for name, values in categories.items()},
                   "provenance": {"commit": "abc123"}}
        files[seed] = folder / f"seed{seed}.json"
        files[seed].write_text(json.dumps(content))
    return files


def write_loss_log(path: Path, seed: int, meta_epochs: int = 3, sub_epochs: int = 2) -> Path:
    """A loss log like hgad.training.train's: 3 iterations per sub-epoch, 2 levels, early NaN
    terms."""
    rng = np.random.default_rng(seed)
    rows = []
    for meta_epoch in range(meta_epochs):
        for sub_epoch in range(sub_epochs):
            for iteration in range(3):
                for level in range(2):
                    total = 10.0 - 2 * meta_epoch - sub_epoch + level + rng.random()
                    late = float("nan") if meta_epoch == 0 else 0.5
                    rows.append([meta_epoch, sub_epoch, iteration, level, 2e-4, total,
                                 total / 2, 0.1, 0.2, late, late])
    pd.DataFrame(rows, columns=LOG_FIELDS).to_csv(path, index=False)
    return path


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert path.stat().st_size > 5_000
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 300
    assert image[..., :3].std() > 0.05  # not a blank canvas


def assert_pdf(path: Path) -> None:
    data = path.read_bytes()
    assert data.startswith(PDF_MAGIC) and b"%%EOF" in data[-64:]
    assert len(data) > 5_000


def assert_no_temporaries(folder: Path) -> None:
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


@pytest.fixture(scope="module")
def paper() -> pd.DataFrame:
    return numbers.load_paper_results()


def bars(ax) -> dict[str, list[float]]:
    """The bar heights of each labelled bar series of ``ax``, rounded to 1e-9."""
    return {container.get_label(): [round(patch.get_height(), 9) for patch in container.patches]
            for container in ax.containers if isinstance(container, BarContainer)}


def test_auroc_bars_with_paper(tmp_path, paper, saved_figures):
    files = write_metrics(tmp_path, {"mvtec/bottle": [(0.99, 0.98), (0.995, 0.97)],
                                     "btad/01": [(0.97, 0.96), (0.96, 0.965)]})
    out = tmp_path / "plots"
    draw.auroc_bars("union", numbers.collect(files), paper, out / "union.png", out / "union.pdf")
    assert_png(out / "union.png")
    assert_pdf(out / "union.pdf")
    assert_no_temporaries(out)
    [figure] = saved_figures
    [ax] = figure.axes
    assert [label.get_text() for label in ax.get_xticklabels()] == ["mvtec/bottle", "btad/01",
                                                                    "mean"]
    # ours: mean over seeds; the mean group: mean over categories per seed, then over seeds
    assert bars(ax) == {
        "image (ours)": [99.25, 96.5, 97.875], "pixel (ours)": [97.5, 96.25, 96.875],
        "image (paper)": [100.0, 99.7, 93.5], "pixel (paper)": [98.2, 97.4, 97.5]}
    error_bars = {container.get_label(): container.errorbar is not None
                  for container in ax.containers if isinstance(container, BarContainer)}
    assert error_bars == {"image (ours)": True, "pixel (ours)": True, "image (paper)": False,
                          "pixel (paper)": False}
    assert ax.get_title() == "HGAD on union: AUROC per category (2 seeds)"


def test_auroc_bars_without_paper_and_one_seed(tmp_path, paper, saved_figures):
    files = write_metrics(tmp_path, {"brick": [(1.0, 0.9)], "grass": [(0.5, 0.6)]})
    draw.auroc_bars("demo", numbers.collect(files), paper, tmp_path / "demo.png")
    assert_png(tmp_path / "demo.png")
    assert not (tmp_path / "demo.pdf").exists()
    assert_no_temporaries(tmp_path)
    [ax] = saved_figures[0].axes
    assert bars(ax) == {"image (ours)": [100.0, 50.0, 75.0], "pixel (ours)": [90.0, 60.0, 75.0]}
    assert not [c for c in ax.containers if not isinstance(c, BarContainer) or c.errorbar]
    assert ax.get_title().endswith("(1 seed)")


def test_epoch_losses(tmp_path):
    log = write_loss_log(tmp_path / "log.csv", seed=0)
    means = draw.epoch_losses(log)
    assert len(means) == 2 * 3 * 2  # levels x meta-epochs x sub-epochs
    raw = pd.read_csv(log)
    expected = raw[(raw["level"] == 1) & (raw["meta_epoch"] == 2) & (raw["sub_epoch"] == 1)]
    row = means[(means["level"] == 1) & (means["meta_epoch"] == 2) & (means["sub_epoch"] == 1)]
    assert row["total"].item() == pytest.approx(expected["total"].mean())
    assert row["step"].item() == 5
    assert sorted(means.loc[means["level"] == 0, "step"]) == list(range(6))


def test_loss_curves(tmp_path, saved_figures):
    logs = {seed: write_loss_log(tmp_path / f"log{seed}.csv", seed) for seed in (0, 1)}
    out = tmp_path / "plots"
    draw.loss_curves(logs, out / "loss.png", out / "loss.pdf")
    assert_png(out / "loss.png")
    assert_pdf(out / "loss.pdf")
    assert_no_temporaries(out)
    [ax] = saved_figures[0].axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert sorted(lines) == [f"seed {s}, level {lv}" for s in (0, 1) for lv in (0, 1)]
    for seed, log in logs.items():
        means = draw.epoch_losses(log)
        for level in (0, 1):
            line = lines[f"seed {seed}, level {level}"]
            expected = means[means["level"] == level]
            assert line.get_xdata().tolist() == expected["step"].tolist()
            assert line.get_ydata() == pytest.approx(expected["total"].to_numpy())
    # colour marks the level, line style the seed
    assert lines["seed 0, level 1"].get_color() == lines["seed 1, level 1"].get_color()
    assert lines["seed 0, level 0"].get_color() != lines["seed 0, level 1"].get_color()
    assert lines["seed 0, level 0"].get_linestyle() != lines["seed 1, level 0"].get_linestyle()
