"""Configuration validation against the schema: defaults, unknown keys, wrong types."""

from __future__ import annotations

import copy

import pytest
import yaml

from hgad.runtime.config import (
    archive_name,
    load_config,
    settings_from_config,
    source_urls,
    validate_config,
)


def test_defaults_are_the_paper_settings():
    settings = settings_from_config({})
    assert settings.device == "auto"
    f, m, t, e = settings.features, settings.model, settings.train, settings.evaluate
    assert (f.backbone, f.weights, f.out_index, f.levels, f.img_size) == (
        "tf_efficientnet_b6", "timm", 3, 3, 1024)
    assert f.mean == (0.485, 0.456, 0.406) and f.std == (0.229, 0.224, 0.225)
    assert (m.coupling_layers, m.clamp_alpha, m.pos_embed_dim, m.n_intra_centers) == (
        12, 1.9, 256, 10)
    assert (t.meta_epochs, t.sub_epochs, t.batch_size, t.lr) == (25, 8, 8, 2e-4)
    assert t.betas == (0.95, 0.99) and isinstance(t.betas, tuple)
    assert (t.lambda1, t.lambda2, t.label_smoothing, t.intra_start_epoch) == (1, 100, 0.02, 2)
    assert (t.lr_warm_epochs, t.lr_decay_rate, t.weight_decay) == (2, 0.1, 1e-4)
    assert (e.msk_size, e.normalization, e.gaussian_sigma) == (256, "test_max", 4)


def test_partial_section_keeps_other_defaults():
    config = {"train": {"lr": 1e-3}, "model": {"coupling_layers": 2}}
    original = copy.deepcopy(config)
    settings = settings_from_config(config)
    assert settings.train.lr == 1e-3
    assert settings.train.meta_epochs == 25
    assert settings.model.coupling_layers == 2
    assert settings.model.pos_embed_dim == 256
    assert config == original  # the caller's mapping is not modified


def test_validate_config_fills_defaults_in_place():
    config = {"datasets": {"d": {"layout": "mvtec", "root": "/data"}}}
    validate_config(config)
    assert config["seeds"] == [0]
    assert config["train"]["meta_epochs"] == 25
    assert config["datasets"]["d"]["categories"] == []


@pytest.mark.parametrize(
    ("config", "names"),
    [
        ({"train": {"lr_typo": 1}}, ["train", "lr_typo"]),
        ({"modle": {}}, ["modle"]),
        ({"features": {"img_size": 64, "colour": True}}, ["features", "colour"]),
    ],
)
def test_unknown_key_is_named(config, names):
    with pytest.raises(ValueError) as error:
        settings_from_config(config)
    for name in names:
        assert name in str(error.value)


@pytest.mark.parametrize(
    ("config", "where"),
    [
        ({"train": {"lr": "x"}}, "train.lr"),
        ({"train": {"meta_epochs": 2.5}}, "train.meta_epochs"),
        ({"model": {"pos_embed_dim": 6}}, "model.pos_embed_dim"),
        ({"evaluate": {"normalization": "max"}}, "evaluate.normalization"),
        ({"device": "gpu"}, "device"),
        ({"features": {"mean": [0.5, 0.5]}}, "features.mean"),
        ({"train": {"betas": [0.9, 1.0]}}, "train.betas"),
    ],
)
def test_wrong_value_is_named(config, where):
    with pytest.raises(ValueError, match=where.replace(".", r"\.")):
        settings_from_config(config)


def test_dataset_entries_are_checked():
    with pytest.raises(ValueError, match="layout"):
        validate_config({"datasets": {"d": {"layout": "zip", "root": "x"}}})
    with pytest.raises(ValueError, match="layout"):
        validate_config({"datasets": {"d": {"root": "x"}}})
    with pytest.raises(ValueError, match="datasets"):
        validate_config({})


SHA = {"sha256": "0" * 64}


@pytest.mark.parametrize("source", [{"url": "https://a/x.tar"},
                                    {"urls": ["https://a/x.tar", "https://b/x.tar"]}])
def test_one_url_or_mirrors(source):
    config = {"datasets": {"d": {"layout": "mvtec", **source, **SHA}}}
    validate_config(config)
    assert source_urls(config["datasets"]["d"]) == source.get("urls", [source.get("url")])


@pytest.mark.parametrize(
    ("spec", "message"),
    [({"url": "https://a/x.tar", "urls": ["https://b/x.tar"], **SHA},
      "datasets.d: give 'url' (one URL) or 'urls' (a list), not both"),
     ({"urls": [], **SHA}, "datasets.d.urls: [] should be non-empty"),
     ({"urls": ["https://a/x.tar"]}, "datasets.d: an archive needs exactly one checksum"),
     ({"urls": ["https://a/download/"], **SHA}, "datasets.d: the URL https://a/download/ ends in"),
     ({"root": "r", "urls": ["https://a/x.tar"]}, "give one of generate, root, archive or url(s)")],
)
def test_bad_download_sources_are_named(spec, message):
    with pytest.raises(ValueError) as error:
        validate_config({"datasets": {"d": {"layout": "mvtec", **spec}}})
    assert message in str(error.value)


@pytest.mark.parametrize(("url", "name"), [("https://a/b/x.tar.xz?sig=1", "x.tar.xz"),
                                           ("https://a/My%20Data.zip", "My Data.zip")])
def test_archive_name_from_url(url, name):
    assert archive_name(url) == name


def test_load_config_from_yaml(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"datasets": {"demo": {"layout": "mvtec", "root": "d"}},
                                    "train": {"meta_epochs": 3}}))
    config = load_config(path)
    assert config["train"]["meta_epochs"] == 3
    assert config["train"]["lr"] == 2e-4
    path.write_text(yaml.safe_dump({"datasets": {"demo": {"layout": "mvtec", "root": "d"}},
                                    "train": {"epochs": 3}}))
    with pytest.raises(ValueError, match="epochs"):
        load_config(path)
