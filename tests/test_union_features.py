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
def test_union_rows_equal_member_rows(tmp_path, manifest_path, caches, tiny_settings, split):
    # Two members: the tiny demo under two names, so every image is found in a member cache.
    frame = read_manifest(manifest_path)
    union_path = tmp_path / "union.csv"
    write_manifest(union_manifest([("first", frame), ("second", frame)]), union_path)
    member_cache = caches.train if split == "train" else caches.test
    out = assemble_union_features(union_path, split, tmp_path / "cache", tiny_settings.features,
                                  [(manifest_path, member_cache), (manifest_path, member_cache)])
    union_rows = select_split(read_manifest(union_path), split)
    member_rows = select_split(frame, split)["image"].tolist()
    union_arrays, member_arrays = open_cache(out), open_cache(member_cache)
    for level, (union_level, member_level) in enumerate(
            zip(union_arrays, member_arrays, strict=True)):
        for row, image in enumerate(union_rows["image"]):
            assert np.array_equal(union_level[row], member_level[member_rows.index(image)]), level
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
