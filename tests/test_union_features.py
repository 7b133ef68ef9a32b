"""The Union's feature cache: an index into its members' caches, read in place, equal to the
copy of their rows that it replaces."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny import CPU, scaled_cache

from hgad.data.layouts import union_manifest
from hgad.data.manifest import make_manifest, read_manifest, select_split, write_manifest
from hgad.features.cache import (
    INDEX_FILE,
    META_FILE,
    CacheMismatchError,
    CacheWriter,
    open_cache,
    read_meta,
    read_weights_digest,
)
from hgad.features.extract import assemble_union_features, extract_features
from hgad.model.maps import level_maps
from hgad.model.model_file import load_model
from hgad.training.train import train

SPLITS = ("train", "test")


@dataclass(frozen=True)
class Union:
    manifest: Path
    caches: dict[str, Path]  # split -> union cache
    copies: dict[str, Path]  # split -> the rows copied into a plain cache (the old way)


@pytest.fixture(scope="module")
def union(tmp_path_factory, manifest_path, caches, tiny_settings) -> Union:
    """Members ``a`` (the tiny demo) and ``b`` (other image paths, negated features): a row read
    from the wrong member, or the wrong row, gives other numbers."""
    folder = tmp_path_factory.mktemp("union")
    first = read_manifest(manifest_path)
    second = make_manifest(first.assign(image="b" + first["image"],
                                        mask=first["mask"].where(first["mask"] == "",
                                                                 "b" + first["mask"]))
                           .to_dict("records"))
    second_path = folder / "b.csv"
    write_manifest(second, second_path)
    union_path = folder / "union.csv"
    write_manifest(union_manifest([("a", first), ("b", second)]), union_path)
    member_caches = {"train": caches.train, "test": caches.test}
    unions, copies = {}, {}
    for split in SPLITS:
        other = scaled_cache(member_caches[split], folder / f"b_{split}", -1)
        members = [(manifest_path, member_caches[split]), (second_path, other)]
        unions[split] = assemble_union_features(union_path, split, folder / f"union_{split}",
                                                tiny_settings.features, members)
        copies[split] = _copy_rows(union_path, split, members, unions[split],
                                   folder / f"copy_{split}")
    return Union(union_path, unions, copies)


def _copy_rows(union_path, split, members, union_cache, folder) -> Path:
    """The union's rows copied from the members into a plain cache (the pre-index behaviour)."""
    rows = {}
    for member_manifest, cache in members:
        arrays = open_cache(cache)
        for row, image in enumerate(select_split(read_manifest(member_manifest), split)["image"]):
            rows[image] = [array[row] for array in arrays]
    images = select_split(read_manifest(union_path), split)["image"]
    shapes = [level.shape for level in rows[images[0]]]
    with CacheWriter(folder, read_meta(union_cache), shapes,
                     weights_digest=read_weights_digest(union_cache)) as writer:
        for start, image in enumerate(images):
            for level, features in enumerate(rows[image]):
                writer.write(level, start, features[None])
        return writer.commit()


@pytest.mark.parametrize("split", SPLITS)
def test_union_read_in_place_equals_the_copy(union, split):
    in_place, copy = open_cache(union.caches[split]), open_cache(union.copies[split])
    count = len(copy[0])
    rng = np.random.default_rng(0)
    batches = [np.arange(count), np.sort(rng.choice(count, count // 2, replace=False)),
               np.array([0, count - 1]), slice(1, count - 1)]
    for level_in_place, level_copy in zip(in_place, copy, strict=True):
        assert level_in_place.shape == level_copy.shape and len(level_in_place) == count
        for batch in batches:
            got = level_in_place[batch]
            assert got.dtype == np.float16
            assert np.array_equal(got, level_copy[batch])
        assert np.array_equal(level_in_place[count - 1], level_copy[count - 1])
        assert np.array_equal(np.asarray(level_in_place), level_copy)
        assert level_in_place.nbytes == level_copy.nbytes
    assert not np.array_equal(copy[0][0], copy[0][count - 1])  # the members differ


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


def test_union_holds_only_an_index(union):
    for split, folder in union.caches.items():
        assert sorted(p.name for p in folder.iterdir()) == [INDEX_FILE, META_FILE]
        rows = read_meta(folder).num_images
        assert (folder / INDEX_FILE).stat().st_size <= 128 + 16 * rows, split


def test_training_and_scores_on_the_union_equal_those_on_the_copy(tmp_path, union,
                                                                  tiny_settings):
    settings = replace(tiny_settings, train=replace(tiny_settings.train, meta_epochs=2))
    states, maps = [], []
    for name, caches in (("in_place", union.caches), ("copy", union.copies)):
        model_path = train(caches["train"], union.manifest, tmp_path / name / "model.pt",
                           tmp_path / name / "log.csv", tmp_path / name / "checkpoints",
                           settings, 0, CPU)
        state = torch.load(model_path, map_location="cpu", weights_only=True)
        states.append(state["model"])
        model = load_model(model_path, CPU)
        arrays = open_cache(caches["test"])
        rows = np.arange(len(arrays[0]))
        maps.append(level_maps(model, arrays, rows, rows % 4, 3, CPU))
    assert all(torch.equal(states[0][key], states[1][key]) for key in states[0])
    for kind in maps[0]:
        assert all(torch.equal(a, b) for a, b in zip(maps[0][kind], maps[1][kind], strict=True))


def test_member_extracted_again_invalidates_the_union(tmp_path, manifest_path, caches,
                                                      tiny_settings):
    frame = read_manifest(manifest_path)
    union_path = tmp_path / "union.csv"
    write_manifest(union_manifest([("a", frame), ("b", frame)]), union_path)
    member = scaled_cache(caches.test, tmp_path / "member", -1)
    out = assemble_union_features(union_path, "test", tmp_path / "cache", tiny_settings.features,
                                  [(manifest_path, caches.test), (manifest_path, member)])
    open_cache(out)
    scaled_cache(caches.test, member, 2)  # the member extracted again, other features
    with pytest.raises(CacheMismatchError, match="changed since the union was indexed"):
        open_cache(out)


def test_member_made_with_other_settings_is_refused(tmp_path, manifest_path, caches,
                                                   tiny_settings):
    other = replace(tiny_settings.features, img_size=32)
    other_cache = extract_features(manifest_path, "test", tmp_path / "other", other, CPU)
    frame = read_manifest(manifest_path)
    union_path = tmp_path / "union.csv"
    write_manifest(union_manifest([("a", frame), ("b", frame)]), union_path)
    with pytest.raises(CacheMismatchError, match="img_size"):
        assemble_union_features(union_path, "test", tmp_path / "cache", tiny_settings.features,
                                [(manifest_path, caches.test), (manifest_path, other_cache)])
    assert not (tmp_path / "cache").exists()


def test_member_made_with_other_backbone_weights_is_refused(tmp_path, manifest_path, caches,
                                                            tiny_settings):
    frame = read_manifest(manifest_path)
    union_path = tmp_path / "union.csv"
    write_manifest(union_manifest([("a", frame), ("b", frame)]), union_path)
    members = [(manifest_path, caches.test), (manifest_path, caches.test)]
    same = assemble_union_features(union_path, "test", tmp_path / "same", tiny_settings.features,
                                   members)
    assert read_weights_digest(same) == read_weights_digest(caches.test) is not None
    other = scaled_cache(caches.test, tmp_path / "other", 1)
    values = json.loads((other / META_FILE).read_text())
    (other / META_FILE).write_text(json.dumps({**values, "weights_digest": "0" * 64}))
    with pytest.raises(CacheMismatchError, match=r"other.*other backbone weights"):
        assemble_union_features(union_path, "test", tmp_path / "cache", tiny_settings.features,
                                [(manifest_path, caches.test), (manifest_path, other)])
    assert not (tmp_path / "cache").exists()
