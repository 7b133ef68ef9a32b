"""The feature cache: round trip, metadata checks, atomic writing."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from hgad.features.backbone import create_backbone, tensor_digest
from hgad.features.cache import (
    CacheMeta,
    CacheMismatchError,
    CacheWriter,
    level_path,
    open_cache,
    read_digest,
    read_meta,
    read_weights_digest,
)
from hgad.features.extract import cache_meta

SHAPES = [(3, 4, 4), (3, 2, 2)]


def _meta(**changes) -> CacheMeta:
    meta = CacheMeta(backbone="tf_efficientnet_lite0", weights="none", out_index=3, img_size=64,
                     levels=2, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                     precision="fp32", dtype="float16", manifest_hash="abc", split="train",
                     num_images=5)
    return dataclasses.replace(meta, **changes)


def _features(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(5, *shape)).astype(np.float16) for shape in SHAPES]


def _write(folder, meta=None, features=None):
    features = features if features is not None else _features()
    with CacheWriter(folder, meta or _meta(), SHAPES, weights_digest=None) as writer:
        for level, array in enumerate(features):
            writer.write(level, 0, array[:3])  # in two batches
            writer.write(level, 3, array[3:])
        return writer.commit()


def test_round_trip(tmp_path):
    features = _features()
    folder = _write(tmp_path / "cache", features=features)
    assert folder == tmp_path / "cache"
    arrays = open_cache(folder, expected=_meta())
    assert len(arrays) == 2
    for array, original in zip(arrays, features, strict=True):
        assert isinstance(array, np.memmap)
        assert array.dtype == np.float16
        assert not array.flags.writeable
        assert array.shape == original.shape
        assert np.array_equal(array, original)
    assert read_meta(folder) == _meta()
    assert not (tmp_path / "cache.tmp").exists()


def test_float32_input_is_stored_as_float16(tmp_path):
    features = [f.astype(np.float32) + np.float32(1e-4) for f in _features()]
    arrays = open_cache(_write(tmp_path / "c", features=features))
    for array, original in zip(arrays, features, strict=True):
        assert array.dtype == np.float16
        assert np.array_equal(array, original.astype(np.float16))


def test_mismatch_names_the_differing_field(tmp_path):
    folder = _write(tmp_path / "cache")
    with pytest.raises(CacheMismatchError, match="img_size") as error:
        open_cache(folder, expected=_meta(img_size=128))
    message = str(error.value)
    assert "128" in message and "64" in message
    for same in ("backbone", "manifest_hash", "split", "weights"):
        assert same not in message
    with pytest.raises(CacheMismatchError, match="manifest_hash"):
        open_cache(folder, expected=_meta(manifest_hash="other"))
    with pytest.raises(CacheMismatchError, match="mean"):
        open_cache(folder, expected=_meta(mean=(0.5, 0.5, 0.5)))


def test_folder_without_metadata_is_not_a_cache(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CacheMismatchError):
        open_cache(tmp_path / "empty")


class Boom(Exception):
    pass


def test_exception_inside_writer_leaves_nothing(tmp_path):
    folder = tmp_path / "cache"
    with pytest.raises(Boom):
        with CacheWriter(folder, _meta(), SHAPES, weights_digest=None) as writer:
            writer.write(0, 0, _features()[0][:2])
            raise Boom
    assert not folder.exists()
    assert not (tmp_path / "cache.tmp").exists()
    assert list(tmp_path.iterdir()) == []


def test_failed_rewrite_keeps_the_previous_cache(tmp_path):
    features = _features()
    folder = _write(tmp_path / "cache", features=features)
    with pytest.raises(Boom):
        with CacheWriter(folder, _meta(img_size=128), SHAPES,
                         weights_digest=None) as writer:
            writer.write(0, 0, _features(seed=1)[0])
            raise Boom
    assert not (tmp_path / "cache.tmp").exists()
    arrays = open_cache(folder, expected=_meta())
    assert np.array_equal(arrays[0], features[0])


def test_commit_replaces_an_older_cache(tmp_path):
    _write(tmp_path / "cache")
    new = _features(seed=2)
    folder = _write(tmp_path / "cache", meta=_meta(img_size=128), features=new)
    arrays = open_cache(folder, expected=_meta(img_size=128))
    assert np.array_equal(arrays[1], new[1])


def test_digest_identifies_the_content(tmp_path):
    same = [_write(tmp_path / name) for name in ("a", "b")]
    assert read_digest(same[0]) == read_digest(same[1])
    other = _write(tmp_path / "c", features=_features(seed=1))
    assert read_meta(other) == read_meta(same[0])  # same metadata, other features
    assert read_digest(other) != read_digest(same[0])


@pytest.mark.parametrize(("keep", "problem"), [(-2, "truncated feature-cache file"),
                                               (20, "damaged feature-cache file"),
                                               (0, "damaged feature-cache file")])
def test_truncated_file_is_named_with_the_remedy(tmp_path, keep, problem):
    folder = _write(tmp_path / "cache")
    path = level_path(folder, 1)
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(CacheMismatchError) as error:
        open_cache(folder)
    message = str(error.value)
    assert message.startswith(f"{path}: {problem}")
    assert f"delete {folder} and run the workflow again" in message
    assert f"snakemake --forcerun {folder}" in message


def test_missing_level_file_is_named(tmp_path):
    folder = _write(tmp_path / "cache")
    level_path(folder, 0).unlink()
    with pytest.raises(CacheMismatchError, match=f"{level_path(folder, 0)}: missing"):
        open_cache(folder)


def test_extracted_cache_matches_its_settings(caches, manifest_path, tiny_settings):
    """extract_features stores [N, 112, S/16/2**l, S/16/2**l] float16 with matching metadata."""
    arrays = open_cache(caches.train, expected=cache_meta(tiny_settings.features, manifest_path,
                                                          "train", 8))
    assert [a.shape for a in arrays] == [(8, 112, 4, 4), (8, 112, 2, 2)]
    assert all(a.dtype == np.float16 and np.isfinite(a).all() for a in arrays)
    test_arrays = open_cache(caches.test)
    assert len(test_arrays[0]) == 12
    assert read_meta(caches.test).split == "test"
    other = dataclasses.replace(tiny_settings.features, img_size=96)
    with pytest.raises(CacheMismatchError, match="img_size"):
        open_cache(caches.train, expected=cache_meta(other, manifest_path, "train", 8))


def test_extraction_records_its_backbone_weights_digest(caches, tiny_settings, tmp_path):
    """The digest the model files carry for ``hgad predict``, computed where the backbone is."""
    f = tiny_settings.features
    backbone = tensor_digest(create_backbone(f.backbone, f.weights, f.out_index))
    assert read_weights_digest(caches.train) == read_weights_digest(caches.test) == backbone
    with pytest.raises(ValueError, match="needs their digest"):
        CacheWriter(tmp_path / "real", _meta(weights=f.weights), SHAPES, weights_digest=None)
    assert read_weights_digest(_write(tmp_path / "random")) is None


def test_cache_without_weights_digest_is_named_with_the_remedy(tmp_path):
    folder = _write(tmp_path / "cache")
    values = json.loads((folder / "meta.json").read_text())
    del values["weights_digest"]
    (folder / "meta.json").write_text(json.dumps(values))
    with pytest.raises(CacheMismatchError, match=f"{folder}: .*weights digest.*delete {folder}"):
        read_weights_digest(folder)
