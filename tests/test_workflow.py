"""The whole Snakemake workflow on a tiny demo configuration (the session's ``tiny_run``), and
the workflow's reruns and refusals in temporary folders."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import torch
from PIL import Image, ImageOps
from workflow_runner import TINY, run_workflow

from hgad.data.demo import generate_demo

pytestmark = pytest.mark.workflow  # every test here runs Snakemake


def test_whole_dag_on_tiny_demo(tiny_run):
    run = tiny_run.folder
    table = pd.read_csv(run / "results/tables/demo.csv")
    assert set(table["category"]) == {"brick", "gravel", "mean", "kNN baseline: brick",
                                      "kNN baseline: gravel", "kNN baseline: mean"}
    knn = json.loads((run / "results/demo/baseline_knn/metrics.json").read_text())
    assert 0.0 <= knn["mean"]["image_auroc"] <= 1.0
    markdown = (run / "results/tables/demo.md").read_text()
    assert "brick" in markdown and "mean" in markdown
    assert (run / "results/plots/demo_auroc.png").stat().st_size > 1000
    per_seed = {seed: json.loads((run / f"results/demo/seed{seed}/metrics.json").read_text())
                for seed in (0, 1)}
    # the table's numbers are the seeds' metrics, averaged over seeds
    for category in ("brick", "gravel"):
        row = table.set_index("category").loc[category]
        for metric in ("image_auroc", "pixel_auroc"):
            values = [per_seed[seed]["categories"][category][metric] for seed in (0, 1)]
            assert row[f"{metric}_mean"] == pytest.approx(sum(values) / 2, abs=1e-6)
    for seed in (0, 1):
        assert (run / f"results/benchmarks/train/demo_seed{seed}.tsv").is_file()
        log = pd.read_csv(run / f"results/demo/seed{seed}/train_log.csv")
        assert len(log) == 2 * 3 * 3  # meta-epochs x iterations (12 images / 4) x levels
    for split in ("train", "test"):
        meta = json.loads((run / f"results/demo/features/{split}/meta.json").read_text())
        assert meta["backbone"] == "tf_efficientnet_lite0" and meta["dtype"] == "float16"
    # Nothing left to do: a second run is a no-op.
    again = tiny_run.snakemake("--dry-run")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [({"train": {"lr_typo": 1}}, "train: unknown key(s) 'lr_typo'"),
     ({"train": {"meta_epochs": "many"}}, "train.meta_epochs: 'many' is not of type 'integer'"),
     ({"device": "gpu"}, "device: 'gpu' does not match")],
)
def test_invalid_config_fails_before_any_job_naming_the_key(tmp_path, change, message):
    config = {**TINY, **change}
    result = run_workflow(tmp_path, config, "--dry-run")
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


def _jobs(result) -> dict[str, int]:
    """The job counts of a Snakemake run or dry run ("Job stats" table)."""
    lines = (result.stdout + result.stderr).splitlines()
    return {match[1]: int(match[2]) for match in map(re.compile(r"^(\w+)\s+(\d+)$").match, lines)
            if match and match[1] != "total"}


def test_images_rewritten_in_place_rerun_extraction_and_train_from_scratch(tmp_path):
    """A `root:` dataset: the workflow notices images rewritten with the same names."""
    root = generate_demo(tmp_path / "mine", seed=3, **{**TINY["demo"], "categories": ["brick"]})
    config = {**TINY, "seeds": [0], "datasets": {"mine": {"layout": "mvtec", "root": str(root)}}}
    target = "results/mine/seed0/model.pt"  # the part of the DAG that matters, in less time
    first = run_workflow(tmp_path, config, target)
    assert first.returncode == 0, first.stderr[-4000:]
    model = tmp_path / target
    before = torch.load(model, weights_only=True)["model"]
    loss_log = (tmp_path / "results/mine/seed0/train_log.csv").read_text()
    untouched = run_workflow(tmp_path, config, target, "--dry-run")
    assert "Nothing to be done" in untouched.stdout + untouched.stderr

    for image in sorted(root.glob("*/train/good/*.png")):  # inverted in place, same names
        ImageOps.invert(Image.open(image).convert("RGB")).save(image)
    planned = run_workflow(tmp_path, config, target, "--dry-run")
    assert _jobs(planned) == {"manifest": 1, "extract_features": 1, "train": 1}
    assert "Params have changed" in planned.stdout + planned.stderr

    second = run_workflow(tmp_path, config, target)
    assert second.returncode == 0, second.stderr[-4000:]
    train_log = (tmp_path / "results/logs/train/mine_seed0.log").read_text()
    assert "differing: cache.digest, cache.manifest_hash); training from scratch" in train_log
    # and, as it changes what the model means, on the console at the end of the run, by job
    assert re.search(r"Warnings that change what a result means .*\n(    .*\n|  .*:\n)*"
                     r"  train/mine_seed0:\n    .*last\.pt was made with other settings .*"
                     r"training from scratch", second.stderr), second.stderr[-4000:]
    after = torch.load(model, weights_only=True)["model"]
    assert not torch.equal(after["priors.0.mu"], before["priors.0.mu"])
    restarted = (tmp_path / "results/mine/seed0/train_log.csv").read_text()
    assert restarted.count("\n") == loss_log.count("\n") and restarted != loss_log
    again = run_workflow(tmp_path, config, target, "--dry-run")
    assert "Nothing to be done" in again.stdout + again.stderr
    assert "Warnings that change" not in again.stdout + again.stderr
