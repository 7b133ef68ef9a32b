"""The workflow's speed on the reference's benchmark shape, from the runs' own benchmark files.

    python bench/workflow_speed.py --out results/workflow_speed

Generates the demo's textures as a set of 4 categories with 200 training and 200 test images at
384 px (50 + 50 per category), and runs the workflow (``snakemake --cores``) on it with the
``demo`` preset (tf_efficientnet_lite0, 4 coupling layers, batch 8, bf16 flows) three times in one
work folder, each run its own seed, all sharing the dataset and its feature caches:

- ``short`` and ``long``: the paper's schedule shape (8 sub-epochs per meta-epoch, a checkpoint
  every meta-epoch, a snapshot every 8 sub-epochs scored by ``evaluate_snapshots``) over
  :data:`FULL`'s two run lengths, both past the inter-class phase, so that the difference of their
  training times over the difference of their lengths is the cost of one intra-class-phase
  sub-epoch (the slope; the rest is the job's fixed cost, its intercept);
- ``scored``: the ``long`` run with ``train.score_every_sub_epoch`` (the test set scored in the
  training job after every sub-epoch, no snapshots).

From each job's ``results/benchmarks/**.tsv`` (Snakemake's ``s`` column) it derives extraction,
training per sub-epoch, evaluation, the scoring of one snapshot, their projection to the paper's
200 sub-epochs with a snapshot every 8, the ratio against the reference's measured costs phase by
phase (:data:`REFERENCE`), and the time of a seed scored after every sub-epoch against the same
seed with a snapshot every 8. It prints them, and writes them as ``--out``/workflow_speed.json
and ``--out``/workflow_speed.md with the commit, the date, the CPU and the load average.
``--tiny`` runs a small set and a 2 + 4 sub-epoch schedule: a check that the script works, not
a measurement.

``--paper-length`` instead runs the workflow once at the paper's length (200 sub-epochs, 8 per
meta-epoch, a snapshot every 8 scored by ``evaluate_snapshots``): the end to end is then the sum
of its jobs' benchmark files, measured rather than projected, against the reference's cost of the
same 200 sub-epochs phase by phase. At that length the preset's ``train.compile: auto`` compiles
the flows; the shorter runs above stay eager.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DATASET = "demo"
FIGURES = "workflow_speed"  # the figures' file names in --out, without their suffix

# The authors' code (github.com/xcyao00/HGAD at fb935ef, unchanged; its hard-coded CUDA device
# mapped to the CPU from outside it) on 2 cores of the machine the workflow figures come from,
# 2026-12-07, on this shape with timm 0.6.7 as it pins: per sub-epoch, training + test evaluation
# of the set's 4 categories, the mean of 4 sub-epochs in meta-epochs 0-1 (only the inter-class
# loss; 16 of the paper's 200 sub-epochs) and of 2 from meta-epoch 2 on (the intra-class loss
# joins; 184). Its evaluation also scores its other 11 MVTec class names, placeholders here
# (6 to 8 s per sub-epoch more), not counted.
REFERENCE = {
    "inter": {"training_s": 31.1, "test_evaluation_s": 25.4},
    "intra": {"training_s": 30.8, "test_evaluation_s": 25.9},
}
REFERENCE_SOURCE = ("the authors' code (xcyao00/HGAD at fb935ef, its CUDA device mapped to the "
                    "CPU) on 2 cores of this machine, 2026-12-07, on this shape: means of 4 "
                    "inter-class and 2 intra-class sub-epochs, test evaluation of the 4 categories")


@dataclass(frozen=True)
class Paper:
    """The paper's schedule the figures are projected to."""

    sub_epochs: int = 200
    inter_sub_epochs: int = 16  # meta-epochs 0 and 1 of 8 sub-epochs: the inter-class phase
    snapshot_every: int = 8

    @property
    def snapshots(self) -> int:
        return self.sub_epochs // self.snapshot_every

    @property
    def phases(self) -> dict[str, int]:
        """Sub-epochs of each loss phase, keyed as :data:`REFERENCE`."""
        return {"inter": self.inter_sub_epochs, "intra": self.sub_epochs - self.inter_sub_epochs}


PAPER = Paper()


@dataclass(frozen=True)
class Shape:
    """A benchmark set and the two run lengths (in meta-epochs) its slope is measured between."""

    demo: dict  # the workflow's `demo` settings (generated set)
    img_size: int
    msk_size: int
    sub_epochs: int  # per meta-epoch
    snapshot_every: int
    intra_start_epoch: int
    short_meta_epochs: int
    long_meta_epochs: int

    def meta_epochs(self, run: str) -> int:
        """The length of a run of :data:`RUNS`: the ``short`` one, or the ``long`` one (which
        ``scored`` repeats); or of the :data:`PAPER_RUN`, the paper's 200 sub-epochs."""
        if run == PAPER_RUN:
            return PAPER.sub_epochs // self.sub_epochs
        return self.short_meta_epochs if run == "short" else self.long_meta_epochs

    def sub_epochs_of(self, meta_epochs: int) -> int:
        return meta_epochs * self.sub_epochs

    def snapshots_of(self, meta_epochs: int) -> int:
        return self.sub_epochs_of(meta_epochs) // self.snapshot_every


# 4 categories x (50 training, 10 good + 4 defects x 10 test images) = 200 + 200, at 384 px.
FULL = Shape(demo={"categories": ["brick", "grass", "gravel", "moon"], "image_size": 384,
                   "n_train": 50, "n_test_good": 10, "n_test_per_defect": 10},
             img_size=384, msk_size=256, sub_epochs=8, snapshot_every=8, intra_start_epoch=2,
             short_meta_epochs=3, long_meta_epochs=5)
TINY = Shape(demo={"categories": ["brick", "grass", "gravel", "moon"], "image_size": 64,
                   "n_train": 4, "n_test_good": 1, "n_test_per_defect": 1},
             img_size=64, msk_size=32, sub_epochs=2, snapshot_every=2, intra_start_epoch=1,
             short_meta_epochs=1, long_meta_epochs=2)

RUNS = ("short", "long", "scored")
PAPER_RUN = "paper"  # --paper-length's one run


def seed_of(run: str) -> int:
    """A run's seed: its index in :data:`RUNS`; 0 for the :data:`PAPER_RUN`."""
    return 0 if run == PAPER_RUN else RUNS.index(run)


def run_config(shape: Shape, run: str) -> dict:
    """The workflow configuration of one run (seed: :func:`seed_of`)."""
    scored = run == "scored"
    return {
        "preset": "demo",
        "datasets": {DATASET: {"layout": "mvtec", "generate": "demo"}},
        "seeds": [seed_of(run)],
        "device": "cpu",
        "demo": {"seed": 0, **shape.demo},
        "features": {"img_size": shape.img_size},
        "train": {"batch_size": 8, "meta_epochs": shape.meta_epochs(run),
                  "sub_epochs": shape.sub_epochs,
                  "intra_start_epoch": shape.intra_start_epoch, "lr_warm_epochs": 1,
                  "snapshot_every": 0 if scored else shape.snapshot_every,
                  "score_every_sub_epoch": scored},
        "evaluate": {"msk_size": shape.msk_size},
        "baselines": [],
    }


def read_benchmark(path: Path) -> float:
    """Seconds of a Snakemake benchmark file (its ``s`` column; the mean over repeats)."""
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file, delimiter="\t"))
    if not rows:
        raise ValueError(f"{path}: no benchmark row")
    return sum(float(row["s"]) for row in rows) / len(rows)


def job_seconds(workdir: Path) -> dict[str, float]:
    """{"rule/wildcards": seconds} of every benchmark file under ``workdir``/results/benchmarks."""
    root = workdir / "results" / "benchmarks"
    return {path.relative_to(root).with_suffix("").as_posix(): read_benchmark(path)
            for path in sorted(root.glob("**/*.tsv"))}


def line_through(x0: float, y0: float, x1: float, y1: float) -> tuple[float, float]:
    """(intercept, slope) of the line through two points."""
    slope = (y1 - y0) / (x1 - x0)
    return y0 - slope * x0, slope


def _reference_per_sub_epoch_s(phase: str) -> float:
    """The reference's training and test evaluation of one sub-epoch of ``phase``."""
    return REFERENCE[phase]["training_s"] + REFERENCE[phase]["test_evaluation_s"]


def _reference_total_s(paper: Paper = PAPER) -> float:
    """The reference's cost of ``paper``'s sub-epochs, phase by phase (:data:`REFERENCE`)."""
    return sum(count * _reference_per_sub_epoch_s(phase) for phase, count in paper.phases.items())


def paper_run_figures(jobs: dict[str, float], paper: Paper = PAPER) -> dict:
    """The end to end of the :data:`PAPER_RUN` (:func:`job_seconds` of its work folder): its
    extraction, training, evaluation and snapshot scoring, their sum, and the reference's cost of
    the same sub-epochs divided by it."""
    seed = seed_of(PAPER_RUN)
    measured = {"extraction_s": sum(seconds for name, seconds in jobs.items()
                                    if name.startswith("extract_features/")),
                **{f"{rule}_s": jobs[f"{rule}/{DATASET}_seed{seed}"]
                   for rule in ("train", "evaluate", "evaluate_snapshots")}}
    workflow = sum(measured.values())
    reference = _reference_total_s(paper)
    return {"measured": measured,
            "paper_run": {"sub_epochs": paper.sub_epochs, "snapshots": paper.snapshots,
                          "workflow_s": workflow, "reference_s": reference,
                          "ratio": reference / workflow}}


def figures(jobs: dict[str, float], shape: Shape, paper: Paper = PAPER) -> dict:
    """Every figure of the benchmark from the jobs' seconds (:func:`job_seconds` of the work
    folder of the three runs)."""
    def job(rule: str, run: str) -> float:
        return jobs[f"{rule}/{DATASET}_seed{seed_of(run)}"]

    lengths = {run: shape.meta_epochs(run) for run in RUNS}
    train_fixed, train_per_sub_epoch = line_through(
        shape.sub_epochs_of(lengths["short"]), job("train", "short"),
        shape.sub_epochs_of(lengths["long"]), job("train", "long"))
    snapshot_fixed, per_snapshot = line_through(
        shape.snapshots_of(lengths["short"]), job("evaluate_snapshots", "short"),
        shape.snapshots_of(lengths["long"]), job("evaluate_snapshots", "long"))
    extraction = sum(seconds for name, seconds in jobs.items()
                     if name.startswith("extract_features/"))
    evaluation = job("evaluate", "long")
    measured = {"extraction_s": extraction, "train_fixed_s": train_fixed,
                "train_per_sub_epoch_s": train_per_sub_epoch, "evaluation_s": evaluation,
                "snapshot_scoring_fixed_s": snapshot_fixed, "per_snapshot_s": per_snapshot}

    # The workflow's slope stands for both phases: the inter-class phase leaves the intra-class
    # loss out, so it costs no more per sub-epoch.
    workflow_per_sub_epoch = train_per_sub_epoch + per_snapshot / paper.snapshot_every
    phases = {}
    for phase, count in paper.phases.items():
        reference = _reference_per_sub_epoch_s(phase)
        phases[phase] = {"sub_epochs": count, "reference_per_sub_epoch_s": reference,
                         "workflow_per_sub_epoch_s": workflow_per_sub_epoch,
                         "ratio": reference / workflow_per_sub_epoch}
    fixed = extraction + train_fixed + evaluation + snapshot_fixed
    workflow_total = (fixed + paper.sub_epochs * train_per_sub_epoch
                      + paper.snapshots * per_snapshot)
    reference_total = _reference_total_s(paper)
    projection = {"sub_epochs": paper.sub_epochs, "snapshots": paper.snapshots,
                  "workflow_s": workflow_total, "workflow_fixed_s": fixed,
                  "reference_s": reference_total, "ratio": reference_total / workflow_total}

    # A seed's own jobs (extraction is shared by every seed and the same either way).
    long_sub_epochs = shape.sub_epochs_of(lengths["long"])
    with_snapshots = (job("train", "long") + job("evaluate_snapshots", "long")
                      + job("evaluate", "long"))
    scored = job("train", "scored") + job("evaluate", "scored")
    scoring_per_sub_epoch = (job("train", "scored") - job("train", "long")) / long_sub_epochs
    scored_projected = (train_fixed + paper.sub_epochs * (train_per_sub_epoch
                                                          + scoring_per_sub_epoch)
                        + job("evaluate", "scored"))
    snapshots_projected = (train_fixed + paper.sub_epochs * train_per_sub_epoch + evaluation
                           + snapshot_fixed + paper.snapshots * per_snapshot)
    every_sub_epoch = {
        "snapshot_every": shape.snapshot_every, "measured_sub_epochs": long_sub_epochs,
        "measured_with_snapshots_s": with_snapshots, "measured_scored_s": scored,
        "measured_ratio": scored / with_snapshots,
        "scoring_per_sub_epoch_s": scoring_per_sub_epoch,
        "projected_with_snapshots_s": snapshots_projected, "projected_scored_s": scored_projected,
        "projected_ratio": scored_projected / snapshots_projected,
    }
    return {"measured": measured, "phases": phases, "projection": projection,
            "every_sub_epoch": every_sub_epoch}


def machine() -> dict:
    """CPU model, cores and load average of this machine."""
    cpuinfo = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip()
             for line in (cpuinfo.read_text().splitlines() if cpuinfo.exists() else [])
             if line.startswith("model name")]
    return {"cpu": names[0] if names else platform.processor() or "unknown",
            "cores": os.cpu_count(), "load_average": os.getloadavg()}


def _provenance(report: dict) -> str:
    host = report["machine"]
    return (f"Run {report['date']}, commit {report['commit']}, {host['cpu']}, {report['cores']} "
            f"cores used ({host['cores']} present), load average before / after "
            f"{host['load_average'][0]:.2f} / {report['load_average_after'][0]:.2f}.")


def paper_run_markdown(report: dict) -> str:
    """The figures of :func:`paper_run_figures` as a markdown table with their provenance."""
    m, p = report["measured"], report["paper_run"]
    return "\n".join([
        _provenance(report),
        "",
        "| job | seconds |",
        "|---|---:|",
        f"| extraction (training and test split) | {m['extraction_s']:.1f} |",
        f"| training, {p['sub_epochs']} sub-epochs | {m['train_s']:.1f} |",
        f"| evaluation | {m['evaluate_s']:.1f} |",
        f"| snapshot scoring, {p['snapshots']} snapshots | {m['evaluate_snapshots_s']:.1f} |",
        "",
        f"At {p['sub_epochs']} sub-epochs, run: workflow {p['workflow_s'] / 60:.1f} min, reference "
        f"{p['reference_s'] / 60:.1f} min: **{p['ratio']:.1f}x**.",
    ]) + "\n"


def markdown(report: dict) -> str:
    """The figures as a markdown table with their provenance."""
    m, p, e = report["measured"], report["projection"], report["every_sub_epoch"]
    lines = [
        _provenance(report),
        "",
        "| figure | seconds |",
        "|---|---:|",
        f"| extraction (training and test split) | {m['extraction_s']:.1f} |",
        "| training, per sub-epoch (slope, intra-class phase) | "
        f"{m['train_per_sub_epoch_s']:.2f} |",
        f"| training, fixed (intercept) | {m['train_fixed_s']:.1f} |",
        f"| evaluation | {m['evaluation_s']:.1f} |",
        f"| snapshot scoring, per snapshot | {m['per_snapshot_s']:.2f} |",
        f"| snapshot scoring, fixed | {m['snapshot_scoring_fixed_s']:.1f} |",
        "",
        "| phase (sub-epochs at 200) | reference per sub-epoch | workflow per sub-epoch | ratio |",
        "|---|---:|---:|---:|",
    ]
    for phase, figure in report["phases"].items():
        lines.append(f"| {phase}-class ({figure['sub_epochs']}) | "
                     f"{figure['reference_per_sub_epoch_s']:.1f} s | "
                     f"{figure['workflow_per_sub_epoch_s']:.2f} s | {figure['ratio']:.1f}x |")
    lines += [
        "",
        f"At {p['sub_epochs']} sub-epochs with {p['snapshots']} snapshots scored: workflow "
        f"{p['workflow_s'] / 60:.1f} min (fixed {p['workflow_fixed_s']:.0f} s), reference "
        f"{p['reference_s'] / 60:.1f} min: **{p['ratio']:.1f}x**.",
        "",
        f"Scored after every sub-epoch against a snapshot every {e['snapshot_every']} (a seed's "
        f"training, evaluation and snapshot scoring): {e['measured_ratio']:.2f}x measured at "
        f"{e['measured_sub_epochs']} sub-epochs ({e['measured_scored_s']:.1f} s against "
        f"{e['measured_with_snapshots_s']:.1f} s), {e['projected_ratio']:.2f}x projected to "
        f"{p['sub_epochs']} ({e['scoring_per_sub_epoch_s']:.2f} s of scoring per sub-epoch).",
    ]
    return "\n".join(lines) + "\n"


def run_workflow(workdir: Path, config: dict, cores: int, log: Path) -> None:
    """One workflow run of ``config``'s seed up to its metrics and snapshot metrics."""
    config_path = workdir / f"config_seed{config['seeds'][0]}.yaml"
    config_path.write_text(yaml.safe_dump(config))
    seed = config["seeds"][0]
    targets = [f"results/{DATASET}/seed{seed}/{name}"
               for name in ("metrics.json", "snapshot_metrics.csv")]
    with open(log, "w") as console:
        done = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile",
                               str(REPO / "Snakefile"), "--directory", str(workdir),
                               "--configfile", str(config_path), "--cores", str(cores),
                               *targets], stdout=console, stderr=subprocess.STDOUT)
    if done.returncode:
        sys.exit(f"workflow run of {config_path} failed (status {done.returncode}); see {log}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--out", type=Path, required=True,
                        help="a new folder: the work folder of the runs, their console logs and "
                             "the figures (workflow_speed.json, and .md: a table)")
    parser.add_argument("--cores", type=int, default=2, help="snakemake --cores (default 2)")
    parser.add_argument("--tiny", action="store_true",
                        help="a small set and a 2 + 4 sub-epoch schedule (a check of the script)")
    parser.add_argument("--paper-length", action="store_true",
                        help="one run of the paper's 200 sub-epochs instead of the three shorter "
                             "ones and their projection")
    args = parser.parse_args(argv)
    from hgad.runtime.provenance import git_commit

    if args.out.exists() and any(args.out.iterdir()):
        sys.exit(f"--out {args.out}: already holds files; give a new folder")
    shape = TINY if args.tiny else FULL
    workdir = args.out / "work"
    workdir.mkdir(parents=True)
    host = machine()
    started = datetime.datetime.now(datetime.UTC)
    runs = (PAPER_RUN,) if args.paper_length else RUNS
    for run in runs:
        print(f"{run} run ...", flush=True)
        run_workflow(workdir, run_config(shape, run), args.cores, args.out / f"{run}.log")
    jobs = job_seconds(workdir)
    report = {"date": started.strftime("%Y-%m-%d %H:%M UTC"), "commit": git_commit(REPO),
              "machine": host, "cores": args.cores, "load_average_after": os.getloadavg(),
              "tiny": args.tiny, "shape": asdict(shape), "paper": asdict(PAPER),
              "reference": REFERENCE, "reference_source": REFERENCE_SOURCE, "jobs_s": jobs,
              **(paper_run_figures(jobs) if args.paper_length else figures(jobs, shape))}
    figures_path = args.out / FIGURES
    figures_path.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    table = (paper_run_markdown if args.paper_length else markdown)(report)
    figures_path.with_suffix(".md").write_text(table)
    print(table, end="")


if __name__ == "__main__":
    main()
