"""Stage shapes are measured once and then read from the user's cache folder."""

from __future__ import annotations

import json

import pytest

from hgad.features import backbone, stage_shapes


@pytest.fixture
def measured(monkeypatch, tmp_path) -> list:
    """Every call that builds a timm model; the cache folder in tmp_path."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    calls = []
    original = backbone.stage_shape

    def counted(name, out_index):
        calls.append((name, out_index))
        return original(name, out_index)

    monkeypatch.setattr(backbone, "stage_shape", counted)
    return calls


def test_a_shape_is_measured_once_then_read(measured):
    shape = stage_shapes.stage_shape("tf_efficientnet_lite0", 3)
    assert shape == backbone.stage_shape("tf_efficientnet_lite0", 3) == (112, 16)
    measured.clear()
    assert stage_shapes.stage_shape("tf_efficientnet_lite0", 3) == shape
    assert measured == []
    assert stage_shapes.stage_shape("tf_efficientnet_lite0", 2) == (40, 8)  # another stage
    assert measured == [("tf_efficientnet_lite0", 2)]


def test_another_timm_version_or_a_broken_file_measures_again(measured, monkeypatch):
    stage_shapes.stage_shape("tf_efficientnet_lite0", 3)
    monkeypatch.setattr(stage_shapes, "version", lambda package: "0.0.1")
    stage_shapes.stage_shape("tf_efficientnet_lite0", 3)
    assert len(measured) == 2
    stage_shapes.cache_file().write_text("{not json")
    assert stage_shapes.stage_shape("tf_efficientnet_lite0", 3) == (112, 16)
    assert len(measured) == 3
    assert len(json.loads(stage_shapes.cache_file().read_text())) == 1  # rewritten whole


def test_an_unknown_backbone_is_an_error_and_not_remembered(measured):
    with pytest.raises(RuntimeError):
        stage_shapes.stage_shape("no_such_backbone", 3)
    assert not stage_shapes.cache_file().exists()
