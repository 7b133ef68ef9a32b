"""``features.resize: whole``: the pixel metrics compare each test image's map, resized back to
the image's full size, with its mask as the file holds it; image scores stay the maxima of the
``msk_size`` maps."""

from __future__ import annotations

import numpy as np
import pytest
from miniature import REALIAD_CATEGORIES, write_image, write_mvtec_ad2, write_realiad
from PIL import Image
from sklearn.metrics import average_precision_score, roc_auc_score

from hgad.data.images import load_mask
from hgad.data.manifest import read_manifest, select_split, write_manifest
from hgad.data.mvtec_ad2 import mvtec_ad2_manifest
from hgad.data.realiad import realiad_manifest
from hgad.evaluation import evaluate as evaluation
from hgad.evaluation.full_size import at_mask_sizes, full_size_metrics_bytes, to_image_size
from hgad.evaluation.seg_f1 import seg_f1

MSK_SIZE = 8
BORDER_IMAGE = (30, 14)  # (width, height): one bad image of another size than the category's


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    """The manifest of the miniature MVTec AD 2 (``can`` 24 x 16, ``rice`` 16 x 20), whose
    second bad ``can`` image is 30 x 14 with a defect one pixel wide along its left border."""
    root = tmp_path_factory.mktemp("ad2") / "mvtec_ad_2"
    write_mvtec_ad2(root)
    bad = root / "can" / "test_public" / "bad" / "001_regular.png"
    write_image(bad, size=BORDER_IMAGE)
    border = np.zeros(BORDER_IMAGE[::-1], np.uint8)
    border[:, 0] = 255
    Image.fromarray(border).save(root / "can" / "test_public" / "ground_truth" / "bad"
                                 / "001_regular_mask.png")
    path = root.parent / "manifest.csv"
    write_manifest(mvtec_ad2_manifest(root, "mvtec_ad2"), path)
    return path


@pytest.fixture(scope="module")
def can_rows(manifest):
    """The test rows of ``can``."""
    rows = select_split(read_manifest(manifest), "test")
    return rows[rows["category"] == "can"].reset_index(drop=True)


def _by_hand(scores, rows) -> tuple[np.ndarray, np.ndarray]:
    """Every pixel's (score, label) at full size, from the files and Pillow directly."""
    values, labels = [], []
    for score, (image, mask) in zip(scores, zip(rows["image"], rows["mask"], strict=True),
                                    strict=True):
        with Image.open(image) as opened:
            size = opened.size
        values.append(np.asarray(Image.fromarray(score, "F").resize(size, Image.BILINEAR)))
        labels.append(np.asarray(Image.open(mask).convert("L")) != 0 if mask
                      else np.zeros(size[::-1], bool))
    return np.concatenate([v.ravel() for v in values]), np.concatenate([m.ravel() for m in labels])


def test_pixel_metrics_are_at_each_images_full_size(can_rows):
    rng = np.random.default_rng(0)
    scores = rng.random((len(can_rows), MSK_SIZE, MSK_SIZE)).astype(np.float32)
    scores[:, :, 0] += 0.3  # the left border scores high: the defect there is found
    labels = can_rows["label"].to_numpy()
    test = evaluation.TestSet(can_rows, [], None, None, MSK_SIZE, resize="whole")
    masks = test.masks("can")
    border = int(np.flatnonzero(can_rows["image"].str.endswith("bad/001_regular.png"))[0])
    assert [m.shape for m in masks] == [BORDER_IMAGE[::-1] if i == border else (16, 24)
                                        for i in range(len(can_rows))]
    found = evaluation.map_metrics(scores, labels, masks, "can", (0.05, 0.3))
    values, truth = _by_hand(scores, can_rows)
    assert found["pixel_auroc"] == pytest.approx(roc_auc_score(truth, values), abs=1e-12)
    assert found["pixel_ap"] == pytest.approx(average_precision_score(truth, values), abs=1e-12)
    assert found["image_auroc"] == roc_auc_score(labels, scores.max(axis=(1, 2)))
    threshold = float(np.quantile(values, 0.8))
    assert seg_f1(at_mask_sizes(scores, masks), masks, threshold) == pytest.approx(
        2 * np.sum((values > threshold) & truth) / (np.sum(values > threshold) + truth.sum()))

    squashed = np.stack([load_mask(path, MSK_SIZE, "whole") for path in can_rows["mask"]])
    assert not squashed[border].any()  # the one-pixel border defect is lost at msk_size
    at_msk_size = evaluation.map_metrics(scores, labels, squashed, "can", (0.05, 0.3))
    assert at_msk_size["pixel_auroc"] != pytest.approx(found["pixel_auroc"], abs=1e-3)
    assert at_msk_size["image_auroc"] == found["image_auroc"]


def test_full_size_maps_stay_within_the_maps_range_and_dtype():
    anomaly = np.random.default_rng(1).random((MSK_SIZE, MSK_SIZE)).astype(np.float32)
    full = to_image_size(anomaly, (37, 53))
    assert full.shape == (37, 53) and full.dtype == np.float32
    assert anomaly.min() <= full.min() and full.max() <= anomaly.max()
    masks = [np.zeros((37, 53), bool), np.zeros((20, 9), bool)]
    for dtype in (np.float16, np.float32):
        maps = at_mask_sizes(np.stack([anomaly, anomaly]).astype(dtype), masks)
        assert [(m.shape, m.dtype) for m in maps] == [((37, 53), dtype), ((20, 9), dtype)]


def test_memory_is_counted_for_the_largest_categorys_test_pixels(manifest):
    can = 3 * 24 * 16 + 30 * 14  # 2 good and 1 bad image at the category's size, the 30 x 14
    rice = 4 * 16 * 20
    assert can > rice
    # float32 score, int32 region id, int64 sorted position and the bool mask of every pixel
    assert full_size_metrics_bytes(manifest) == (4 + 4 + 8 + 1) * can


def test_realiad_masks_are_read_at_each_images_size(tmp_path):
    write_realiad(tmp_path)
    rows = select_split(realiad_manifest(tmp_path, "realiad"), "test")
    test = evaluation.TestSet(rows, [], None, None, MSK_SIZE, resize="whole")
    for category, (width, height) in REALIAD_CATEGORIES.items():
        masks = test.masks(category)
        labels = test.labels(category)
        assert [m.shape for m in masks] == [(height, width)] * len(labels)
        assert [bool(m.any()) for m in masks] == [bool(label) for label in labels]
