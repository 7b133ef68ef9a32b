"""Tests of hgad.reporting.figures: curves and qualitative examples from anomaly maps on disk."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from hgad.data.manifest import make_manifest, write_manifest
from hgad.evaluation import metrics
from hgad.evaluation.maps import map_path
from hgad.reporting import figures

SIZE = 32  # msk_size of the maps
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _trapezoid(curve) -> float:
    x, y = curve
    return float(np.trapezoid(y, x))


def _write_category(root, maps_dir, category, labels, peaks, seed):
    """Images, masks and maps of one category's test split; maps peak at ``peaks``."""
    rng = np.random.default_rng(seed)
    rows, maps, masks = [], [], []
    folder = map_path(root, category).with_suffix("")
    folder.mkdir(parents=True)
    for i, (label, peak) in enumerate(zip(labels, peaks, strict=True)):
        image = folder / f"{i:03d}.png"
        Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(image)
        mask = np.zeros((SIZE, SIZE), bool)
        mask_path = ""
        if label:
            mask[4 + i: 12 + i, 6:14] = True
            mask_path = folder / f"{i:03d}_mask.png"
            Image.fromarray(mask.astype(np.uint8) * 255).save(mask_path)
        anomaly = rng.random((SIZE, SIZE)).astype(np.float32) * 0.5 * peak + mask * 0.3
        anomaly[0, 0] = peak  # the image score: the map's maximum
        rows.append({"dataset": "toy", "category": category, "split": "test", "label": label,
                     "defect": "scratch" if label else "good", "image": str(image),
                     "mask": str(mask_path)})
        maps.append(anomaly)
        masks.append(mask)
    maps = np.stack(maps).astype(np.float16)
    np.save(map_path(maps_dir, category), maps)
    return rows, maps, np.stack(masks)


@pytest.fixture
def toy(tmp_path):
    """Three categories: one with a '/' in its name, one whose test images are all normal."""
    maps_dir = tmp_path / "maps"
    maps_dir.mkdir()
    data = {}
    rows = [{"dataset": "toy", "category": "plain", "split": "train", "label": 0,
             "defect": "good", "image": "unused.png", "mask": ""}]
    specs = {"plain": ([0, 1, 0, 1, 1], [0.9, 3.0, 0.5, 1.0, 2.0]),
             "mvtec/screw": ([1, 0, 1, 0], [1.5, 0.7, 2.5, 0.2]),
             "clean": ([0, 0], [0.4, 0.6])}
    for seed, (category, (labels, peaks)) in enumerate(specs.items()):
        category_rows, maps, masks = _write_category(tmp_path / "data", maps_dir, category,
                                                     labels, peaks, seed)
        rows += category_rows
        data[category] = (np.array(labels), maps, masks)
    manifest = tmp_path / "manifest.csv"
    write_manifest(make_manifest(rows), manifest)
    return maps_dir, manifest, data


def test_category_maps_in_class_order_with_masks(toy):
    maps_dir, manifest, data = toy
    items = list(figures.category_maps(maps_dir, manifest))
    assert [item.category for item in items] == ["clean", "mvtec/screw", "plain"]
    for item in items:
        labels, maps, masks = data[item.category]
        assert item.labels.tolist() == labels.tolist()
        np.testing.assert_array_equal(np.asarray(item.maps), maps)
        np.testing.assert_array_equal(item.masks(), masks)
        assert isinstance(item.maps, np.memmap)
    np.testing.assert_allclose(figures.image_scores(items[2].maps), [0.9, 3.0, 0.5, 1.0, 2.0],
                               rtol=1e-3)


def test_curves_are_the_ones_the_metrics_integrate(toy):
    maps_dir, manifest, data = toy
    curves = figures.category_curves(maps_dir, manifest, max_points=None)
    assert list(curves) == ["clean", "mvtec/screw", "plain"]
    assert curves["clean"] == {}  # all normal: no curve is defined
    for category in ("mvtec/screw", "plain"):
        labels, maps, masks = data[category]
        entry = curves[category]
        assert set(entry) == {"image_roc", "pixel_roc", "pro"}
        scores = maps.reshape(len(maps), -1).max(1)
        assert _trapezoid(entry["image_roc"]) == pytest.approx(metrics.roc_auc(scores, labels))
        assert _trapezoid(entry["pixel_roc"]) == pytest.approx(
            metrics.roc_auc(maps.reshape(-1), masks.reshape(-1)))
        assert _trapezoid(entry["pro"]) / figures.MAX_FPR == pytest.approx(
            metrics.aupro(maps, masks, figures.MAX_FPR))
        assert entry["pro"][0].max() == pytest.approx(figures.MAX_FPR)


def test_qualitative_examples_best_then_worst_per_category(toy):
    maps_dir, manifest, data = toy
    rows = figures.qualitative_examples(maps_dir, manifest, k=1, image_size=40)
    titles = [row["title"].split("\n")[0] for row in rows]
    assert titles == ["mvtec/screw: best 1", "mvtec/screw: worst 1", "plain: best 1",
                      "plain: worst 1"]
    # plain: anomalous images 1 (3.0), 3 (1.0), 4 (2.0): best is 1, worst is 3.
    _, maps, masks = data["plain"]
    best, worst = rows[2], rows[3]
    np.testing.assert_array_equal(best["mask"], masks[1])
    np.testing.assert_array_equal(worst["map"], maps[3].astype(np.float32))
    assert "score 3" in best["title"] and "scratch" in best["title"]
    for row in rows:
        assert row["image"].shape == (40, 40, 3) and row["image"].dtype == np.float32
        assert row["mask"].shape == row["map"].shape == (SIZE, SIZE) and row["mask"].any()
        assert -0.1 < row["image"].min() and row["image"].max() < 1.1


def test_qualitative_examples_show_an_image_once(toy):
    maps_dir, manifest, _ = toy
    rows = figures.qualitative_examples(maps_dir, manifest, k=2)
    titles = [row["title"].split("\n")[0] for row in rows]
    # screw has two anomalies: both are "best", so no "worst" repeats them.
    assert titles[:2] == ["mvtec/screw: best 1", "mvtec/screw: best 2"]
    # plain has three: best 1 (3.0), 4 (2.0); worst 3 (1.0), then 4 again, left out.
    assert titles[2:] == ["plain: best 1", "plain: best 2", "plain: worst 1"]
    assert rows[0]["image"].shape == (256, 256, 3)  # default size: at least 256


def test_write_curves_and_qualitative(toy, tmp_path, saved_figures):
    maps_dir, manifest, _ = toy
    out = tmp_path / "out"
    figures.write_curves(maps_dir, manifest, out / "curves.png", out / "curves.pdf", title="t")
    figures.write_qualitative(maps_dir, manifest, out / "grid.png", out / "grid.pdf", k=1)
    for name in ("curves", "grid"):
        assert (out / f"{name}.png").read_bytes()[:8] == PNG_MAGIC
        assert (out / f"{name}.pdf").read_bytes().startswith(b"%PDF-")
    assert sorted(p.name for p in out.iterdir()) == ["curves.pdf", "curves.png", "grid.pdf",
                                                     "grid.png"]
    curves_figure, grid_figure = saved_figures
    # curves: three panels, one line per category that has a curve, drawn from its points
    assert curves_figure.get_suptitle() == "t"
    curves = figures.category_curves(maps_dir, manifest)
    panels = curves_figure.axes
    assert [ax.get_title() for ax in panels] == ["image ROC", "pixel ROC", "per-region overlap"]
    for ax, key in zip(panels, ("image_roc", "pixel_roc", "pro"), strict=True):
        lines = {line.get_label(): line for line in ax.get_lines()
                 if not line.get_label().startswith("_")}
        assert sorted(lines) == ["mvtec/screw", "plain"]  # "clean" has no anomaly
        for category, line in lines.items():
            x, y = curves[category][key]
            assert np.array_equal(line.get_xdata(), x) and np.array_equal(line.get_ydata(), y)
    # grid: image, ground truth and map per example, rows titled as the examples
    examples = figures.qualitative_examples(maps_dir, manifest, k=1)
    image_axes = [ax for ax in grid_figure.axes if ax.get_label() != "<colorbar>"]
    assert len(image_axes) == 3 * len(examples) == 12
    for r, example in enumerate(examples):
        ax_image, ax_mask, ax_map = image_axes[3 * r:3 * r + 3]
        assert ax_image.get_ylabel() == example["title"]
        assert np.array_equal(ax_mask.images[0].get_array(), example["mask"])
        assert np.array_equal(ax_map.images[1].get_array(), example["map"])


def test_stale_or_missing_maps_are_errors(toy):
    maps_dir, manifest, data = toy
    np.save(maps_dir / "plain.npy", data["plain"][1][:3])
    with pytest.raises(ValueError, match="5 test images of 'plain'"):
        figures.category_curves(maps_dir, manifest)
    (maps_dir / "plain.npy").unlink()
    with pytest.raises(FileNotFoundError):
        figures.category_curves(maps_dir, manifest)


def test_no_anomalies_no_grid(tmp_path):
    maps_dir = tmp_path / "maps"
    maps_dir.mkdir()
    rows, _, _ = _write_category(tmp_path / "data", maps_dir, "clean", [0, 0], [0.1, 0.2], 0)
    rows.append({**rows[0], "split": "train"})
    manifest = tmp_path / "manifest.csv"
    write_manifest(make_manifest(rows), manifest)
    with pytest.raises(ValueError, match="no anomalous test image"):
        figures.write_qualitative(maps_dir, manifest, tmp_path / "grid.png")
    assert not (tmp_path / "grid.png").exists()


def test_reporting_modules_do_not_import_torch():
    """The plotting and table jobs stay light: importing them (and the scripts' preamble) in a
    fresh interpreter imports no torch."""
    modules = ("hgad.reporting.figures, hgad.reporting.draw, hgad.reporting.tables, "
               "hgad.reporting.readme, hgad.runtime.job")
    code = f"import sys, {modules}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
