"""Tests of the ROC/PRO curve figure, the qualitative grid and the choice of examples."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.image import imread

from hgad.evaluation import metrics
from hgad.reporting import draw

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PDF_MAGIC = b"%PDF-"


def assert_png(path) -> np.ndarray:
    assert path.read_bytes()[:8] == PNG_MAGIC
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 300
    assert image[..., :3].std() > 0.05  # not a blank canvas
    return image


def assert_pdf(path) -> None:
    data = path.read_bytes()
    assert data.startswith(PDF_MAGIC) and b"%%EOF" in data[-64:]
    assert len(data) > 2_000


def _example_maps(rng, n=3, size=24):
    masks = np.zeros((n, size, size), bool)
    masks[0, 4:10, 5:12] = True
    masks[1, 15:20, 2:6] = True
    maps = rng.random(masks.shape).astype(np.float32) + masks
    return maps, masks


def test_roc_pro_curves_writes_png_and_pdf(tmp_path):
    rng = np.random.default_rng(0)
    curves = {}
    for category in ("bottle", "cable", "mvtec/screw"):
        maps, masks = _example_maps(rng)
        scores = np.concatenate([rng.normal(size=6) + 1, rng.normal(size=6)])
        labels = np.r_[np.ones(6), np.zeros(6)]
        curves[category] = {
            "image_roc": metrics.roc_curve_points(scores, labels),
            "pixel_roc": metrics.roc_curve_points(maps, masks, max_points=100),
            "pro": metrics.pro_curve_points(maps, masks, max_points=100),
        }
    png, pdf = tmp_path / "out" / "curves.png", tmp_path / "out" / "curves.pdf"
    draw.roc_pro_curves(curves, png, pdf, title="test curves")
    image = assert_png(png)
    assert image.shape[1] > 2 * image.shape[0]  # three panels side by side
    assert_pdf(pdf)
    assert sorted(p.name for p in png.parent.iterdir()) == ["curves.pdf", "curves.png"]


@pytest.mark.parametrize("image_kind", ["uint8", "float", "grey"])
def test_qualitative_grid_writes_png_and_pdf(tmp_path, image_kind):
    rng = np.random.default_rng(1)
    maps, masks = _example_maps(rng)
    rows = []
    for i in range(3):
        if image_kind == "uint8":
            image = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
        elif image_kind == "float":
            image = rng.random((48, 48, 3))
        else:
            image = rng.random((48, 48))
        rows.append({"image": image, "mask": masks[i], "map": maps[i], "title": f"example {i}"})
    png, pdf = tmp_path / "grid.png", tmp_path / "grid.pdf"
    draw.qualitative_grid(rows, png, pdf)
    image = assert_png(png)
    assert image.shape[0] > image.shape[1]  # three rows of three panels: taller than wide
    assert_pdf(pdf)


def test_qualitative_grid_png_only_and_empty(tmp_path):
    rng = np.random.default_rng(2)
    maps, masks = _example_maps(rng)
    row = {"image": np.zeros((24, 24, 3), np.uint8), "mask": masks[0],
           "map": np.full((24, 24), 0.5), "title": "constant map"}  # flat map: no zero range
    draw.qualitative_grid([row], tmp_path / "one.png")
    assert (tmp_path / "one.png").read_bytes()[:8] == PNG_MAGIC
    assert [p.name for p in tmp_path.iterdir()] == ["one.png"]
    with pytest.raises(ValueError, match="at least one"):
        draw.qualitative_grid([], tmp_path / "none.png")


def test_select_examples():
    scores = np.array([0.9, 0.1, 0.5, 0.7, 0.2, 0.95, 0.3])
    labels = np.array([0, 1, 1, 1, 1, 0, 1])  # anomalous: 1 (0.1), 2 (0.5), 3 (0.7), 4, 6
    best, worst = draw.select_examples(scores, labels, k=2)
    assert best.tolist() == [3, 2]
    assert worst.tolist() == [1, 4]
    best, worst = draw.select_examples(scores, labels, k=10)
    assert best.tolist() == [3, 2, 6, 4, 1] and worst.tolist() == [1, 4, 6, 2, 3]
    best, worst = draw.select_examples(scores, np.zeros(7), k=2)
    assert best.size == worst.size == 0
    best, worst = draw.select_examples([0.4, 0.4, 0.4], [1, 1, 1], k=1)  # ties: input order
    assert best.tolist() == [0] and worst.tolist() == [0]
    with pytest.raises(ValueError, match="differ in length"):
        draw.select_examples([0.1, 0.2], [1])
