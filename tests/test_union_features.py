"""The Union's feature cache is assembled from its members' caches, row for row."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import CPU

from hgad.data.layouts import union_manifest
from hgad.data.manifest import read_manifest, select_split, write_manifest
from hgad.features.cache import CacheMismatchError, open_cache, read_meta
from hgad.features.extract import assemble_union_features, extract_features


@pytest.mark.parametrize("split", ["train", "test"])
def test_union_rows_equal_member_rows(tmp_path, manifest_path, tiny_settings, split):
    # Two members that share no image (the tiny demo's brick and grass categories, each with
    # its own manifest and cache), so a row taken from the wrong member or at the wrong
    # position holds other features.
    frame = read_manifest(manifest_path)
    members = {}
    for name, category in (("first", "brick"), ("second", "grass")):
        member_manifest = tmp_path / f"{name}.csv"
        write_manifest(frame[frame["category"] == category], member_manifest)
        cache = extract_features(member_manifest, split, tmp_path / name, tiny_settings.features,
                                 CPU)
        members[name] = (member_manifest, cache)
    union_path = tmp_path / "union.csv"
    write_manifest(union_manifest([(name, read_manifest(path))
                                   for name, (path, _) in members.items()]), union_path)
    out = assemble_union_features(union_path, split, tmp_path / "cache", tiny_settings.features,
                                  list(members.values()))
    union_rows = select_split(read_manifest(union_path), split)
    union_arrays = open_cache(out)
    member_arrays = {name: open_cache(cache) for name, (_, cache) in members.items()}
    member_images = {name: select_split(read_manifest(path), split)["image"].tolist()
                     for name, (path, _) in members.items()}
    assert not np.array_equal(member_arrays["first"][0][0], member_arrays["second"][0][0])
    assert {category.split("/")[0] for category in union_rows["category"]} == set(members)
    for level, union_level in enumerate(union_arrays):
        for row, (category, image) in enumerate(zip(union_rows["category"], union_rows["image"],
                                                    strict=True)):
            member = category.split("/")[0]
            expected = member_arrays[member][level][member_images[member].index(image)]
            assert np.array_equal(union_level[row], expected), (level, row, category)
    meta = read_meta(out)
    assert meta.num_images == len(union_rows) and meta.split == split


def test_member_made_with_other_settings_is_refused(tmp_path, manifest_path, caches,
                                                   tiny_settings):
    from dataclasses import replace

    other = replace(tiny_settings.features, img_size=32)
    other_cache = extract_features(manifest_path, "test", tmp_path / "other", other, CPU)
    frame = read_manifest(manifest_path)
    union_path = tmp_path / "union.csv"
    write_manifest(union_manifest([("a", frame), ("b", frame)]), union_path)
    with pytest.raises(CacheMismatchError, match="img_size"):
        assemble_union_features(union_path, "test", tmp_path / "cache", tiny_settings.features,
                                [(manifest_path, caches.test), (manifest_path, other_cache)])
    assert not (tmp_path / "cache").exists()
