"""The Snakemake workflow on miniature copies of the four real datasets and their Union:
download from 127.0.0.1, verify, unpack, index, check, then features, training, tables."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from miniature import ArchiveServer, build_archive
from workflow_runner import TINY, run_workflow

CHECKSUM = {"mvtec": "sha256", "btad": "sha256", "mvtec3d": "md5", "visa": "sha256"}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("archives")
    archives = {name: build_archive(name, folder) for name in CHECKSUM}
    with ArchiveServer(folder) as server:
        yield server, archives


def dataset_specs(server, archives):
    specs = {}
    for name, mini in archives.items():
        algorithm = CHECKSUM[name]
        specs[name] = {"layout": mini.layout, "url": server.url(mini.archive.name),
                       algorithm: mini.digest(algorithm)}
    specs["union"] = {"layout": "union", "members": list(archives)}
    return specs


@pytest.mark.workflow
def test_union_of_four_miniature_datasets_through_to_tables(tmp_path, served):
    server, archives = served
    config = {**TINY, "seeds": [0], "datasets": dataset_specs(server, archives)}
    result = run_workflow(tmp_path, config)
    assert result.returncode == 0, result.stderr[-4000:]
    for name, mini in archives.items():
        manifest = pd.read_csv(tmp_path / f"results/{name}/manifest.csv", dtype=str,
                               keep_default_na=False)
        counts = manifest.groupby(["split", "label"]).size()
        expected = pd.Series(mini.counts)
        assert {(s, int(lab)): n for (s, lab), n in counts.items()} == dict(expected), name
    union = pd.read_csv(tmp_path / "results/union/manifest.csv", dtype=str, keep_default_na=False)
    assert len(union) == sum(sum(m.counts.values()) for m in archives.values())
    assert all("/" in category for category in union["category"])
    metrics = json.loads((tmp_path / "results/union/seed0/metrics.json").read_text())
    assert set(metrics["categories"]) == set(union["category"])
    table = pd.read_csv(tmp_path / "results/tables/union.csv", dtype={"category": str})
    assert set(table["category"]) == set(union["category"]) | {"mean"}
    assert "paper_image_auroc" in table.columns  # the paper's Union numbers beside ours


def test_checksum_mismatch_stops_before_extraction(tmp_path, served):
    server, archives = served
    specs = dataset_specs(server, {"mvtec": archives["mvtec"]})
    specs.pop("union")
    specs["mvtec"]["sha256"] = "0" * 64
    result = run_workflow(tmp_path, {**TINY, "seeds": [0], "datasets": specs})
    assert result.returncode != 0
    log = (tmp_path / "results/logs/download/mvtec_mvtec_anomaly_detection.tar.xz.log").read_text()
    assert "checksum mismatch" in log and "0" * 64 in log
    assert (tmp_path / "resources/archives/mvtec/mvtec_anomaly_detection.tar.xz.bad").is_file()
    assert not (tmp_path / "results/mvtec/features").exists()


def test_users_own_archive_is_verified_not_downloaded(tmp_path, served):
    server, archives = served
    mini = archives["btad"]
    spec = {"layout": "btad", "archive": str(mini.archive), "sha256": mini.digest("sha256")}
    before = server.gets
    result = run_workflow(tmp_path, {**TINY, "seeds": [0], "datasets": {"btad": spec}},
                          "--until", "manifest")
    assert result.returncode == 0, result.stderr[-4000:]
    assert server.gets == before
    assert (tmp_path / "results/btad/manifest.csv").is_file()
