"""Real-IAD read from a root the user holds, through its JSON splits (each view an image)."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from miniature import REALIAD_CATEGORIES, write_realiad

from hgad.data.manifest import ManifestError
from hgad.data.sources import dataset_manifest
from hgad.runtime.config import validate_config


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    folder = tmp_path_factory.mktemp("realiad")
    return folder, write_realiad(folder)


def test_every_view_of_the_json_split_is_an_image(root):
    folder, counts = root
    frame, _ = dataset_manifest("realiad", {"layout": "realiad"}, folder)
    assert Counter(zip(frame["split"], frame["label"], strict=True)) == counts
    assert set(frame["category"]) == set(REALIAD_CATEGORIES)
    bad = frame[frame["label"] == 1]
    assert set(bad["defect"]) == {"AK"}
    assert all(mask.endswith(".png") and "/realiad_1024/" in mask for mask in bad["mask"])
    assert frame["image"].str.endswith("_C2.jpg").sum() == sum(counts.values()) // 2


def test_single_view_split_and_categories(root):
    folder, counts = root
    spec = {"layout": "realiad", "realiad": {"splits": "realiad_jsons_sv"},
            "categories": ["pcb"]}
    frame, _ = dataset_manifest("realiad", spec, folder)
    assert set(frame["category"]) == {"pcb"}
    assert len(frame) == sum(counts.values()) // 2 // len(REALIAD_CATEGORIES)
    assert frame["image"].str.endswith("_C1.jpg").all()


def test_missing_root_says_where_to_request_access(tmp_path):
    with pytest.raises(ManifestError, match="huggingface.co/datasets/Real-IAD"):
        dataset_manifest("realiad", {"layout": "realiad"}, tmp_path / "absent")
    with pytest.raises(ManifestError, match="realiad_jsons/realiad_jsons: missing"):
        dataset_manifest("realiad", {"layout": "realiad"}, tmp_path)


def test_an_anomalous_entry_without_mask_is_named(tmp_path):
    write_realiad(tmp_path)
    path = tmp_path / "realiad_jsons" / "realiad_jsons" / "pcb.json"
    content = json.loads(path.read_text())
    next(e for e in content["test"] if e["anomaly_class"] != "OK")["mask_path"] = None
    path.write_text(json.dumps(content))
    with pytest.raises(ManifestError, match="pcb.json: anomalous test image NG/AK/"):
        dataset_manifest("realiad", {"layout": "realiad"}, tmp_path)


def test_config_needs_a_root_and_keeps_realiad_options_to_its_layout():
    with pytest.raises(ValueError, match="datasets.r: Real-IAD's download is gated"):
        validate_config({"datasets": {"r": {"layout": "realiad", "url": "http://x/a.tar",
                                            "sha256": "0" * 64}}})
    with pytest.raises(ValueError, match=r"datasets.m.realiad: only for the realiad layout"):
        validate_config({"datasets": {"m": {"layout": "mvtec", "root": ".",
                                            "realiad": {"splits": "realiad_jsons_sv"}}}})
    config = {"datasets": {"r": {"layout": "realiad", "root": ".", "realiad": {}}}}
    validate_config(config)
    assert config["datasets"]["r"]["realiad"] == {"images": "realiad_1024",
                                                  "splits": "realiad_jsons"}
