"""MVTec AD 2: its layout indexed with a validation split, the private test sets left out."""

from __future__ import annotations

import warnings

import pytest
from miniature import MVTEC_AD2_CATEGORIES, write_mvtec_ad2

from hgad.data.manifest import ManifestError, select_split
from hgad.data.mvtec_ad2 import private_images
from hgad.data.sources import dataset_manifest


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mvtec_ad2") / "mvtec_ad_2"  # the archive's top folder
    write_mvtec_ad2(folder)
    return folder.parent


def test_validation_images_are_a_split_of_their_own(root):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame, report = dataset_manifest("ad2", {"layout": "mvtec_ad2"}, root)
    assert "validation: 4 total images, published 302" in {str(w.message) for w in caught}
    validation = select_split(frame, "validation")
    assert len(validation) == 2 * len(MVTEC_AD2_CATEGORIES)
    assert (validation["label"] == 0).all()
    assert all("/validation/good/" in path for path in validation["image"])
    others = frame[frame["split"] != "validation"]["image"]
    assert not others.str.contains("/validation/").any()
    totals = report[report["category"] == "(all)"].set_index("split")
    assert totals.loc["validation", "published_total"] == 302
    assert totals.loc["train", "published_total"] == 2528


def test_public_test_set_with_masks_private_sets_not_indexed(root):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the miniature's counts are not the published ones
        frame, _ = dataset_manifest("ad2", {"layout": "mvtec_ad2"}, root)
    test = select_split(frame, "test")
    bad = test[test["label"] == 1]
    assert len(bad) == 2 * len(MVTEC_AD2_CATEGORIES)
    assert all(mask.endswith(f"/test_public/ground_truth/bad/{image.rsplit('/', 1)[1][:-4]}"
                             "_mask.png") for image, mask in zip(bad["image"], bad["mask"],
                                                                 strict=True))
    assert not frame["image"].str.contains("test_private").any()
    private = private_images(root, ["can"])
    assert {key: len(files) for key, files in private.items()} == {
        ("can", "test_private"): 2, ("can", "test_private_mixed"): 1}


def test_missing_validation_folder_is_named(tmp_path):
    write_mvtec_ad2(tmp_path)
    for image in (tmp_path / "rice" / "validation" / "good").iterdir():
        image.unlink()
    (tmp_path / "rice" / "validation" / "good").rmdir()
    with pytest.raises(ManifestError, match="rice/validation/good: missing folder"):
        dataset_manifest("ad2", {"layout": "mvtec_ad2"}, tmp_path)
