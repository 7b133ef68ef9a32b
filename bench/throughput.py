"""Throughput of extraction, training and evaluation on one device, and a CPU/CUDA comparison.

    python bench/throughput.py bench --workdir results/gpu_check/cuda --device cuda
    python bench/throughput.py compare results/gpu_check/cpu results/gpu_check/cuda

``bench`` reuses a finished demo run (its manifest and feature caches, in ``--workdir``) and times,
on ``--device``, with the settings of ``--config``:
- extraction: the training split through the pipeline (image loading included), and the backbone
  alone on a resident batch (GPU compute only);
- training: ``--meta-epochs`` meta-epochs of the schedule (iterations: one batch of every level);
- evaluation: the test split (anomaly maps and every metric).
Outputs go to a temporary folder; the figures are printed and written to ``--json``.

``compare`` checks that two runs of the same configuration (CPU and CUDA) agree: image and pixel
AUROC per category and their mean within ``--tolerance`` (absolute). Exit status 1 otherwise.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

CHECKED = ("image_auroc", "pixel_auroc")


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(device, function, *args, **kwargs) -> tuple[object, float]:
    _sync(device)
    start = time.perf_counter()
    result = function(*args, **kwargs)
    _sync(device)
    return result, time.perf_counter() - start


def _backbone_rate(settings, device, repeats: int = 10) -> float:
    """Images per second of the backbone alone (every level) on a batch already on the device."""
    import torch

    from hgad.features.backbone import create_backbone
    from hgad.features.extract import multiscale_features

    fs = settings.features
    backbone = create_backbone(fs.backbone, fs.weights, fs.out_index).to(device)
    images = torch.randn(fs.batch_size, 3, fs.img_size, fs.img_size, device=device)
    with torch.inference_mode():
        multiscale_features(backbone, images, fs.levels)  # warm-up (cuDNN autotuning, caches)
        _, seconds = _timed(device, lambda: [multiscale_features(backbone, images, fs.levels)
                                             for _ in range(repeats)])
    return repeats * fs.batch_size / seconds


def bench(args) -> dict:
    import torch

    from hgad.config import load_config, settings_from_config
    from hgad.data.manifest import read_manifest, select_split
    from hgad.device import resolve_device
    from hgad.evaluate import evaluate
    from hgad.features.extract import extract_features
    from hgad.train import train

    config = load_config(args.config)
    config["device"] = args.device
    settings = settings_from_config(config)
    if args.meta_epochs:
        train_settings = dataclasses.replace(settings.train, meta_epochs=args.meta_epochs)
        settings = dataclasses.replace(settings, train=train_settings)
    device = resolve_device(args.device)
    torch.set_num_threads(min(os.cpu_count() or 1, 8))  # as the workflow's torch jobs
    run = Path(args.workdir) / "results" / args.dataset
    manifest = run / "manifest.csv"
    frame = read_manifest(manifest)
    n_train, n_test = len(select_split(frame, "train")), len(select_split(frame, "test"))
    torch.zeros(1, device=device).sum().item()  # CUDA context outside the timings
    figures = {"device": str(device), "torch": torch.__version__, "config": str(args.config),
               "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None}
    with tempfile.TemporaryDirectory(prefix="hgad-throughput-") as tmp:
        tmp = Path(tmp)
        _, seconds = _timed(device, extract_features, manifest, "train", tmp / "features_train",
                            settings.features, device)
        figures["extract_images"] = n_train
        figures["extract_s"] = seconds
        figures["extract_img_per_s"] = n_train / seconds
        figures["backbone_img_per_s"] = _backbone_rate(settings, device)

        tr = settings.train
        iterations = math.ceil(n_train / tr.batch_size) * tr.sub_epochs * tr.meta_epochs
        model = tmp / "seed0" / "model.pt"
        _, seconds = _timed(device, train, run / "features" / "train", manifest, model,
                            tmp / "seed0" / "train_log.csv", tmp / "seed0" / "checkpoints",
                            settings, 0, device)
        figures["train_iterations"] = iterations
        figures["train_s"] = seconds
        figures["train_it_per_s"] = iterations / seconds

        _, seconds = _timed(device, evaluate, model, manifest, run / "features" / "test",
                            tmp / "metrics.json", tmp / "metrics.csv", tmp / "maps", settings,
                            device, train_cache=run / "features" / "train")
        figures["evaluate_images"] = n_test
        figures["evaluate_s"] = seconds
        figures["evaluate_img_per_s"] = n_test / seconds
    if device.type == "cuda":
        figures["peak_gpu_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    print(f"throughput on {figures['device']}" + (f" ({figures['gpu']})" if figures["gpu"] else ""))
    print(f"  extraction  {figures['extract_img_per_s']:9.1f} img/s  ({n_train} images, "
          f"{figures['extract_s']:.1f} s: the whole call, weights and image loading included)")
    print(f"  backbone    {figures['backbone_img_per_s']:9.1f} img/s  (batch on the device)")
    print(f"  training    {figures['train_it_per_s']:9.2f} it/s   ({iterations} iterations of "
          f"{settings.features.levels} levels, {figures['train_s']:.1f} s)")
    print(f"  evaluation  {figures['evaluate_img_per_s']:9.1f} img/s  ({n_test} images, "
          f"{figures['evaluate_s']:.1f} s, metrics included)")
    if "peak_gpu_memory_gib" in figures:
        print(f"  peak GPU memory {figures['peak_gpu_memory_gib']:.2f} GiB")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return figures


def _metrics(workdir: Path, dataset: str) -> dict[str, dict]:
    """seed -> metrics.json content of every seed of a finished run."""
    seeds = sorted((workdir / "results" / dataset).glob("seed*/metrics.json"))
    if not seeds:
        raise SystemExit(f"no results/{dataset}/seed*/metrics.json in {workdir}")
    return {path.parent.name: json.loads(path.read_text()) for path in seeds}


def compare(args) -> int:
    a, b = _metrics(Path(args.a), args.dataset), _metrics(Path(args.b), args.dataset)
    if a.keys() != b.keys():
        print(f"different seeds: {sorted(a)} vs {sorted(b)}")
        return 1
    print(f"{'seed':6} {'category':12} {'metric':12} {'A':>8} {'B':>8} {'|diff|':>8}")
    failures, largest = 0, 0.0
    for seed in a:
        rows = {**a[seed]["categories"], "mean": a[seed]["mean"]}
        other = {**b[seed]["categories"], "mean": b[seed]["mean"]}
        for category, values in rows.items():
            for metric in CHECKED:
                x, y = values[metric], other[category][metric]
                diff = abs(x - y)
                largest = max(largest, diff)
                bad = not diff <= args.tolerance
                failures += bad
                print(f"{seed:6} {category:12} {metric:12} {x:8.4f} {y:8.4f} {diff:8.4f}"
                      + ("  MISMATCH" if bad else ""))
    verdict = "MISMATCH" if failures else "OK"
    print(f"{verdict}: largest AUROC difference {largest:.4f} (tolerance {args.tolerance}); "
          f"A = {args.a}, B = {args.b}")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    b = commands.add_parser("bench", help="time extraction, training and evaluation")
    b.add_argument("--workdir", required=True, help="a finished demo run (snakemake --directory)")
    b.add_argument("--config", default="config/demo.yaml")
    b.add_argument("--device", default="cuda")
    b.add_argument("--dataset", default="demo")
    b.add_argument("--meta-epochs", type=int, default=1,
                   help="meta-epochs to train (0: the config's)")
    b.add_argument("--json", help="write the figures here")
    c = commands.add_parser("compare", help="compare the AUROCs of two runs")
    c.add_argument("a", help="first run's folder (e.g. the CPU run)")
    c.add_argument("b", help="second run's folder (e.g. the CUDA run)")
    c.add_argument("--dataset", default="demo")
    c.add_argument("--tolerance", type=float, default=0.02)
    args = parser.parse_args(argv)
    if args.command == "bench":
        bench(args)
        return 0
    return compare(args)


if __name__ == "__main__":
    sys.exit(main())
