"""In a finished tiny run, an edit to code a stage reaches plans that stage and what follows it;
an edit to code no stage reaches plans nothing; training forced to rerun says, on the console,
that it reuses the finished checkpoint. The test works on a copy of the session's tiny run and a
copy of the checkout, whose modules it edits (its jobs import that copy's hgad)."""

from __future__ import annotations

import re
import shutil
import subprocess

from workflow_runner import REPO, SNAKEMAKE

TARGETS = ["results/demo/seed0/metrics.json", "results/demo/baseline_knn/metrics.json"]


def _snakemake(checkout, workdir, *extra) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*SNAKEMAKE, "--snakefile", str(checkout / "Snakefile"), "--directory", str(workdir),
         "--configfile", str(workdir / "config.yaml"), "--cores", "2", *TARGETS, *extra],
        capture_output=True, text=True, timeout=600)


def _planned(checkout, workdir) -> dict[str, int]:
    """The jobs a dry run plans ("Job stats" table; empty when nothing is to be done)."""
    result = _snakemake(checkout, workdir, "--dry-run")
    assert result.returncode == 0, result.stderr[-3000:]
    lines = (result.stdout + result.stderr).splitlines()
    return {match[1]: int(match[2]) for match in map(re.compile(r"^(\w+)\s+(\d+)$").match, lines)
            if match and match[1] != "total"}


def test_an_edit_plans_the_stages_that_reach_it_and_no_others(tiny_run, tmp_path):
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    for name in ("Snakefile", "environment.yml", "workflow", "hgad", "config"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, checkout / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, checkout / name)
    workdir = tiny_run.copy(tmp_path / "run").folder
    assert _planned(checkout, workdir) == {}

    scoring_after_training = {"train": 1, "evaluate": 1, "baseline_knn": 1}
    edits = {
        # the train_max constants stored in the model file: training, then everything scored
        "hgad/model/normalization.py": scoring_after_training,
        # extraction's; all that follows it runs again on the new caches
        "hgad/features/backbone.py": {"extract_features": 2, **scoring_after_training},
        "hgad/evaluation/knn.py": {"baseline_knn": 1},
        "hgad/evaluation/metrics.py": {"evaluate": 1, "baseline_knn": 1},
        "hgad/reporting/draw.py": {},  # no stage reaches it
    }
    for name, planned in edits.items():
        path = checkout / name
        source = path.read_text()
        path.write_text(source + "\n# an edit\n")
        assert _planned(checkout, workdir) == planned, name
        path.write_text(source)
    assert _planned(checkout, workdir) == {}

    # training forced to rerun finds its checkpoint finished: reused, and the console says so
    forced = _snakemake(checkout, workdir, "--forcerun", "train")
    assert forced.returncode == 0, forced.stderr[-4000:]
    assert "reused, nothing left to train" in forced.stdout + forced.stderr
