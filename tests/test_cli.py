"""Every command of ``hgad`` (hgad/cli.py) run once on tiny data, through ``main(argv)``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import CATEGORIES, CPU, N_TEST_GOOD, TINY_CONFIG
from test_checkpoint_import import _save_original

from hgad.cli import build_parser, main
from hgad.data.manifest import read_manifest
from hgad.features.cache import open_cache, read_meta
from hgad.model.model_file import load_model
from hgad.reporting.readme import END, START
from hgad.training.warm_start import file_sha256

COMMANDS = {"demo-data", "manifest", "extract", "train", "evaluate", "import-checkpoint",
            "readme", "check-config"}
# Run in their own test files, against what they need (local HTTP servers, a trained model).
ELSEWHERE = {"check-sources": Path(__file__).with_name("test_check_sources.py"),
             "predict": Path(__file__).with_name("test_predict.py"),
             "export-mvtec-ad2": Path(__file__).with_name("test_export_mvtec_ad2.py"),
             "check-mvtec-ad2-export": Path(__file__).with_name("test_export_mvtec_ad2.py")}


def test_every_command_is_run_by_a_test():
    commands = build_parser()._subparsers._group_actions[0].choices
    assert set(commands) == COMMANDS | set(ELSEWHERE)
    for command, test_file in ELSEWHERE.items():
        assert f'main(["{command}"' in test_file.read_text(encoding="utf-8"), test_file


@pytest.fixture(scope="module")
def config_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "tiny.yaml"
    config = {**TINY_CONFIG, "datasets": {"demo": {"layout": "mvtec", "generate": "demo"}}}
    path.write_text(yaml.safe_dump(config))
    return path


def test_demo_data_then_manifest(tmp_path, capsys):
    main(["demo-data", str(tmp_path / "demo"), "--seed", "1", "--image-size", "32"])
    out = tmp_path / "manifest.csv"
    main(["manifest", "--layout", "mvtec", "--root", str(tmp_path / "demo"), "--dataset", "demo",
          "--categories", "moon", "--", str(out)])
    frame = read_manifest(out)
    assert set(frame["category"]) == {"moon"}
    counts = frame.groupby(["split", "label"]).size().to_dict()
    assert counts == {("train", 0): 60, ("test", 0): 12, ("test", 1): 4 * 6}  # the defaults
    assert "moon" in capsys.readouterr().out  # the count table is printed


def test_manifest_compares_the_published_counts(tmp_path, capsys):
    """Like the workflow's manifest rule (hgad.data.sources): with every category, a layout's
    published counts stand beside ours, and a difference is a warning."""
    main(["demo-data", str(tmp_path / "demo"), "--image-size", "32"])
    with pytest.warns(UserWarning) as warned:
        main(["manifest", "--layout", "mvtec", "--root", str(tmp_path / "demo"), "--dataset",
              "demo", str(tmp_path / "manifest.csv")])
    assert {str(w.message) for w in warned} >= {"train: 240 total images, published 3629",
                                                 "test: 144 total images, published 1725"}
    assert "published_total" in capsys.readouterr().out


def test_check_config(config_file, tmp_path, capsys):
    main(["check-config", str(config_file)])
    assert capsys.readouterr().out.strip() == f"{config_file}: valid"
    bad = tmp_path / "bad.yaml"
    bad.write_text(config_file.read_text().replace("coupling_layers: 2", "coupling_layers: two"))
    with pytest.raises(SystemExit, match=r"(?s)hgad check-config: error: .*model.coupling_layers"):
        main(["check-config", str(bad)])


def test_extract_train_evaluate_import_checkpoint(tmp_path, config_file, manifest_path, caches,
                                                 capsys):
    features = tmp_path / "features"
    for split in ("train", "test"):
        main(["extract", "--config", str(config_file), str(manifest_path), split,
              str(features / split)])
        assert read_meta(features / split).split == split
        for mine, fixture in zip(open_cache(features / split),
                                 open_cache(getattr(caches, split)), strict=True):
            assert np.array_equal(mine, fixture)  # the same settings as the library call

    run = tmp_path / "seed0"
    main(["train", "--config", str(config_file), "--seed", "0", str(manifest_path),
          str(features / "train"), str(run)])
    model = load_model(run / "model.pt", CPU)
    assert model.class_names == CATEGORIES
    log = pd.read_csv(run / "train_log.csv")
    assert log["meta_epoch"].max() == TINY_CONFIG["train"]["meta_epochs"] - 1
    assert (run / "checkpoints" / "last.pt").is_file()

    main(["evaluate", "--config", str(config_file), str(manifest_path), str(features / "test"),
          str(run)])
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["categories"]) == set(CATEGORIES)
    assert metrics["categories"]["brick"]["num_test"] - metrics["categories"]["brick"][
        "num_anomalous"] == N_TEST_GOOD
    assert np.load(run / "maps" / "grass.npy").shape[1:] == (32, 32)

    original = _save_original(model, tmp_path / "reference.pt")
    main(["import-checkpoint", str(original), str(tmp_path / "imported.pt"), "--manifest",
          str(manifest_path), "--pos-embed-dim", "8"])
    assert "2 levels" in capsys.readouterr().out
    imported = load_model(tmp_path / "imported.pt", CPU)
    for name, tensor in model.state_dict().items():
        assert torch.equal(imported.state_dict()[name], tensor), name

    main(["train", "--config", str(config_file), "--init", str(tmp_path / "imported.pt"),
          str(manifest_path), str(features / "train"), str(tmp_path / "warm")])
    warm = torch.load(tmp_path / "warm" / "model.pt", map_location="cpu", weights_only=True)
    assert warm["settings"]["init_sha256"] == file_sha256(tmp_path / "imported.pt")

    with pytest.raises(SystemExit, match=r"(?s)hgad train: error: .*cached images"):
        main(["train", "--config", str(config_file), str(manifest_path), str(features / "test"),
              str(tmp_path / "wrong")])


def test_readme(tmp_path, capsys):
    readme, section = tmp_path / "README.md", tmp_path / "section.md"
    readme.write_text(f"# Title\n\n{START}\nold\n{END}\n\nrest\n", encoding="utf-8")
    section.write_text("### New results\n", encoding="utf-8")
    main(["readme", "--section", str(section), str(readme)])
    text = readme.read_text(encoding="utf-8")
    assert "### New results" in text and "old" not in text and text.endswith("rest\n")
    assert "updated" in capsys.readouterr().out
