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
from matplotlib.figure import Figure

from hgad.tables import AUROC_METRICS, PathLike, auroc_numbers, replace_atomically

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
    :func:`hgad.tables.collect`'s output.
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

