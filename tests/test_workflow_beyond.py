"""The workflow on miniature MVTec AD 2 (downloaded from 127.0.0.1, the transfer cut and
resumed) and Real-IAD (by root), with config/beyond.yaml's dataset settings: manifests with the
validation split, AU-PRO at 0.05 and 0.3, SegF1, tables, report, and the server export, whose
format check passes."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from miniature import ArchiveServer, build_archive, write_realiad
from report_contents import decode_data_uri, embedded, snakemake_report
from workflow_runner import REPO, TINY, run_workflow

from hgad.cli import main


@pytest.mark.workflow
def test_mvtec_ad2_and_realiad_through_to_tables_and_export(tmp_path):
    shipped = yaml.safe_load((REPO / "config/beyond.yaml").read_text())
    archives = tmp_path / "archives"
    archives.mkdir()
    mini = build_archive("mvtec_ad2", archives)
    realiad = tmp_path / "realiad"
    write_realiad(realiad)
    with ArchiveServer(archives) as server:
        size = mini.archive.stat().st_size
        server.cut_next(size // 2)
        datasets = {
            "mvtec_ad2": {**shipped["datasets"]["mvtec_ad2"],
                          "urls": [server.url(mini.archive.name)],
                          "sha256": mini.digest("sha256")},
            "realiad": {**shipped["datasets"]["realiad"], "root": str(realiad)},
        }
        evaluate = {**TINY["evaluate"], **{key: shipped["evaluate"][key]
                                           for key in ("aupro_limits", "normalization")}}
        config = {**TINY, "seeds": [0], "datasets": datasets, "evaluate": evaluate,
                  "features": {**TINY["features"], "resize": shipped["features"]["resize"]}}
        workdir = tmp_path / "run"
        workdir.mkdir()
        # what the assertions below read, no plots or summaries
        tables = [f"results/tables/{name}_all_metrics.html" for name in datasets]
        result = run_workflow(workdir, config, *tables, "results/mvtec_ad2/seed0/submission")
        assert result.returncode == 0, result.stderr[-4000:]
        assert server.ranged == [size // 2]  # the cut transfer was resumed, not restarted
    manifest = pd.read_csv(workdir / "results/mvtec_ad2/manifest.csv")
    assert manifest.groupby("split").size().to_dict() == {"test": 8, "train": 6, "validation": 4}
    ad2 = json.loads((workdir / "results/mvtec_ad2/seed0/metrics.json").read_text())
    iad = json.loads((workdir / "results/realiad/seed0/metrics.json").read_text())
    for metrics in (ad2["mean"], iad["mean"]):
        assert {"image_auroc", "pixel_aupro", "pixel_aupro_0.05"} <= set(metrics)
    assert "pixel_seg_f1" in ad2["mean"] and "pixel_seg_f1" not in iad["mean"]
    table = (workdir / "results/tables/mvtec_ad2_all_metrics.md").read_text()
    assert "Pixel AUPRO 0.05" in table and "Pixel Seg F1" in table
    report = tmp_path / "report.html"
    made = snakemake_report(workdir, report, *tables)
    assert made.returncode == 0, made.stderr[-4000:]
    items = embedded(report.read_text(encoding="utf-8"), "results")
    for name, table in zip(datasets, tables, strict=True):
        page = decode_data_uri(items[table]["data_uri"])
        assert "<table>" in page and "Pixel AUPRO 0.05" in page, name
        assert ("Pixel Seg F1" in page) == (name == "mvtec_ad2"), name
    submission = workdir / "results/mvtec_ad2/seed0/submission"
    main(["check-mvtec-ad2-export", "--root", str(workdir / "resources/datasets/mvtec_ad2"),
          str(submission)])
    assert not (workdir / "results/realiad/seed0/submission").exists()
