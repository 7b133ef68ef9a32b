"""Figures: AUROC per category beside the paper's numbers, and training loss curves.

Figures are built as :class:`matplotlib.figure.Figure` objects, not through pyplot: no GUI
backend is involved and no figure stays registered (open) after saving. Every file is written
under a temporary name, then renamed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from hgad.reporting.numbers import AUROC_METRICS, auroc_numbers
from hgad.runtime.atomic import PathLike, replace_atomically

_COLORS = {"image_auroc": "tab:blue", "pixel_auroc": "tab:orange"}
_LABELS = {"image_auroc": "image", "pixel_auroc": "pixel"}
_LINESTYLES = ("-", "--", ":", "-.")


def _save(fig: Figure, out_png: PathLike, out_pdf: PathLike | None) -> None:
    for path in (out_png, out_pdf):
        if path is not None:
            file_format = Path(path).suffix.lstrip(".")
            replace_atomically(path, lambda tmp, f=file_format: fig.savefig(tmp, format=f))


class _Bars(NamedTuple):
    """One bar per category: ``values`` (fractions), ``std`` for error bars (None: no bars)."""

    label: str
    metric: str
    values: pd.Series
    std: pd.Series | None
    paper: bool


def _bar_series(numbers: pd.DataFrame) -> list[_Bars]:
    """The bars of each group: ours (image, pixel), then the paper's when it has numbers."""
    bars = []
    for metric in AUROC_METRICS:
        std = numbers[f"{metric}_std"]
        bars.append(_Bars(f"{_LABELS[metric]} (ours)", metric, numbers[f"{metric}_mean"],
                          std.fillna(0.0) if std.notna().any() else None, paper=False))
    if "paper_image_auroc" in numbers:
        bars += [_Bars(f"{_LABELS[m]} (paper)", m, numbers[f"paper_{m}"], None, paper=True)
                 for m in AUROC_METRICS]
    return bars


def auroc_bars(dataset: str, long: pd.DataFrame, paper: pd.DataFrame, out_png: PathLike,
               out_pdf: PathLike | None = None) -> None:
    """Grouped bars of image and pixel AUROC (percent) per category plus the mean.

    Ours with error bars of the std over seeds (with more than one seed), the paper's (hatched)
    beside them when the paper reports ``dataset``. ``long`` is
    :func:`hgad.reporting.tables.collect`'s output.
    """
    numbers = auroc_numbers(dataset, long, paper)
    bars = _bar_series(numbers)
    positions = np.arange(len(numbers))
    width = 0.8 / len(bars)
    fig = Figure(figsize=(min(24.0, max(6.0, 0.2 * len(numbers) * len(bars) + 2.0)), 4.5),
                 layout="constrained")
    ax = fig.add_subplot()
    for i, bar in enumerate(bars):
        ax.bar(positions + (i - (len(bars) - 1) / 2) * width, 100 * bar.values, width,
               yerr=None if bar.std is None else 100 * bar.std, capsize=2, label=bar.label,
               color=_COLORS[bar.metric], alpha=0.5 if bar.paper else 1.0,
               hatch="//" if bar.paper else None, edgecolor="black", linewidth=0.4)
    lowest = np.nanmin([100 * bar.values.min() for bar in bars])
    ax.set_ylim(max(0.0, np.floor(lowest / 5) * 5 - 5), 101)
    ax.set_xticks(positions, list(numbers.index), rotation=45, ha="right")
    ax.set_ylabel("AUROC (%)")
    seeds = long["seed"].nunique()
    ax.set_title(f"HGAD on {dataset}: AUROC per category ({seeds} seed{'s' * (seeds > 1)})")
    fig.legend(loc="outside lower center", fontsize="small", ncols=len(bars))
    ax.grid(axis="y", alpha=0.3)
    _save(fig, out_png, out_pdf)


def epoch_losses(log_csv: PathLike) -> pd.DataFrame:
    """Mean total loss per (level, meta_epoch, sub_epoch) of one training loss log.

    Columns ``level, meta_epoch, sub_epoch, total`` and ``step``: the sub-epoch's position in
    training (0, 1, ... over all meta-epochs).
    """
    log = pd.read_csv(log_csv, usecols=["meta_epoch", "sub_epoch", "level", "total"])
    means = log.groupby(["level", "meta_epoch", "sub_epoch"], as_index=False)["total"].mean()
    return means.assign(step=means.groupby(["meta_epoch", "sub_epoch"]).ngroup())


def loss_curves(log_csvs: Mapping[int, PathLike], out_png: PathLike,
                out_pdf: PathLike | None = None) -> None:
    """Total loss (mean per sub-epoch) over training: one line per (seed, level).

    ``log_csvs`` maps each seed to its training loss log; colour marks the level, line style
    the seed.
    """
    fig = Figure(figsize=(7.0, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for n, seed in enumerate(sorted(log_csvs)):
        linestyle = _LINESTYLES[n % len(_LINESTYLES)]
        for level, curve in epoch_losses(log_csvs[seed]).groupby("level"):
            ax.plot(curve["step"], curve["total"], color=f"C{int(level) % 10}",
                    linestyle=linestyle, label=f"seed {seed}, level {level}")
    ax.set_xlabel("sub-epoch (in training order, over all meta-epochs)")
    ax.set_ylabel("total loss (mean per sub-epoch)")
    ax.set_title("HGAD training loss per level")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    _save(fig, out_png, out_pdf)



_CURVE_PANELS = (("image_roc", "image ROC", "false positive rate", "true positive rate"),
                 ("pixel_roc", "pixel ROC", "false positive rate", "true positive rate"),
                 ("pro", "per-region overlap", "false positive rate", "PRO"))


def _category_color(index: int, count: int):
    if count <= 10:
        return f"C{index}"
    return colormaps["tab20" if count <= 20 else "turbo"](
        index if count <= 20 else index / max(1, count - 1))


def roc_pro_curves(curves: Mapping[str, Mapping[str, tuple[ArrayLike, ArrayLike]]],
                   out_png: PathLike, out_pdf: PathLike | None = None,
                   title: str = "HGAD: ROC and PRO curves per category") -> None:
    """One figure, three panels: image ROC, pixel ROC and PRO curve, one line per category.

    ``curves[category]`` holds ``image_roc``, ``pixel_roc`` and ``pro``, each an (x, y) pair as
    returned by :func:`hgad.evaluation.metrics.roc_curve_points` /
    :func:`hgad.evaluation.metrics.pro_curve_points` (a missing entry is skipped). The PRO panel's x
    axis ends at the largest FPR of its curves (the ``max_fpr`` they were cut at).
    """
    fig = Figure(figsize=(15.0, 5.2), layout="constrained")
    axes = fig.subplots(1, 3)
    names = list(curves)
    for ax, (key, name, xlabel, ylabel) in zip(axes, _CURVE_PANELS, strict=True):
        x_max = 0.0
        for i, category in enumerate(names):
            if key not in curves[category]:
                continue
            x, y = (np.asarray(v, dtype=float) for v in curves[category][key])
            x_max = max(x_max, float(x.max()) if x.size else 0.0)
            ax.plot(x, y, color=_category_color(i, len(names)), linewidth=1.2, label=category)
        if key == "pro":
            ax.set_xlim(0, x_max if x_max > 0 else 1)
        else:
            ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=0.8)
            ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
        ax.set_title(name)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    if names:
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper",
                   fontsize="small", ncols=1 if len(names) <= 20 else 2)
    _save(fig, out_png, out_pdf)


def _as_display_image(image: ArrayLike) -> np.ndarray:
    """An image for ``imshow``: uint8 kept, floats clipped to [0, 1]."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    return np.clip(image.astype(np.float32), 0.0, 1.0)


def qualitative_grid(rows: list[Mapping], out_png: PathLike, out_pdf: PathLike | None = None,
                     title: str | None = None) -> None:
    """A grid with one row per example: image, ground truth, anomaly map over the image.

    Each row is a dict with ``image`` (H x W x 3 uint8, or float in [0, 1]; H x W is shown in
    grey), ``mask`` (bool h x w), ``map`` (float h x w) and ``title``. The map and the ground truth
    are stretched over the image's extent, so they may be smaller than it (e.g. msk_size 256 for a
    1024 image). Every map of the figure shares one colour scale, the minimum to the maximum over
    all rows, shown by one colour bar; the ground truth's outline is drawn on the overlay.
    """
    if not rows:
        raise ValueError("qualitative_grid needs at least one example")
    maps = [np.asarray(row["map"], dtype=np.float32) for row in rows]
    vmin = min(float(m.min()) for m in maps)
    vmax = max(float(m.max()) for m in maps)
    if vmax <= vmin:
        vmax = vmin + 1.0
    fig = Figure(figsize=(9.0, 2.9 * len(rows) + 0.6), layout="constrained")
    axes = fig.subplots(len(rows), 3, squeeze=False)
    heat = None
    for r, (row, anomaly) in enumerate(zip(rows, maps, strict=True)):
        image = _as_display_image(row["image"])
        height, width = image.shape[:2]
        extent = (0, width, height, 0)
        mask = np.asarray(row["mask"]).astype(bool)
        grey = "gray" if image.ndim == 2 else None
        ax_image, ax_mask, ax_map = axes[r]
        ax_image.imshow(image, cmap=grey, extent=extent)
        ax_image.set_ylabel(str(row.get("title", "")), fontsize="small")
        ax_mask.imshow(mask, cmap="gray", vmin=0, vmax=1, extent=extent, interpolation="nearest")
        ax_map.imshow(image, cmap=grey, extent=extent)
        heat = ax_map.imshow(anomaly, cmap="jet", alpha=0.5, vmin=vmin, vmax=vmax, extent=extent)
        if mask.any() and not mask.all():
            ax_map.contour(mask.astype(float), levels=[0.5], colors="white", linewidths=0.8,
                           extent=extent, origin="upper")
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
        if r == 0:
            ax_image.set_title("image")
            ax_mask.set_title("ground truth")
            ax_map.set_title("anomaly map")
    opaque = ScalarMappable(norm=heat.norm, cmap=heat.cmap)  # the overlay itself is translucent
    fig.colorbar(opaque, ax=axes[:, 2].tolist(), shrink=0.8, label="anomaly score")
    if title:
        fig.suptitle(title)
    _save(fig, out_png, out_pdf)


def select_examples(image_scores: ArrayLike, labels: ArrayLike,
                    k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Indices of anomalous images to show: (best, worst), each at most ``k`` long.

    best: the ``k`` anomalous images (label non-zero) with the highest scores, highest first
    (best detected); worst: the ``k`` with the lowest scores, lowest first. Ties keep the input
    order. With fewer than 2k anomalous images the two may share indices; with none both are
    empty.
    """
    scores = np.asarray(image_scores, dtype=float).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    if scores.shape != labels.shape:
        raise ValueError(f"image_scores and labels differ in length: {scores.size} vs "
                         f"{labels.size}")
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    anomalous = np.flatnonzero(labels != 0)
    ascending = anomalous[np.argsort(scores[anomalous], kind="stable")]
    descending = anomalous[np.argsort(-scores[anomalous], kind="stable")]
    return descending[:k], ascending[:k]
