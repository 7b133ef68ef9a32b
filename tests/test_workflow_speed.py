"""bench/workflow_speed.py's arithmetic: Snakemake benchmark files read, the slope between two
run lengths, the projection to the paper's schedule and the ratios, on files written here."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import workflow_speed  # noqa: E402
from workflow_speed import FULL  # noqa: E402

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _write_benchmark(path: Path, *seconds: float) -> None:
    """A Snakemake benchmark file with one row per repeat."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + "".join(f"{s:.4f}\t0:00:00\t1\t1\t1\t1\t0\t0\t50\t{s}\n"
                                     for s in seconds))


# A workflow whose jobs cost exactly: training 30 s + 4 s per sub-epoch (+ 1.5 s per sub-epoch
# scored in the job), snapshot scoring 5 s + 3 s per snapshot, evaluation 14 s, extraction
# 40 + 27 s.
TRAIN_FIXED, PER_SUB_EPOCH, SCORING, SNAPSHOT_FIXED, PER_SNAPSHOT, EVALUATION = 30, 4, 1.5, 5, 3, 14
EXTRACTION = (40, 27)


def _assert_paper_end_to_end(figures: dict) -> None:
    """The end to end of these costs at 200 sub-epochs with 25 snapshots, against the reference:
    16 inter-class sub-epochs at 31.1 + 25.4 s, 184 intra-class ones at 30.8 + 25.9 s."""
    workflow = 67 + TRAIN_FIXED + EVALUATION + SNAPSHOT_FIXED + 200 * PER_SUB_EPOCH + 25 * 3
    reference = 16 * 56.5 + 184 * 56.7
    assert figures["workflow_s"] == pytest.approx(workflow)
    assert figures["reference_s"] == pytest.approx(reference)
    assert figures["ratio"] == pytest.approx(reference / workflow)


@pytest.fixture
def workdir(tmp_path) -> Path:
    bench = tmp_path / "results" / "benchmarks"
    for split, seconds in zip(("train", "test"), EXTRACTION, strict=True):
        _write_benchmark(bench / "extract_features" / f"demo_{split}.tsv", seconds)
    for seed, run in enumerate(workflow_speed.RUNS):
        meta_epochs = FULL.meta_epochs(run)
        sub_epochs = FULL.sub_epochs_of(meta_epochs)
        train = TRAIN_FIXED + PER_SUB_EPOCH * sub_epochs
        if run == "scored":
            train += SCORING * sub_epochs
        else:
            _write_benchmark(bench / "evaluate_snapshots" / f"demo_seed{seed}.tsv",
                             SNAPSHOT_FIXED + PER_SNAPSHOT * FULL.snapshots_of(meta_epochs))
        _write_benchmark(bench / "train" / f"demo_seed{seed}.tsv", train)
        _write_benchmark(bench / "evaluate" / f"demo_seed{seed}.tsv", EVALUATION)
    return tmp_path


def test_benchmark_file_is_read_as_the_mean_of_its_repeats(tmp_path):
    _write_benchmark(tmp_path / "job.tsv", 2.0, 4.5)
    assert workflow_speed.read_benchmark(tmp_path / "job.tsv") == pytest.approx(3.25)
    (tmp_path / "empty.tsv").write_text(HEADER)
    with pytest.raises(ValueError, match="empty.tsv: no benchmark row"):
        workflow_speed.read_benchmark(tmp_path / "empty.tsv")


def test_jobs_are_named_by_rule_and_wildcards(workdir):
    jobs = workflow_speed.job_seconds(workdir)
    assert jobs["extract_features/demo_test"] == pytest.approx(27)
    assert jobs["train/demo_seed0"] == pytest.approx(TRAIN_FIXED + PER_SUB_EPOCH * 24)
    assert "evaluate_snapshots/demo_seed2" not in jobs  # the scored run scores no snapshot


def test_figures_recover_the_costs_and_project_them_to_the_paper_schedule(workdir):
    report = workflow_speed.figures(workflow_speed.job_seconds(workdir), FULL)
    assert report["measured"] == pytest.approx({
        "extraction_s": 67, "train_fixed_s": TRAIN_FIXED, "train_per_sub_epoch_s": PER_SUB_EPOCH,
        "evaluation_s": EVALUATION, "snapshot_scoring_fixed_s": SNAPSHOT_FIXED,
        "per_snapshot_s": PER_SNAPSHOT})

    _assert_paper_end_to_end(report["projection"])
    per_sub_epoch = PER_SUB_EPOCH + PER_SNAPSHOT / 8
    assert report["phases"]["inter"]["ratio"] == pytest.approx(56.5 / per_sub_epoch)
    assert report["phases"]["intra"]["ratio"] == pytest.approx(56.7 / per_sub_epoch)

    scored = report["every_sub_epoch"]
    assert scored["scoring_per_sub_epoch_s"] == pytest.approx(SCORING)
    seed_with_snapshots = TRAIN_FIXED + 40 * PER_SUB_EPOCH + EVALUATION + SNAPSHOT_FIXED + 5 * 3
    seed_scored = TRAIN_FIXED + 40 * (PER_SUB_EPOCH + SCORING) + EVALUATION
    assert scored["measured_ratio"] == pytest.approx(seed_scored / seed_with_snapshots)
    assert scored["projected_ratio"] == pytest.approx(
        (TRAIN_FIXED + 200 * (PER_SUB_EPOCH + SCORING) + EVALUATION)
        / (TRAIN_FIXED + 200 * PER_SUB_EPOCH + EVALUATION + SNAPSHOT_FIXED + 25 * 3))


def test_report_reads_as_a_table_with_its_provenance(workdir):
    jobs = workflow_speed.job_seconds(workdir)
    report = {"date": "2026-12-07 01:00 UTC", "commit": "abc1234",
              "machine": {"cpu": "AMD EPYC", "cores": 2, "load_average": (0.1, 0.1, 0.1)},
              "cores": 2, "load_average_after": (0.2, 0.1, 0.1),
              **workflow_speed.figures(jobs, FULL)}
    text = workflow_speed.markdown(report)
    assert "commit abc1234, AMD EPYC, 2 cores used" in text
    assert "| training, per sub-epoch (slope, intra-class phase) | 4.00 |" in text
    assert f"**{report['projection']['ratio']:.1f}x**" in text


def test_the_paper_length_run_is_the_sum_of_its_jobs(tmp_path):
    """``--paper-length``: one run of 200 sub-epochs (25 meta-epochs of 8, a snapshot every 8),
    whose jobs' seconds add up to the end to end that the shorter runs only project."""
    config = workflow_speed.run_config(FULL, workflow_speed.PAPER_RUN)
    assert config["seeds"] == [0]
    assert {key: config["train"][key] for key in ("meta_epochs", "sub_epochs", "snapshot_every",
                                                  "score_every_sub_epoch")} == {
        "meta_epochs": 25, "sub_epochs": 8, "snapshot_every": 8, "score_every_sub_epoch": False}

    bench = tmp_path / "results" / "benchmarks"
    for split, seconds in zip(("train", "test"), EXTRACTION, strict=True):
        _write_benchmark(bench / "extract_features" / f"demo_{split}.tsv", seconds)
    _write_benchmark(bench / "train" / "demo_seed0.tsv", TRAIN_FIXED + PER_SUB_EPOCH * 200)
    _write_benchmark(bench / "evaluate" / "demo_seed0.tsv", EVALUATION)
    _write_benchmark(bench / "evaluate_snapshots" / "demo_seed0.tsv",
                     SNAPSHOT_FIXED + PER_SNAPSHOT * 25)
    report = workflow_speed.paper_run_figures(workflow_speed.job_seconds(tmp_path))
    run = report["paper_run"]
    _assert_paper_end_to_end(run)
    assert report["measured"]["train_s"] == pytest.approx(TRAIN_FIXED + PER_SUB_EPOCH * 200)

    text = workflow_speed.paper_run_markdown({
        "date": "2026-12-07 08:00 UTC", "commit": "abc1234",
        "machine": {"cpu": "AMD EPYC", "cores": 2, "load_average": (0.1, 0.1, 0.1)},
        "cores": 2, "load_average_after": (0.2, 0.1, 0.1), **report})
    assert "| training, 200 sub-epochs | 830.0 |" in text
    assert f"**{run['ratio']:.1f}x**" in text
