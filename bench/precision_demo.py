"""The demo's AUROC with the features extracted in fp32 and under bf16 autocast, over its seeds.

    python bench/precision_demo.py --out results/precision_demo

Runs the workflow on config/demo.yaml once per extraction precision (``features.precision``),
each in its own work folder under ``--out`` with ``--seeds``, everything else as the demo sets
it; then prints, per precision, each seed's mean image and pixel AUROC over the categories (in
points), their mean over the seeds and the difference bf16 - fp32, and writes them to
``--out``/precision_demo.json. ``--dry-run`` only plans the runs (``snakemake --dry-run``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PRECISIONS = ("fp32", "bf16")
METRICS = ("image_auroc", "pixel_auroc")


def run_config(precision: str, seeds: list[int]) -> dict:
    """config/demo.yaml with ``seeds`` and the extraction in ``precision``."""
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["seeds"] = seeds
    config.setdefault("features", {})["precision"] = precision
    return config


def seed_means(workdir: Path, seeds: list[int]) -> dict[str, list[float]]:
    """{metric: [mean over the categories, in points, of each seed]} of a finished run."""
    means = [json.loads((workdir / "results" / "demo" / f"seed{seed}" / "metrics.json")
                        .read_text())["mean"] for seed in seeds]
    return {metric: [100 * mean[metric] for mean in means] for metric in METRICS}


def comparison(per_precision: dict[str, dict[str, list[float]]]) -> dict:
    """The mean over the seeds per precision and metric, and bf16 - fp32 of each mean."""
    mean = {precision: {metric: sum(values) / len(values) for metric, values in seeds.items()}
            for precision, seeds in per_precision.items()}
    return {"seeds": per_precision, "mean": mean,
            "difference": {metric: mean["bf16"][metric] - mean["fp32"][metric]
                           for metric in METRICS}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--out", type=Path, required=True,
                        help="the folder of the two runs and precision_demo.json")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="training seeds (default 0 1 2)")
    parser.add_argument("--cores", type=int, default=2, help="snakemake --cores (default 2)")
    parser.add_argument("--dry-run", action="store_true", help="plan the runs, run nothing")
    args = parser.parse_args(argv)
    for precision in PRECISIONS:
        workdir = args.out / precision
        workdir.mkdir(parents=True, exist_ok=True)
        config_path = workdir / "config.yaml"
        config_path.write_text(yaml.safe_dump(run_config(precision, args.seeds)))
        print(f"features.precision: {precision} ({workdir})", flush=True)
        done = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile",
                               str(REPO / "Snakefile"), "--directory", str(workdir),
                               "--configfile", str(config_path), "--cores", str(args.cores),
                               *(["--dry-run"] if args.dry_run else []),
                               *(f"results/demo/seed{seed}/metrics.json" for seed in args.seeds)])
        if done.returncode:
            sys.exit(f"workflow run in {workdir} failed (status {done.returncode})")
    if args.dry_run:
        return
    result = comparison({precision: seed_means(args.out / precision, args.seeds)
                         for precision in PRECISIONS})
    (args.out / "precision_demo.json").write_text(json.dumps(result, indent=2) + "\n")
    for metric in METRICS:
        seeds = {precision: ", ".join(f"{value:.2f}" for value in values[metric])
                 for precision, values in result["seeds"].items()}
        print(f"{metric}: fp32 {result['mean']['fp32'][metric]:.2f} (seeds {seeds['fp32']}), "
              f"bf16 {result['mean']['bf16'][metric]:.2f} (seeds {seeds['bf16']}), "
              f"bf16 - fp32 {result['difference'][metric]:+.2f} points")


if __name__ == "__main__":
    main()
