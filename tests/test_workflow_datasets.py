"""The Snakemake workflow on miniature copies of the real datasets and a Union of them: download
from 127.0.0.1, verify, unpack, index, check, then features, training, tables."""

from __future__ import annotations

import json
import re
import subprocess

import pandas as pd
import pytest
from miniature import ArchiveServer, build_archive
from workflow_runner import REPO, SNAKEMAKE, TINY, run_workflow

pytestmark = pytest.mark.workflow  # every test here runs Snakemake

CHECKSUM = {"mvtec": "sha256", "btad": "sha256", "mvtec3d": "md5", "visa": "sha256"}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("archives")
    archives = {name: build_archive(name, folder) for name in CHECKSUM}
    with ArchiveServer(folder) as server:
        yield server, archives


# The Union's members in the workflow test: the two layouts furthest from the demo's MVTec AD
# one (MVTec 3D-AD's TIFF point clouds and md5 checksum, VisA's split file). Every layout's
# indexing is checked on its miniature in tests/test_layouts.py, BTAD's in the workflow below
# (test_users_own_archive_is_verified_not_downloaded), and the paper's four-member Union is
# planned whole by test_dry_run_of_the_paper_config_plans_every_job.
UNION_MEMBERS = ["mvtec3d", "visa"]


def dataset_specs(server, archives, names):
    specs = {}
    for name in names:
        mini, algorithm = archives[name], CHECKSUM[name]
        specs[name] = {"layout": mini.layout, "url": server.url(mini.archive.name),
                       algorithm: mini.digest(algorithm)}
    specs["union"] = {"layout": "union", "members": list(names)}
    return specs


def manifest_counts(path) -> dict[tuple[str, int], int]:
    """(split, label) -> number of images of a manifest."""
    manifest = pd.read_csv(path, dtype=str, keep_default_na=False)
    return {(split, int(label)): n
            for (split, label), n in manifest.groupby(["split", "label"]).size().items()}


def test_union_of_miniature_datasets_through_to_tables(tmp_path, served):
    server, archives = served
    config = {**TINY, "seeds": [0], "datasets": dataset_specs(server, archives, UNION_MEMBERS),
              "train": {**TINY["train"], "snapshot_every": 0}}
    # The union's table: every member downloaded, indexed and extracted, the union trained and
    # scored (the members' own training and figures are the demo run's code paths).
    result = run_workflow(tmp_path, config, "results/tables/union.csv")
    assert result.returncode == 0, result.stderr[-4000:]
    members = {name: archives[name] for name in UNION_MEMBERS}
    for name, mini in members.items():
        assert manifest_counts(tmp_path / f"results/{name}/manifest.csv") == dict(
            pd.Series(mini.counts)), name
    union = pd.read_csv(tmp_path / "results/union/manifest.csv", dtype=str, keep_default_na=False)
    assert len(union) == sum(sum(m.counts.values()) for m in members.values())
    assert all("/" in category for category in union["category"])
    metrics = json.loads((tmp_path / "results/union/seed0/metrics.json").read_text())
    assert set(metrics["categories"]) == set(union["category"])
    table = pd.read_csv(tmp_path / "results/tables/union.csv", dtype={"category": str})
    assert set(table["category"]) == set(union["category"]) | {"mean"}
    assert "paper_image_auroc" in table.columns  # the paper's Union numbers beside ours


def test_failing_mirrors_stop_the_run_with_one_message_on_the_console(tmp_path, served):
    """Every URL fails (a missing file, then a wrong checksum): the console lists both, with the
    remedy, and nothing after the download starts."""
    server, archives = served
    specs = dataset_specs(server, archives, ["mvtec"])
    specs.pop("union")
    missing = server.url("moved/mvtec_anomaly_detection.tar.xz")
    specs["mvtec"]["urls"] = [missing, specs["mvtec"].pop("url")]
    specs["mvtec"]["sha256"] = "0" * 64
    result = run_workflow(tmp_path, {**TINY, "seeds": [0], "datasets": specs})
    assert result.returncode != 0
    console = result.stdout + result.stderr
    assert f"  1. {missing}: HTTP 404 File not found" in console
    assert f"  2. {specs['mvtec']['urls'][1]}: sha256 checksum mismatch: expected {'0' * 64}" \
        in console
    assert "add this line under datasets.mvtec in your config" in console
    assert "    archive: /path/to/mvtec_anomaly_detection.tar.xz" in console
    # The archive's name comes from the first URL; the wrong file is kept for inspection.
    log = (tmp_path / "results/logs/download/mvtec_mvtec_anomaly_detection.tar.xz.log").read_text()
    assert "checksum mismatch" in log and missing in log
    assert (tmp_path / "resources/archives/mvtec/mvtec_anomaly_detection.tar.xz.2.bad").is_file()
    assert not (tmp_path / "results/mvtec").exists()


def test_dry_run_of_the_paper_config_plans_every_job(tmp_path):
    """`snakemake -n` on the shipped config/config.yaml: every rule but the demo generator, the
    on-demand README rewrite and the MVTec AD 2 export is planned, per dataset, with the archives
    named by the URLs."""
    command = [*SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
               "--configfile", str(REPO / "config/config.yaml")]
    rules = subprocess.run([*command, "--list-rules"], capture_output=True, text=True,
                           check=True).stdout.split("\n")
    result = subprocess.run([*command, "--cores", "8", "--resources", "gpu=1", "--dry-run"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    stats = result.stdout[result.stdout.index("Job stats:"):].split("\n\n")[0]
    planned = dict(re.findall(r"^(\w+)\s+(\d+)$", stats, re.MULTILINE))
    planned.pop("total")
    every_rule = {line.split()[0] for line in rules if line.strip()}
    assert set(planned) == every_rule - {"demo_dataset", "readme", "export_mvtec_ad2"}
    per_dataset = {"download": "4", "unpack": "4", "manifest": "5", "train": "5", "evaluate": "5",
                   "table": "5", "summary": "1", "all": "1"}
    assert {rule: planned[rule] for rule in per_dataset} == per_dataset
    downloads = dict(re.findall(r"wildcards: dataset=(\w+), filename=(\S+)", result.stdout))
    assert downloads == {"mvtec": "mvtec_anomaly_detection.tar.xz", "btad": "btad.zip",
                         "mvtec3d": "mvtec_3d_anomaly_detection.tar.xz",
                         "visa": "VisA_20220922.tar"}
    assert not (tmp_path / "results").exists() and not (tmp_path / "resources").exists()


def test_users_own_archive_is_verified_not_downloaded(tmp_path, served):
    server, archives = served
    mini = archives["btad"]
    spec = {"layout": "btad", "archive": str(mini.archive), "sha256": mini.digest("sha256")}
    before = server.gets
    result = run_workflow(tmp_path, {**TINY, "seeds": [0], "datasets": {"btad": spec}},
                          "--until", "manifest")
    assert result.returncode == 0, result.stderr[-4000:]
    assert server.gets == before
    assert manifest_counts(tmp_path / "results/btad/manifest.csv") == dict(
        pd.Series(mini.counts))
