"""``features.resize: whole``: the whole non-square image reaches the backbone and the masks and
figures follow it; ``crop`` (the reference's) is unchanged."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from tiny import CPU

from hgad.data.images import load_mask, load_rgb
from hgad.evaluation import evaluate as evaluation
from hgad.evaluation.maps import maps_resize, write_maps_info
from hgad.features.cache import CacheMeta
from hgad.prediction.predict import predict
from hgad.reporting.figures import CategoryMaps, category_maps


def _wide_mask(path):
    """A 40x20 mask whose only defect is the 4 leftmost columns: a centre crop cuts it."""
    pixels = np.zeros((20, 40), np.uint8)
    pixels[:, :4] = 255
    Image.fromarray(pixels).save(path)
    return str(path)


def test_whole_keeps_the_border_crop_cuts_it(tmp_path):
    mask = _wide_mask(tmp_path / "mask.png")
    assert not load_mask(mask, 10).any()  # the reference: shorter side 10, centre 10 x 10
    whole = load_mask(mask, 10, "whole")
    assert whole[:, :1].all() and not whole[:, 2:].any()  # 40 -> 10 columns: the first one
    image = np.zeros((20, 40, 3), np.uint8)
    image[:, :4] = 255
    Image.fromarray(image).save(tmp_path / "image.png")
    assert load_rgb(str(tmp_path / "image.png"), 10).max() == 0
    assert load_rgb(str(tmp_path / "image.png"), 10, "whole")[:, 0].min() > 0.9  # Lanczos


def test_unknown_resize_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown resize mode 'stretch'"):
        load_mask(_wide_mask(tmp_path / "mask.png"), 10, "stretch")


def test_cache_meta_without_resize_is_the_reference_crop():
    fields = dict(backbone="b", weights="none", out_index=3, img_size=64, levels=2, mean=[0, 0, 0],
                  std=[1, 1, 1], dtype="float16", manifest_hash="h", split="test", num_images=1)
    assert CacheMeta.from_dict(fields).resize == "crop"
    assert CacheMeta.from_dict({**fields, "resize": "whole"}).resize == "whole"


def test_figures_read_masks_as_the_maps_were_made(tmp_path):
    mask = _wide_mask(tmp_path / "mask.png")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("dataset,category,split,label,defect,image,mask\n"
                        f"d,c,test,1,bad,{mask},{mask}\n")
    maps = tmp_path / "maps"
    maps.mkdir()
    np.save(maps / "c.npy", np.zeros((1, 10, 10), np.float16))
    assert maps_resize(maps) == "crop"
    write_maps_info(maps, "whole")
    assert json.loads((maps / "maps.json").read_text()) == {"resize": "whole"}
    (item,) = category_maps(maps, manifest)
    assert isinstance(item, CategoryMaps) and item.resize == "whole"
    assert item.masks()[0][:, 0].all()


def test_evaluation_masks_follow_the_cache(tmp_path):
    mask = _wide_mask(tmp_path / "mask.png")
    Image.fromarray(np.zeros((20, 40, 3), np.uint8)).save(tmp_path / "image.png")
    rows = pd.DataFrame({"dataset": ["d", "d"], "category": ["c", "c"], "label": [1, 0],
                         "image": [str(tmp_path / "image.png")] * 2, "mask": [mask, ""]})
    crop = evaluation.TestSet(rows, [], None, None, msk_size=10, resize="crop").masks("c")
    assert crop.shape == (2, 10, 10) and not crop.any()
    whole = evaluation.TestSet(rows, [], None, None, msk_size=10, resize="whole").masks("c")
    expected = np.zeros((20, 40), bool)
    expected[:, :4] = True  # the file itself, at the image's full size
    assert [m.tolist() for m in whole] == [expected.tolist(), np.zeros((20, 40), bool).tolist()]


def test_a_mask_of_another_size_than_its_image_is_named(tmp_path):
    mask = _wide_mask(tmp_path / "mask.png")
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "image.png")
    rows = pd.DataFrame({"dataset": ["d"], "category": ["c"], "label": [1],
                         "image": [str(tmp_path / "image.png")], "mask": [mask]})
    test = evaluation.TestSet(rows, [], None, None, msk_size=10, resize="whole")
    with pytest.raises(ValueError, match=r"mask\.png: mask of 40x20 pixels, .* has 30x20"):
        test.masks("c")


def test_a_model_file_from_before_resize_predicts_as_crop(tmp_path, trained, demo_root):
    state = torch.load(trained.model, map_location="cpu", weights_only=True)
    assert state["inference"]["features"].pop("resize") == "crop"
    torch.save(state, tmp_path / "old.pt")
    images = str(demo_root / "brick" / "test" / "good")
    old = predict(tmp_path / "old.pt", images, tmp_path / "old", CPU, category="brick")
    new = predict(trained.model, images, tmp_path / "new", CPU, category="brick")
    assert old["score"].tolist() == new["score"].tolist()
