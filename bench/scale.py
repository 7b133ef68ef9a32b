"""Paper-scale rehearsal: what a full run of ``config/config.yaml`` costs, measured without images.

    python bench/scale.py --json results/scale.json    # paper shapes: ~5 GB of disk
    python bench/scale.py --tiny                       # tiny shapes: seconds (tests/test_scale.py)

1. Feature caches with the paper's exact shapes go into the real cache format
   (:class:`hgad.features.cache.CacheWriter`): ``tf_efficientnet_b6`` stage ``out_index`` at
   ``img_size`` px (channels and stride from timm's ``feature_info``, no weights: 200 channels,
   64/32/16-pixel maps at 1024 px), float16, for the image counts of every dataset of
   :data:`DATASETS`. Training caches are sparse files of their full size in which only the rows
   the timed iterations read are written; the evaluated test set (VisA's: 2,162 images in 12
   categories) is written whole, with random features and synthetic masks (files are
   ``--workdir``'s, deleted at the end unless ``--keep``).
2. Training, in its own process: the real model, optimisers and step of :mod:`hgad.training.train`,
   one warm-up and ``--iterations`` timed iterations per level, and the matmul FLOPs of one
   iteration per level (torch's ``FlopCounterMode``, forward and backward).
3. Evaluation, in its own process: the real :func:`hgad.evaluation.evaluate.evaluate` of the test
   set (every metric, ``msk_size`` maps). Its flow has ``--eval-coupling-layers`` layers (fewer than
   the paper's keeps the run short); the time of the paper's flow is added back from one batch of
   :func:`hgad.model.maps.level_maps` timed at both depths, times the number of batches.

4. The kNN baseline, in its own process: :func:`hgad.evaluation.knn.knn_level_maps` and
   :func:`~hgad.evaluation.knn.knn_anomaly_maps` for the largest VisA category
   (:data:`KNN_CATEGORY`: its memory banks built from that many training images, with the
   config's ``knn.coreset_fraction``), scoring ``--knn-test-images`` test images; the banks are
   built and timed once more alone, so that the category's time is projected as banks + its test
   images x the time per test image.

Each phase's peak RSS is its process's own (``ru_maxrss``: memory-mapped cache pages read
included); ``--tiny``, a check of the code rather than a measurement, runs the phases in its own
process instead, saving their start-up. From these figures it projects, per
dataset, a full run's training iterations (meta_epochs x sub_epochs x ceil(N / batch_size)), CPU
time, disk, the cost of scoring a snapshot every sub-epoch or every ``snapshot_every``, and, from
the FLOP rate measured here, the FLOPs a GPU must deliver. Figures are printed as Markdown and
written to ``--json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# (training images, test normal, test anomalous, categories): MVTec AD and VisA as in
# docs/datasets.md, BTAD and MVTec 3D-AD as published; the Union (their sum) has 16,743 training
# and 5,825 test images in 40 categories.
DATASETS = {
    "mvtec": (3629, 467, 1258, 15),
    "btad": (1799, 451, 290, 3),
    "mvtec3d": (2656, 249, 948, 10),
    "visa": (8659, 962, 1200, 12),
}
EVALUATED = "visa"
# VisA's largest category (pcb3): training and test images, the kNN baseline's largest banks.
KNN_CATEGORY = (905, 201)
TINY = {"features": {"img_size": 64, "out_index": 2},
        "model": {"coupling_layers": 2, "pos_embed_dim": 8, "n_intra_centers": 2},
        "evaluate": {"msk_size": 16, "gaussian_sigma": 1}}
TINY_DIVISOR = 200  # tiny image counts: the datasets' counts / TINY_DIVISOR (at least 2 each)
PHASES = ("train", "evaluate", "knn")  # each measured in its own process
TARGET_HOURS = 24  # the GPU FLOP rate is stated for training one dataset in this many hours
GIB = 2**30


@dataclasses.dataclass(frozen=True)
class Sizes:
    """Image counts of one dataset: training, test normal, test anomalous, categories."""

    train: int
    normal: int
    anomalous: int
    categories: int

    @property
    def test(self) -> int:
        return self.normal + self.anomalous


def dataset_sizes(tiny: bool) -> dict[str, Sizes]:
    """Every dataset's :class:`Sizes` plus the Union's; tiny divides counts by TINY_DIVISOR."""
    sizes = {name: Sizes(*(max(2, n // TINY_DIVISOR) for n in counts[:3]), 2) if tiny
             else Sizes(*counts) for name, counts in DATASETS.items()}
    sizes["union"] = Sizes(*(sum(getattr(s, f.name) for s in sizes.values())
                             for f in dataclasses.fields(Sizes)))
    return sizes


def load_settings(config: str, tiny: bool):
    """The settings of ``config`` on the CPU; with ``tiny``, :data:`TINY`'s small shapes."""
    from hgad.runtime.config import load_config, settings_from_config

    raw = load_config(config)
    raw["device"] = "cpu"
    if tiny:
        raw["features"]["backbone"] = "tf_efficientnet_lite0"
        for section, values in TINY.items():
            raw[section].update(values)
    return settings_from_config(raw)


def feature_shapes(features) -> list[tuple[int, int, int]]:
    """[(C, H_l, W_l)] per level of the backbone stage, from timm's feature_info (no weights)."""
    import timm

    model = timm.create_model(features.backbone, pretrained=False, features_only=True,
                              out_indices=[features.out_index])
    channels, stride = model.feature_info.channels()[0], model.feature_info.reduction()[0]
    side = features.img_size // stride
    return [(channels, side >> level, side >> level) for level in range(features.levels)]


def _peak_rss() -> int:
    """This process's peak resident set size in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# --- data ----------------------------------------------------------------------------------

def _names(count: int) -> list[str]:
    return [f"c{index:02d}" for index in range(count)]


def _mask_files(folder: Path, size: int, count: int = 16) -> list[str]:
    """``count`` masks [size, size] with one elliptic defect each, of growing size."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rows, cols = np.mgrid[:size, :size] / size
    paths = []
    for index in range(count):
        radius = 0.1 + 0.2 * index / count
        inside = ((rows - 0.4) / radius) ** 2 + ((cols - 0.6) / (1.5 * radius)) ** 2 <= 1
        path = folder / f"mask{index:02d}.png"
        Image.fromarray((inside * 255).astype(np.uint8)).save(path)
        paths.append(str(path))
    return paths


def write_manifest_file(path: Path, sizes: Sizes, masks: list[str]):
    """A manifest of ``sizes`` (image paths are never read; masks cycle through ``masks``)."""
    from hgad.data.manifest import make_manifest, write_manifest

    rows = []
    names = _names(sizes.categories)
    for split, counts in (("train", (sizes.train, 0)), ("test", (sizes.normal, sizes.anomalous))):
        for label, count in enumerate(counts):
            for index in range(count):
                category = names[index % len(names)]
                rows.append(dict(dataset="scale", category=category, split=split, label=label,
                                 defect="anomaly" if label else "good",
                                 image=f"{category}/{split}/{label}/{index:05d}.png",
                                 mask=masks[index % len(masks)] if label else ""))
    write_manifest(make_manifest(rows), path)


def write_cache(folder: Path, manifest: Path, split: str, settings, shapes, rows: int) -> Path:
    """A cache of the split, the first ``rows`` rows random features, the rest never written."""
    import numpy as np

    from hgad.data.manifest import read_manifest, select_split
    from hgad.features.cache import CacheWriter
    from hgad.features.extract import cache_meta

    count = len(select_split(read_manifest(manifest), split))
    # random features: no backbone weights made them
    meta = dataclasses.replace(cache_meta(settings.features, manifest, split, count),
                               weights="none")
    rng = np.random.default_rng(0)
    step = settings.features.batch_size
    with CacheWriter(folder, meta, shapes, weights_digest=None) as writer:
        for start in range(0, min(rows, count), step):
            size = min(step, rows - start, count - start)
            for level, shape in enumerate(shapes):
                features = rng.standard_normal((size, *shape), dtype=np.float32)
                writer.write(level, start, features.astype(np.float16))
        return writer.commit()


def _disk(folder: Path) -> tuple[int, int]:
    """(apparent bytes, allocated bytes) of the files under ``folder``."""
    files = [path.stat() for path in folder.rglob("*") if path.is_file()]
    return sum(s.st_size for s in files), sum(s.st_blocks * 512 for s in files)


def prepare(workdir: Path, settings, shapes, sizes: dict[str, Sizes], iterations: int) -> dict:
    """Every dataset's manifest and caches; returns {dataset: {train_bytes, test_bytes, ...}}."""
    masks = _mask_files(workdir / "masks", settings.evaluate.msk_size)
    rows_read = (iterations + 2) * settings.train.batch_size
    disk = {}
    for name, size in sizes.items():
        if name == "union":  # read from its members' caches through an index: no features
            continue
        folder = workdir / name
        folder.mkdir(parents=True, exist_ok=True)
        write_manifest_file(folder / "manifest.csv", size, masks)
        write_cache(folder / "train", folder / "manifest.csv", "train", settings, shapes,
                    rows_read if name == EVALUATED else 0)
        write_cache(folder / "test", folder / "manifest.csv", "test", settings, shapes,
                    size.test if name == EVALUATED else 0)
        (train, train_allocated), (test, test_allocated) = (_disk(folder / split)
                                                            for split in ("train", "test"))
        disk[name] = {"train_cache_bytes": train, "test_cache_bytes": test,
                      "allocated_bytes": train_allocated + test_allocated}
    return disk


# --- the two measured phases (each in its own process) -------------------------------------

def _flops(function) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        function()
    return counter.get_total_flops()


def phase_train(workdir: Path, settings, iterations: int) -> dict:
    """Seconds and FLOPs per iteration of each level at the cache's shapes; peak RSS."""
    import numpy as np
    import torch

    from hgad.data.manifest import class_names, read_manifest
    from hgad.features.cache import open_cache
    from hgad.model.model_file import save_model_file
    from hgad.model.network import HGADModel
    from hgad.training.train import make_optimisers, train_step

    folder = workdir / EVALUATED
    names = class_names(read_manifest(folder / "manifest.csv"))
    arrays = open_cache(folder / "train")
    torch.manual_seed(0)
    model = HGADModel([a.shape[1] for a in arrays], names,
                      **dataclasses.asdict(settings.model))
    optimisers = make_optimisers(model, settings)
    batch_size = settings.train.batch_size
    classes = torch.arange(batch_size) % len(names)
    levels = []
    for level, (array, optimiser) in enumerate(zip(arrays, optimisers, strict=True)):
        def step(index: int, level=level, array=array, optimiser=optimiser) -> None:
            rows = np.arange(index * batch_size, (index + 1) * batch_size)
            features = torch.from_numpy(array[rows]).float()
            train_step(model, level, optimiser, features, classes, settings.train.lr,
                       intra=True, settings=settings)

        step(0)  # warm-up
        start = time.perf_counter()
        for index in range(1, iterations + 1):
            step(index)
        seconds = (time.perf_counter() - start) / iterations
        levels.append({"seconds": seconds, "flops": _flops(lambda: step(iterations + 1))})
    peak = _peak_rss()
    model_path = workdir / "model.pt"  # a snapshot's content, as train() writes it
    save_model_file(model_path, model, {}, epoch=0)
    return {"levels": levels, "model_bytes": model_path.stat().st_size, "peak_rss": peak,
            "threads": torch.get_num_threads()}


def _forward(settings, workdir: Path, coupling_layers: int, repeats: int = 2) -> tuple[float, int]:
    """(seconds, matmul FLOPs) of :func:`hgad.model.maps.level_maps` on one evaluation
    batch."""
    import numpy as np
    import torch

    from hgad.data.manifest import class_names, read_manifest
    from hgad.features.cache import open_cache
    from hgad.model.maps import level_maps
    from hgad.model.network import HGADModel

    folder = workdir / EVALUATED
    names = class_names(read_manifest(folder / "manifest.csv"))
    arrays = open_cache(folder / "test")
    model = HGADModel([a.shape[1] for a in arrays], names, **{
        **dataclasses.asdict(settings.model), "coupling_layers": coupling_layers})
    rows = np.arange(settings.evaluate.batch_size)
    classes = np.zeros(len(rows), dtype=np.int64)
    cpu = torch.device("cpu")
    # FlopCounterMode fails under inference_mode: count on the undecorated body, without grad
    with torch.no_grad():
        flops = _flops(lambda: level_maps.__wrapped__(model, arrays, rows, classes, len(rows),
                                                      cpu))  # also the warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        level_maps(model, arrays, rows, classes, len(rows), cpu)
    return (time.perf_counter() - start) / repeats, flops


def phase_evaluate(workdir: Path, settings, coupling_layers: int) -> dict:
    """The real evaluation of the test set with a flow of ``coupling_layers``; peak RSS."""
    import torch

    from hgad.data.manifest import class_names, read_manifest
    from hgad.evaluation.evaluate import evaluate
    from hgad.features.cache import open_cache
    from hgad.model.model_file import save_model_file
    from hgad.model.network import HGADModel

    folder = workdir / EVALUATED
    manifest = folder / "manifest.csv"
    arrays = open_cache(folder / "test")
    model = HGADModel([a.shape[1] for a in arrays], class_names(read_manifest(manifest)), **{
        **dataclasses.asdict(settings.model), "coupling_layers": coupling_layers})
    model_path = folder / "model.pt"
    save_model_file(model_path, model, {}, epoch=0)
    model_bytes = model_path.stat().st_size
    out = folder / "evaluation"
    start = time.perf_counter()
    evaluate(model_path, manifest, folder / "test", out / "metrics.json", out / "metrics.csv",
             out / "maps", settings, torch.device("cpu"))
    seconds = time.perf_counter() - start
    peak = _peak_rss()
    shallow, _ = _forward(settings, workdir, coupling_layers)
    paper, paper_flops = _forward(settings, workdir, settings.model.coupling_layers)
    return {"seconds": seconds, "peak_rss": peak, "images": len(arrays[0]),
            "maps_bytes": _disk(out / "maps")[0], "eval_model_bytes": model_bytes,
            "forward_batch_seconds": shallow, "forward_batch_seconds_paper": paper,
            "forward_batch_flops_paper": paper_flops}


def knn_category(tiny: bool) -> tuple[int, int]:
    """(training, test) images of :data:`KNN_CATEGORY`; tiny divides them by TINY_DIVISOR."""
    return tuple(max(2, n // TINY_DIVISOR) for n in KNN_CATEGORY) if tiny else KNN_CATEGORY


def phase_knn(workdir: Path, settings, test_images: int, tiny: bool) -> dict:
    """The kNN baseline on the largest category's training images: peak RSS, the banks' bytes
    and seconds, seconds per test image, and the category's projected seconds."""
    import numpy as np
    import torch

    from hgad.evaluation.knn import knn_anomaly_maps, knn_level_maps, memory_bank
    from hgad.features.cache import open_cache

    folder = workdir / EVALUATED
    train_arrays, test_arrays = open_cache(folder / "train"), open_cache(folder / "test")
    train_count, test_count = knn_category(tiny)
    train_rows, test_rows = np.arange(train_count), np.arange(test_images)
    ev, fraction, cpu = settings.evaluate, settings.knn.coreset_fraction, torch.device("cpu")
    start = time.perf_counter()
    level_maps = knn_level_maps(train_arrays, train_rows, test_arrays, test_rows, fraction,
                                ev.batch_size, cpu)
    knn_anomaly_maps(level_maps, ev.msk_size, ev.gaussian_sigma)
    seconds = time.perf_counter() - start
    peak = _peak_rss()
    start = time.perf_counter()
    banks = [memory_bank(array, train_rows, fraction, cpu) for array in train_arrays]
    bank_seconds = time.perf_counter() - start
    per_image = max(seconds - bank_seconds, 0) / test_images
    return {"train_images": train_count, "test_images": test_count,
            "scored_test_images": test_images, "coreset_fraction": fraction,
            "bank_bytes": sum(bank.nbytes for bank in banks),
            "bank_dtype": str(banks[0].dtype).removeprefix("torch."),
            "bank_seconds": bank_seconds, "seconds_per_test_image": per_image,
            "category_seconds": bank_seconds + per_image * test_count, "peak_rss": peak,
            "threads": torch.get_num_threads()}


def _phase(phase: str, args) -> dict:
    """Measure one phase in this process; returns its figures."""
    settings = load_settings(args.config, args.tiny)
    workdir = Path(args.workdir)
    return {"train": lambda: phase_train(workdir, settings, args.iterations),
            "evaluate": lambda: phase_evaluate(workdir, settings, args.eval_coupling_layers),
            "knn": lambda: phase_knn(workdir, settings, args.knn_test_images, args.tiny)}[phase]()


def _child(phase: str, args) -> dict:
    """Run one phase in a new process (its own peak RSS); returns its figures."""
    out = Path(args.workdir) / f"{phase}.json"
    command = [sys.executable, __file__, "--workdir", args.workdir, "--config", args.config,
               "--iterations", str(args.iterations),
               "--eval-coupling-layers", str(args.eval_coupling_layers),
               "--knn-test-images", str(args.knn_test_images),
               "--phase", phase, "--json", str(out)] + (["--tiny"] if args.tiny else [])
    subprocess.run(command, check=True)
    return json.loads(out.read_text())


# --- projection ----------------------------------------------------------------------------

def project(settings, sizes: dict[str, Sizes], disk: dict, train: dict, evaluation: dict,
            shapes) -> dict:
    """A full run's figures per dataset (see the module docstring)."""
    tr = settings.train
    iteration_s = sum(level["seconds"] for level in train["levels"])
    iteration_flops = sum(level["flops"] for level in train["levels"])
    batch_eval = settings.evaluate.batch_size
    measured = evaluation["images"]
    # the evaluation at the paper's depth: add the flow time the shallower flow saved
    paper_forward_extra = (evaluation["forward_batch_seconds_paper"]
                           - evaluation["forward_batch_seconds"]) * math.ceil(measured / batch_eval)
    eval_s_per_image = (evaluation["seconds"] + paper_forward_extra) / measured
    scoring_s_per_image = (evaluation["seconds"] - evaluation["forward_batch_seconds"]
                           * math.ceil(measured / batch_eval)) / measured
    model_bytes = train["model_bytes"]
    image_bytes = sum(c * h * w for c, h, w in shapes) * 2
    sub_epochs_total = tr.meta_epochs * tr.sub_epochs
    rows = {}
    for name, size in sizes.items():
        iterations = sub_epochs_total * math.ceil(size.train / tr.batch_size)
        eval_s = eval_s_per_image * size.test
        flops = iterations * iteration_flops
        snapshots = {every: sub_epochs_total // every for every in (1, 8)}
        rows[name] = {
            "train_images": size.train, "test_images": size.test, "categories": size.categories,
            "cache_bytes": (size.train + size.test) * image_bytes if name != "union" else 0,
            "iterations": iterations,
            "train_cpu_hours": iterations * iteration_s / 3600,
            "evaluate_cpu_hours": eval_s / 3600,
            "train_flops": flops,
            "gpu_tflops_for_target": flops / (TARGET_HOURS * 3600) / 1e12,
            "eval_flops": evaluation["forward_batch_flops_paper"] / batch_eval * size.test,
            "maps_bytes": size.test * settings.evaluate.msk_size ** 2 * 2,
            "snapshot_cpu_hours": {every: n * eval_s / 3600 for every, n in snapshots.items()},
            "snapshot_scoring_hours": {every: n * scoring_s_per_image * size.test / 3600
                                       for every, n in snapshots.items()},
            "snapshot_bytes": {every: n * model_bytes for every, n in snapshots.items()},
        }
        if name in disk:
            rows[name]["measured_cache_bytes"] = (disk[name]["train_cache_bytes"]
                                                  + disk[name]["test_cache_bytes"])
    return {"datasets": rows, "iteration_seconds": iteration_s,
            "iteration_flops": iteration_flops,
            "cpu_gflops_per_s": iteration_flops / iteration_s / 1e9,
            "model_bytes": model_bytes, "image_cache_bytes": image_bytes,
            "eval_seconds_per_image": eval_s_per_image,
            "scoring_seconds_per_image": scoring_s_per_image}


def report(figures: dict) -> str:
    """The figures as Markdown: conditions, per-level training, a table per dataset."""
    p, t, e = figures["projection"], figures["train"], figures["evaluate"]
    lines = [f"Conditions: {figures['conditions']}", "",
             "| level | map | s / iteration | GFLOP / iteration |", "|---|---|---:|---:|"]
    for level, (shape, values) in enumerate(zip(figures["shapes"], t["levels"], strict=True)):
        lines.append(f"| {level} | {shape[0]} x {shape[1]} x {shape[2]} | {values['seconds']:.2f}"
                     f" | {values['flops'] / 1e9:.0f} |")
    lines += ["", f"CPU rate {p['cpu_gflops_per_s']:.1f} GFLOP/s; training peak RSS "
              f"{t['peak_rss'] / GIB:.2f} GiB; evaluation of {e['images']} images "
              f"{e['seconds']:.0f} s at {figures['eval_coupling_layers']} coupling layer(s), "
              f"peak RSS {e['peak_rss'] / GIB:.2f} GiB; model file {p['model_bytes'] / 2**20:.0f}"
              " MiB.", "",
              knn_line(figures["knn"]), "",
              "| dataset | images train / test | cache GB | iterations | train CPU h | "
              "GPU PFLOP | TFLOP/s for 24 h | eval CPU h | snapshots every 1 / 8: CPU h, GB |",
              "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for name, row in p["datasets"].items():
        snap = " / ".join(f"{row['snapshot_cpu_hours'][k]:.1f} h, "
                          f"{row['snapshot_bytes'][k] / 1e9:.1f} GB" for k in (1, 8))
        lines.append(f"| {name} | {row['train_images']} / {row['test_images']} | "
                     f"{row['cache_bytes'] / 1e9:.1f} | {row['iterations']} | "
                     f"{row['train_cpu_hours']:.0f} | {row['train_flops'] / 1e15:.0f} | "
                     f"{row['gpu_tflops_for_target']:.1f} | {row['evaluate_cpu_hours']:.2f} | "
                     f"{snap} |")
    return "\n".join(lines)


def knn_line(knn: dict) -> str:
    """The kNN baseline's figures as one sentence."""
    return (f"kNN baseline, largest VisA category ({knn['train_images']} training images, "
            f"coreset {knn['coreset_fraction']:g}): {knn['bank_dtype']} banks "
            f"{knn['bank_bytes'] / 2**20:.0f} MiB built in {knn['bank_seconds']:.1f} s, "
            f"{knn['seconds_per_test_image']:.1f} s per test image, "
            f"{knn['category_seconds'] / 60:.0f} min for its {knn['test_images']} test images, "
            f"peak RSS {knn['peak_rss'] / GIB:.2f} GiB.")


def run(args) -> dict:
    settings = load_settings(args.config, args.tiny)
    shapes = feature_shapes(settings.features)
    sizes = dataset_sizes(args.tiny)
    workdir = Path(args.workdir)
    load_before = os.getloadavg()[0]
    disk = prepare(workdir, settings, shapes, sizes, args.iterations)
    measure = _phase if args.tiny else _child
    train, evaluation, knn = (measure(phase, args) for phase in PHASES)
    figures = {"conditions": f"{os.cpu_count()} CPU(s), load average {load_before:.1f} at the"
                             f" start and {os.getloadavg()[0]:.1f} at the end, {train['threads']}"
                             f" torch thread(s), {args.iterations} timed iteration(s) per level",
               "shapes": shapes, "disk": disk, "train": train, "evaluate": evaluation,
               "knn": knn,
               "eval_coupling_layers": args.eval_coupling_layers,
               "projection": project(settings, sizes, disk, train, evaluation, shapes)}
    return figures


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--tiny", action="store_true", help="tiny shapes and counts (seconds)")
    parser.add_argument("--iterations", type=int, default=2,
                        help="timed training iterations per level (after one warm-up)")
    parser.add_argument("--eval-coupling-layers", type=int, default=1,
                        help="coupling layers of the evaluated flow (the paper's time is added)")
    parser.add_argument("--knn-test-images", type=int, default=2,
                        help="test images the kNN baseline scores (its time is projected)")
    parser.add_argument("--workdir", help="where the caches go (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep --workdir's files")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase:  # a child process of run()
        figures = _phase(args.phase, args)
    else:
        temporary = args.workdir is None
        args.workdir = args.workdir or tempfile.mkdtemp(prefix="hgad-scale-")
        try:
            figures = run(args)
        finally:
            if temporary or not args.keep:
                shutil.rmtree(args.workdir, ignore_errors=True)
        print(report(figures))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return figures


if __name__ == "__main__":
    main()
