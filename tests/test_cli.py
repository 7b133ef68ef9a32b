"""Every command of ``hgad`` (hgad/cli.py) run once on tiny data, through ``main(argv)``."""

from __future__ import annotations

import argparse
import json
import re
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from test_checkpoint_import import save_original
from tiny import CATEGORIES, CPU, N_TEST_GOOD, TINY_CONFIG

from hgad.cli import DISTRIBUTION, build_parser, main
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


CLI_DOC = Path(__file__).parents[1] / "docs" / "cli.md"


def _subcommands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return action


def test_every_command_is_run_by_a_test():
    commands = _subcommands(build_parser()).choices
    assert set(commands) == COMMANDS | set(ELSEWHERE)
    for command, test_file in ELSEWHERE.items():
        assert f'main(["{command}"' in test_file.read_text(encoding="utf-8"), test_file


@pytest.fixture(scope="module")
def config_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "tiny.yaml"
    config = {**TINY_CONFIG, "datasets": {"demo": {"layout": "mvtec", "generate": "demo"}}}
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory) -> Path:
    """`hgad demo-data` with its default counts, at 32 px."""
    root = tmp_path_factory.mktemp("cli") / "demo"
    main(["demo-data", str(root), "--seed", "1", "--image-size", "32"])
    return root


def test_demo_data_then_manifest(demo_data, tmp_path, capsys):
    out = tmp_path / "manifest.csv"
    main(["manifest", "--layout", "mvtec", "--root", str(demo_data), "--dataset", "demo",
          "--categories", "moon", "--", str(out)])
    frame = read_manifest(out)
    assert set(frame["category"]) == {"moon"}
    counts = frame.groupby(["split", "label"]).size().to_dict()
    assert counts == {("train", 0): 60, ("test", 0): 12, ("test", 1): 4 * 6}  # the defaults
    assert "moon" in capsys.readouterr().out  # the count table is printed


def test_manifest_compares_the_published_counts(demo_data, tmp_path, capsys):
    """Like the workflow's manifest rule (hgad.data.sources): with every category, a layout's
    published counts stand beside ours, and a difference is a warning."""
    with pytest.warns(UserWarning) as warned:
        main(["manifest", "--layout", "mvtec", "--root", str(demo_data), "--dataset",
              "demo", str(tmp_path / "manifest.csv")])
    assert {str(w.message) for w in warned} >= {"train: 240 total images, published 3629",
                                                 "test: 144 total images, published 1725"}
    assert "published_total" in capsys.readouterr().out


def test_check_config(config_file, tmp_path, capsys):
    main(["check-config", "--config", str(config_file)])
    assert capsys.readouterr().out.splitlines()[0] == f"{config_file}: valid"
    bad = tmp_path / "bad.yaml"
    bad.write_text(config_file.read_text().replace("coupling_layers: 2", "coupling_layers: two"))
    with pytest.raises(SystemExit, match=r"(?s)hgad check-config: error: .*model.coupling_layers"):
        main(["check-config", "--config", str(bad)])


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

    original = save_original(model, tmp_path / "reference.pt")
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


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"hgad {version(DISTRIBUTION)}"


def test_every_command_and_argument_has_help():
    parser = build_parser()
    commands = _subcommands(parser)
    helps = {action.dest: action.help for action in commands._choices_actions}
    assert set(helps) == set(commands.choices)
    undocumented = [name for name, text in helps.items() if not text]
    for name, sub in [("hgad", parser), *commands.choices.items()]:
        undocumented += [f"{name} {action.dest}" for action in sub._actions
                         if not action.help and not isinstance(action, argparse._SubParsersAction)]
    assert undocumented == []


def test_the_cli_doc_lists_every_command_as_the_help_does():
    rows = dict(re.findall(r"^\| `hgad ([a-z0-9-]+)` \| (.+?) \|$", CLI_DOC.read_text(), re.M))
    commands = _subcommands(build_parser())
    assert rows == {action.dest: action.help for action in commands._choices_actions}


@pytest.mark.parametrize("argv, wrong", [
    (["manifest", "--layout", "union", "--root", ".", "--dataset", "d", "m.csv"],
     "argument --layout: invalid choice: 'union'"),
    (["extract", "--config", "c.yaml", "m.csv", "val", "out"], "invalid choice: 'val'"),
    (["predict", "--model", "m.pt", "--images", ".", "--out", "o", "--device", "gpu"],
     "argument --device: 'gpu'"),
    (["predict", "--model", "m.pt", "--images", ".", "--out", "o", "--device", "cuda:x"],
     "argument --device: 'cuda:x'"),
    (["check-config", "c.yaml"], "the following arguments are required: --config"),
])
def test_a_bad_argument_is_a_usage_error(argv, wrong, capsys):
    with pytest.raises(SystemExit) as refusal:
        main(argv)
    assert refusal.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: hgad {argv[0]}") and wrong in err


def _one_line_refusal(argv: list[str]) -> str:
    with pytest.raises(SystemExit) as refusal:
        main(argv)
    message = refusal.value.code
    assert isinstance(message, str) and "\n" not in message, message  # exit code 1, one line
    return message


def test_a_missing_or_unreadable_config_is_one_line_naming_it(tmp_path, manifest_path):
    missing = tmp_path / "missing.yaml"
    for argv in (["check-config", "--config", str(missing)],
                 ["extract", "--config", str(missing), str(manifest_path), "test", "out"],
                 ["train", "--config", str(missing), str(manifest_path), "features", "out"],
                 ["check-sources", "--config", str(missing)]):
        assert _one_line_refusal(argv) == (f"hgad {argv[0]}: error: {missing}: No such file or "
                                           "directory")
    broken = tmp_path / "broken.yaml"
    broken.write_text("datasets: {demo: {layout: mvtec\n")
    assert _one_line_refusal(["check-config", "--config", str(broken)]).startswith(
        f"hgad check-config: error: {broken}:2: not valid YAML: ")
    assert _one_line_refusal(["check-config", "--config", str(tmp_path)]) == (
        f"hgad check-config: error: {tmp_path}: Is a directory")


def test_a_file_that_is_not_a_model_is_named_by_evaluate(tmp_path, config_file, manifest_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.pt").write_text("not a model\n")
    message = _one_line_refusal(["evaluate", "--config", str(config_file), str(manifest_path),
                                 "features", str(tmp_path / "run")])
    assert message.startswith(f"hgad evaluate: error: {tmp_path / 'run' / 'model.pt'}: not a "
                              "model file of `hgad train`")
