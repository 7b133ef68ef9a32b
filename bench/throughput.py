"""Throughput of extraction, training and evaluation on one device, per precision; AUROC checks.

    python bench/throughput.py bench --workdir results/gpu_check/cuda --device cuda
    python bench/throughput.py compare results/gpu_check/cpu results/gpu_check/cuda

``bench`` reuses a finished demo run (its manifest and feature caches, in ``--workdir``) and times,
on ``--device``, with the settings of ``--config``:
- the matmul peak of the device on the flow's GEMM shape ([B*H*W, D/2 + P] x [D/2 + P, D + 2P],
  the first layer of a coupling subnetwork at level 0), in fp32, bf16 and on CUDA TF32;
- extraction: the training split through the pipeline (image loading included), and the backbone
  alone on a resident batch (GPU compute only), under each precision's autocast;
- for each of ``--precisions``: training, ``--meta-epochs`` (at least 2) meta-epochs of the
  schedule, timed by the last one (positions per second and the estimated FLOP/s of the flows as
  a fraction of that precision's peak; the first meta-epoch's warm-up and what follows training,
  such as the inference record of the model file, are left out); evaluation of the test split
  (anomaly maps and every metric); the scoring of one snapshot (the paper protocol's model
  selection); with ``--compile`` also training with ``train.compile``, timed the same way, and
  the first meta-epoch's extra time (tracing and compiling every level's flow);
- the per-sub-epoch cost of the reference loop (backbone rerun on every training batch, the test
  set scored every sub-epoch, fp32) against this pipeline's (training from the cache, a snapshot
  scored every ``snapshot_every`` sub-epochs), and the end-to-end ratio at ``--sub-epochs``.
Outputs go to a temporary folder; the figures are printed and written to ``--json``.

``compare`` checks that two runs of the same configuration (CPU and CUDA, or two precisions) agree:
image and pixel AUROC per category and their mean within ``--tolerance`` (absolute). Exit status
1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
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


def _backbone_rate(settings, device, precision: str, repeats: int) -> float:
    """Images per second of the backbone alone (every level) on a batch already on the device,
    timed over ``repeats`` passes."""
    import torch

    from hgad.features.backbone import create_backbone
    from hgad.features.extract import multiscale_features
    from hgad.runtime.device import precision_autocast

    fs = settings.features
    backbone = create_backbone(fs.backbone, fs.weights, fs.out_index, precision).to(device)
    images = torch.randn(fs.batch_size, 3, fs.img_size, fs.img_size, device=device)
    with torch.inference_mode(), precision_autocast(device, precision):
        multiscale_features(backbone, images, fs.levels)  # warm-up (cuDNN autotuning, caches)
        _, seconds = _timed(device, lambda: [multiscale_features(backbone, images, fs.levels)
                                             for _ in range(repeats)])
    return repeats * fs.batch_size / seconds


def _gemm_peak(shape: tuple[int, int, int], dtype, device, tf32: bool = False,
               seconds: float = 1.0) -> float:
    """FLOP/s of [M, K] x [K, N] matmuls in ``dtype`` (TF32 tensor cores if ``tf32``)."""
    import torch

    from hgad.runtime.device import float32_matmuls

    m, k, n = shape
    a = torch.randn(m, k, device=device, dtype=dtype)
    b = torch.randn(k, n, device=device, dtype=dtype)
    with float32_matmuls(device, tf32):
        for _ in range(3):
            a @ b  # warm-up
        repeats, elapsed = 0, 0.0
        while elapsed < seconds:
            _, step = _timed(device, lambda: [a @ b for _ in range(10)])
            repeats, elapsed = repeats + 10, elapsed + step
    return 2 * m * k * n * repeats / elapsed


def _flow_shapes(settings, cache_shapes: list[tuple[int, ...]]) -> list[tuple[int, int, int]]:
    """Per level (positions per batch, D, P) from the cache's level shapes [C, H, W]."""
    return [(settings.train.batch_size * h * w, c, settings.model.pos_embed_dim)
            for c, h, w in cache_shapes]


def _training_flop_per_iteration(settings, shapes: list[tuple[int, int, int]],
                                 precision: str) -> float:
    """Estimated FLOP of one iteration (every level, forward and backward) of the flows.

    Counts the GEMMs only: per coupling block the subnetwork [D/2+P -> 2(D/2+P) -> D] and the
    soft permutation [D -> D]; backward costs twice the forward. Under bf16 the condition's part
    of the first layer runs once per position, not once per image and position
    (:class:`hgad.model.flow.Subnet`): only the work done is counted.
    """
    total = 0.0
    batch = settings.train.batch_size
    for positions, dim, cond in shapes:
        inner = dim // 2 + cond
        first = (positions * (dim // 2) + positions // batch * cond if precision == "bf16"
                 else positions * inner) * 2 * inner
        per_block = 2 * (first + positions * (2 * inner * dim + dim * dim))
        total += 3 * per_block * settings.model.coupling_layers
    return total


def _peaks(settings, shapes, device, seconds: float) -> dict[str, float]:
    """The GEMM peak (FLOP/s) of each precision on the flow's largest GEMM shape, each timed for
    ``seconds``."""
    import torch

    positions, dim, cond = shapes[0]
    gemm = (positions, dim // 2 + cond, 2 * (dim // 2 + cond))
    peaks = {"fp32": _gemm_peak(gemm, torch.float32, device, seconds=seconds),
             "bf16": _gemm_peak(gemm, torch.bfloat16, device, seconds=seconds)}
    if device.type == "cuda":
        peaks["tf32"] = _gemm_peak(gemm, torch.float32, device, tf32=True, seconds=seconds)
    return {"gemm_shape": list(gemm), **peaks}


def _with_precision(settings, precision: str, meta_epochs: int):
    """The settings with ``precision`` for training and scoring, a snapshot every sub-epoch."""
    tr = dataclasses.replace(settings.train, precision=precision, snapshot_every=1,
                             meta_epochs=meta_epochs or settings.train.meta_epochs)
    ev = dataclasses.replace(settings.evaluate, precision=precision)
    return dataclasses.replace(settings, train=tr, evaluate=ev)


def _timed_training(settings, run: Path, folder: Path, device, counts, flop_per_iteration: float,
                    peak: float) -> dict:
    """Train with ``settings`` into ``folder``; figures of its last meta-epoch, and how much longer
    the first one took (warm-up; with ``train.compile`` the compilation)."""
    from hgad.training.train import train

    n_train, _, positions_per_iteration = counts
    tr = settings.train
    ends = [time.perf_counter()]
    train(run / "features" / "train", run / "manifest.csv", folder / "model.pt",
          folder / "train_log.csv", folder / "checkpoints", settings, 0, device,
          on_meta_epoch_end=lambda _: (_sync(device), ends.append(time.perf_counter())))
    first, last = ends[1] - ends[0], ends[-1] - ends[-2]
    iterations = math.ceil(n_train / tr.batch_size) * tr.sub_epochs
    flops = flop_per_iteration * iterations / last
    return {"train_sub_epoch_s": last / tr.sub_epochs,
            "train_positions_per_s": positions_per_iteration * iterations / last,
            "train_flop_per_s": flops, "train_fraction_of_peak": flops / peak,
            "first_meta_epoch_extra_s": first - last}


def _bench_precision(settings, precision: str, run: Path, tmp: Path, device, counts,
                     flop_per_iteration: float, peaks: dict, backbone_batches: int) -> dict:
    """Training, evaluation and snapshot-scoring figures of one precision."""
    from hgad.evaluation.evaluate import evaluate, evaluate_snapshots

    n_test = counts[1]
    tr = settings.train
    folder = tmp / precision
    model = folder / "model.pt"
    peak_name = "tf32" if precision == "fp32" and tr.allow_tf32 and "tf32" in peaks else precision
    training = _timed_training(settings, run, folder, device, counts, flop_per_iteration,
                               peaks[peak_name])
    metrics, evaluate_s = _timed(device, evaluate, model, run / "manifest.csv",
                                 run / "features" / "test", folder / "metrics.json",
                                 folder / "metrics.csv", folder / "maps", settings, device,
                                 train_cache=run / "features" / "train")
    snapshots = tr.meta_epochs * tr.sub_epochs
    _, snapshots_s = _timed(device, evaluate_snapshots, model, run / "manifest.csv",
                            run / "features" / "test", folder / "snapshots.csv", settings, device,
                            train_cache=run / "features" / "train")
    return {**training, "peak": peak_name,
            "evaluate_s": evaluate_s, "evaluate_img_per_s": n_test / evaluate_s,
            "snapshot_s": snapshots_s / snapshots,
            **{f"mean_{name}": metrics["mean"][name] for name in CHECKED},
            "backbone_img_per_s": _backbone_rate(settings, device, precision, backbone_batches)}


def _compiled_training(settings, precision: str, run: Path, tmp: Path, device, counts,
                       flop_per_iteration: float, peaks: dict, eager: dict) -> dict:
    """:func:`_timed_training` with ``train.compile``; ``compile_s``: how much more the first
    meta-epoch's extra time is than the ``eager`` run's (inductor's on-disk cache makes a repeated
    compilation cheaper)."""
    compiled = dataclasses.replace(settings, train=dataclasses.replace(settings.train,
                                                                       compile=True))
    figures = _timed_training(compiled, run, tmp / f"{precision}-compiled", device, counts,
                              flop_per_iteration, peaks[precision])
    return {**figures, "compile_s": figures["first_meta_epoch_extra_s"]
            - eager["first_meta_epoch_extra_s"]}


def _end_to_end(figures: dict, precision: str, settings, sub_epochs: int,
                compiled: bool = False) -> dict:
    """Reference loop against this pipeline, per sub-epoch and over ``sub_epochs`` sub-epochs.

    Reference: every training batch reruns the backbone (the training split's extraction time)
    before the fp32 flow step, and the test set (extraction + scoring) is scored every
    sub-epoch. Here: the caches are extracted once, then training from the cache (``compiled``:
    with ``train.compile``, its compilation included), and one snapshot scored every
    ``snapshot_every`` sub-epochs.
    """
    fp32, this = figures["fp32"], figures[precision]
    training = this["compiled"] if compiled else this
    per_image = figures["extract_s"] / figures["extract_images"]
    reference_train = figures["extract_images"] * per_image + fp32["train_sub_epoch_s"]
    reference_eval = figures["evaluate_images"] * per_image + fp32["snapshot_s"]
    every = settings.train.snapshot_every or sub_epochs
    reference = sub_epochs * (reference_train + reference_eval)
    trained = ((figures["extract_images"] + figures["evaluate_images"]) * per_image
               + sub_epochs * training["train_sub_epoch_s"] + training.get("compile_s", 0.0))
    ours = trained + sub_epochs // every * this["snapshot_s"]
    every_sub_epoch = trained + sub_epochs * this["snapshot_s"]  # the reference's protocol
    return {"reference_train_sub_epoch_s": reference_train,
            "reference_eval_sub_epoch_s": reference_eval,
            "sub_epochs": sub_epochs, "snapshot_every": every,
            "reference_total_s": reference, "total_s": ours, "ratio": reference / ours,
            "total_every_sub_epoch_s": every_sub_epoch,
            "ratio_every_sub_epoch": reference / every_sub_epoch}


def bench(args) -> dict:
    import torch

    from hgad.data.manifest import read_manifest, select_split
    from hgad.features.cache import open_cache
    from hgad.features.extract import extract_features
    from hgad.runtime.config import load_config, settings_from_config
    from hgad.runtime.device import resolve_device

    config = load_config(args.config)
    config["device"] = args.device
    settings = settings_from_config(config)
    device = resolve_device(args.device)
    torch.set_num_threads(args.threads or min(os.cpu_count() or 1, 8))  # as the workflow's jobs
    run = Path("results") / args.dataset
    manifest = run / "manifest.csv"
    frame = read_manifest(manifest)
    n_train, n_test = len(select_split(frame, "train")), len(select_split(frame, "test"))
    shapes = _flow_shapes(settings, [a.shape[1:] for a in open_cache(run / "features" / "train")])
    counts = (n_train, n_test, sum(positions for positions, _, _ in shapes))
    torch.zeros(1, device=device).sum().item()  # CUDA context outside the timings
    figures = {"device": str(device), "torch": torch.__version__, "config": str(args.config),
               "threads": torch.get_num_threads(), "train_images": n_train,
               "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
               "peak_flop_per_s": _peaks(settings, shapes, device, args.peak_seconds)}
    with tempfile.TemporaryDirectory(prefix="hgad-throughput-") as tmp:
        tmp = Path(tmp)
        _, seconds = _timed(device, extract_features, manifest, "train", tmp / "features_train",
                            settings.features, device)
        figures.update(extract_images=n_train, extract_s=seconds,
                       extract_img_per_s=n_train / seconds, evaluate_images=n_test)
        for precision in args.precisions:
            flop_per_iteration = _training_flop_per_iteration(settings, shapes, precision)
            precision_settings = _with_precision(settings, precision, args.meta_epochs)
            figures[precision] = _bench_precision(
                precision_settings, precision, run, tmp, device, counts, flop_per_iteration,
                figures["peak_flop_per_s"], args.backbone_batches)
            if args.compile:
                figures[precision]["compiled"] = _compiled_training(
                    precision_settings, precision, run, tmp, device, counts, flop_per_iteration,
                    figures["peak_flop_per_s"], figures[precision])
    for precision in args.precisions:
        if "fp32" in figures:
            figures[precision]["end_to_end"] = _end_to_end(figures, precision, settings,
                                                           args.sub_epochs)
            if args.compile:
                figures[precision]["compiled"]["end_to_end"] = _end_to_end(
                    figures, precision, settings, args.sub_epochs, compiled=True)
    if device.type == "cuda":
        figures["peak_gpu_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    _print(figures, args.precisions)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return figures


def _print(figures: dict, precisions: list[str]) -> None:
    peaks = figures["peak_flop_per_s"]
    print(f"throughput on {figures['device']}" + (f" ({figures['gpu']})" if figures["gpu"] else "")
          + f", {figures['threads']} threads")
    print(f"  GEMM {peaks['gemm_shape']} peak: " + ", ".join(
        f"{name} {peaks[name] / 1e9:.0f} GFLOP/s" for name in ("fp32", "tf32", "bf16")
        if name in peaks))
    print(f"  extraction  {figures['extract_img_per_s']:9.1f} img/s  ({figures['extract_images']}"
          f" images, {figures['extract_s']:.1f} s: the whole call, weights and image loading "
          "included)")
    for precision in precisions:
        f = figures[precision]
        print(f"  [{precision}] backbone  {f['backbone_img_per_s']:9.1f} img/s (batch on the "
              "device)")
        print(f"  [{precision}] training  {f['train_positions_per_s']:9.0f} positions/s, "
              f"{f['train_sub_epoch_s']:.2f} s per sub-epoch, flows at "
              f"{f['train_flop_per_s'] / 1e9:.0f} GFLOP/s = {100 * f['train_fraction_of_peak']:.0f}"
              f"% of the {f['peak']} peak")
        print(f"  [{precision}] evaluation {f['evaluate_img_per_s']:8.1f} img/s "
              f"({f['evaluate_s']:.1f} s, metrics included); one snapshot scored in "
              f"{f['snapshot_s']:.2f} s; mean image/pixel AUROC {f['mean_image_auroc']:.4f} / "
              f"{f['mean_pixel_auroc']:.4f}")
        if "end_to_end" in f:
            _print_end_to_end(precision, f["end_to_end"])
        if "compiled" in f:
            c = f["compiled"]
            print(f"  [{precision}] compiled training {c['train_positions_per_s']:9.0f} "
                  f"positions/s, {c['train_sub_epoch_s']:.2f} s per sub-epoch, flows at "
                  f"{c['train_flop_per_s'] / 1e9:.0f} GFLOP/s = "
                  f"{100 * c['train_fraction_of_peak']:.0f}% of the {precision} peak; compiling "
                  f"took {c['compile_s']:.1f} s")
            if "end_to_end" in c:
                _print_end_to_end(f"{precision}, compiled", c["end_to_end"])
    if "peak_gpu_memory_gib" in figures:
        print(f"  peak GPU memory {figures['peak_gpu_memory_gib']:.2f} GiB")


def _print_end_to_end(label: str, e: dict) -> None:
    print(f"  [{label}] per sub-epoch: reference loop {e['reference_train_sub_epoch_s']:.1f} s "
          f"training + {e['reference_eval_sub_epoch_s']:.1f} s evaluation; at {e['sub_epochs']} "
          f"sub-epochs (a snapshot every {e['snapshot_every']}): "
          f"{e['reference_total_s'] / 60:.1f} min vs {e['total_s'] / 60:.1f} min = "
          f"{e['ratio']:.1f}x; a snapshot every sub-epoch: "
          f"{e['total_every_sub_epoch_s'] / 60:.1f} min = {e['ratio_every_sub_epoch']:.1f}x")


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
    b.add_argument("--meta-epochs", type=int, default=2,
                   help="meta-epochs to train, at least 2: the last one is timed (0: the config's)")
    b.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    b.add_argument("--threads", type=int, help="torch threads (default: the cores, at most 8)")
    b.add_argument("--sub-epochs", type=int, default=200,
                   help="schedule length of the end-to-end comparison (the paper's: 200)")
    b.add_argument("--compile", action="store_true",
                   help="also time training with train.compile (two meta-epochs per precision)")
    b.add_argument("--peak-seconds", type=float, default=1.0,
                   help="how long each precision's GEMM peak is timed")
    b.add_argument("--backbone-batches", type=int, default=10,
                   help="batches the backbone's rate is timed over, per precision")
    b.add_argument("--json", help="write the figures here")
    c = commands.add_parser("compare", help="compare the AUROCs of two runs")
    c.add_argument("a", help="first run's folder (e.g. the CPU run)")
    c.add_argument("b", help="second run's folder (e.g. the CUDA run)")
    c.add_argument("--dataset", default="demo")
    c.add_argument("--tolerance", type=float, default=0.02)
    args = parser.parse_args(argv)
    if args.command == "bench":
        if args.meta_epochs == 1:
            parser.error("--meta-epochs: at least 2 (the last one is timed), or 0")
        args.json = args.json and os.path.abspath(args.json)
        args.config = os.path.abspath(args.config)
        with contextlib.chdir(args.workdir):  # the manifest's image paths are relative to it
            bench(args)
        return 0
    return compare(args)


if __name__ == "__main__":
    sys.exit(main())
