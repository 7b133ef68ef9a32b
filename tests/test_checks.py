"""Checks of a manifest against its files and the published counts."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from miniature import write_btad, write_image, write_mask, write_mvtec, write_visa
from PIL import Image

from hgad.data import checks
from hgad.data.checks import ALL, check_manifest
from hgad.data.layouts import btad_manifest, build_manifest, visa_manifest
from hgad.data.manifest import ManifestError
from hgad.runtime.result_warnings import ResultWarning


@pytest.fixture()
def mvtec(tmp_path):
    write_mvtec(tmp_path)
    return build_manifest("mvtec", tmp_path, "mvtec")


def _first(frame, label):
    return frame[frame["label"] == label].iloc[0]


def test_counts_per_category_and_split(mvtec):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = check_manifest(mvtec, progress=False)
    rows = {(r.category, r.split): r for r in report.itertuples(index=False)}
    assert (rows["grid", "train"].normal, rows["grid", "train"].anomalous) == (3, 0)
    assert (rows["bottle", "test"].normal, rows["bottle", "test"].anomalous) == (2, 2)
    assert rows[ALL, "test"].total == 8
    assert report["published_total"].isna().all()


def test_published_counts_compared(mvtec):
    expected = {"train": {"total": 6}, "test": {"normal": 4, "anomalous": 5}}
    with pytest.warns(ResultWarning, match="test: 4 anomalous images, published 5") as caught:
        report = check_manifest(mvtec, expected_counts=expected, progress=False)
    assert len(caught) == 1
    totals = report[report["category"] == ALL].set_index("split")
    assert totals.loc["train", "published_total"] == 6
    assert totals.loc["test", "published_anomalous"] == 5


@pytest.mark.parametrize("label", [0, 1])
def test_truncated_image_is_reported(mvtec, label):
    image = Path(_first(mvtec, label)["image"])
    image.write_bytes(image.read_bytes()[:-40])
    with pytest.raises(ManifestError, match=f"{image}: unreadable or truncated image"):
        check_manifest(mvtec, progress=False)


def test_truncated_jpeg_is_reported(tmp_path):
    write_visa(tmp_path)
    frame = visa_manifest(tmp_path, "visa")
    image = Path(frame["image"].iloc[-1])
    image.write_bytes(image.read_bytes()[: image.stat().st_size // 2])
    with pytest.raises(ManifestError, match=f"{image}: unreadable or truncated image"):
        check_manifest(frame, progress=False)


def test_not_an_image(mvtec):
    image = Path(_first(mvtec, 0)["image"])
    image.write_text("hello")
    with pytest.raises(ManifestError, match=f"{image}: unreadable or truncated image"):
        check_manifest(mvtec, progress=False)


def test_mask_of_wrong_size(mvtec):
    row = _first(mvtec, 1)
    write_mask(Path(row["mask"]), size=8)
    with pytest.raises(ManifestError) as error:
        check_manifest(mvtec, progress=False)
    assert f"{row['mask']}: mask size 8x8 differs from its image {row['image']} (16x16)" in str(
        error.value
    )


def test_mask_missing_on_disk(tmp_path):
    write_btad(tmp_path)
    frame = btad_manifest(tmp_path, "btad")
    mask = Path(_first(frame, 1)["mask"])
    mask.unlink()
    with pytest.raises(ManifestError, match=f"{mask}: mask file missing"):
        check_manifest(frame, progress=False)


def test_anomalous_image_without_mask(mvtec):
    row = _first(mvtec, 1)
    frame = mvtec.copy()
    frame.loc[frame["image"] == row["image"], "mask"] = ""
    with pytest.raises(ManifestError, match=f"{row['image']}: anomalous image without a mask"):
        check_manifest(frame, progress=False)


def test_missing_image(mvtec):
    image = Path(_first(mvtec, 0)["image"])
    image.unlink()
    with pytest.raises(ManifestError, match=f"{image}: image file missing"):
        check_manifest(mvtec, progress=False)


@pytest.mark.parametrize("split", ["train", "test"])
def test_empty_category(mvtec, split):
    frame = mvtec[~((mvtec["category"] == "grid") & (mvtec["split"] == split))]
    with pytest.raises(ManifestError, match=f"grid: category has no {split} images"):
        check_manifest(frame, progress=False)


def test_every_problem_is_counted_and_the_first_listed(mvtec, monkeypatch):
    for image in mvtec["image"]:
        write_image(Path(image), size=4)
    masks = list(mvtec.loc[mvtec["label"] == 1, "mask"])
    with pytest.raises(ManifestError) as error:
        check_manifest(mvtec, progress=False)
    assert str(error.value).startswith(f"{len(masks)} problem(s) in the dataset")
    assert all(mask in str(error.value) for mask in masks)
    monkeypatch.setattr(checks, "MAX_LISTED", 1)
    with pytest.raises(ManifestError, match=f"and {len(masks) - 1} more$") as error:
        check_manifest(mvtec, progress=False)
    assert masks[0] in str(error.value) and masks[1] not in str(error.value)


def test_16_bit_image_passes_and_float_image_is_refused(mvtec):
    grey16, floating = (Path(image) for image in mvtec.loc[mvtec["label"] == 0, "image"][:2])
    Image.fromarray(np.full((16, 16), 40_000, dtype=np.uint16)).save(grey16)
    check_manifest(mvtec, progress=False)
    Image.fromarray(np.zeros((16, 16), dtype=np.float32), "F").save(floating.with_suffix(".tiff"))
    frame = mvtec.replace({str(floating): str(floating.with_suffix(".tiff"))})
    with pytest.raises(ManifestError, match=f"{floating.with_suffix('.tiff')}: floating-point"):
        check_manifest(frame, progress=False)


def test_category_without_anomalous_test_images_is_a_warning(mvtec):
    frame = mvtec[~((mvtec["category"] == "grid") & (mvtec["label"] == 1))]
    with pytest.warns(ResultWarning) as caught:
        check_manifest(frame, progress=False)
    messages = [str(w.message) for w in caught]
    assert messages == [
        "dataset mvtec, category grid: the test set holds no anomalous image (2 test images);"
        " its image-level metrics (and, without anomalous pixels, its pixel-level ones) cannot"
        " be computed and will be reported as n/a"]
