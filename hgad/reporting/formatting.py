"""The result tables as text: percent with one decimal as in the paper, ``± std`` over seeds,
column labels, the notes under each table's heading, Markdown.

The numbers come from :mod:`hgad.reporting.numbers` (fractions); nothing here computes one.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from hgad.reporting.numbers import (
    AUROC_METRICS,
    CONDITIONED,
    auroc_numbers,
    paper_numbers,
    seed_stats,
)

CONDITIONING_NOTE = ("Predicted / Agnostic: the same model told no category: scored under the"
                      " category it predicts itself, or under the whole mixture (docs/method.md,"
                      " \"Class conditioning at test time\"). The headline is the paper's oracle"
                      " (the true category).")
BASELINE_NOTE = ("kNN baseline: nearest-neighbour distance to the category's training features,"
                  " on the same cached features, maps and metrics (docs/method.md).")
MISSING = "–"
NOT_AVAILABLE = "n/a"  # our metric is NaN: the category's test set cannot give it
BEST_LABEL = "Best† Image/Pixel (test-selected)"
BEST_EPOCHS_LABEL = "Best† sub-epoch (image / pixel)"
NAN_NOTE = ("n/a: the metric needs normal and anomalous test images (pixels, for the pixel"
             " metrics), and the category's test set lacks one of them. Means over categories"
             " skip n/a: they are over the categories that have the metric.")
_WORDS = {"image": "Image", "pixel": "Pixel", "auroc": "AUROC", "ap": "AP", "f1": "F1",
          "iou": "IoU", "aupro": "AUPRO", "seg": "Seg",
          "predicted": "Predicted", "agnostic": "Agnostic"}


def _label(metric: str) -> str:
    """``image_f1_max`` -> ``Image F1 max``."""
    return " ".join(_WORDS.get(word, word) for word in metric.split("_"))


def _pct(value: float) -> str:
    return MISSING if pd.isna(value) else f"{100 * value:.1f}"


def _ours(value: float) -> str:
    """One of our numbers: NaN is a metric the test set cannot give, ``n/a``."""
    return NOT_AVAILABLE if pd.isna(value) else _pct(value)


def _pct_std(mean: float, std: float) -> str:
    """``98.4 ± 0.3``; just ``98.4`` without a std (one seed); ``n/a`` for NaN."""
    return _ours(mean) if pd.isna(std) or pd.isna(mean) else f"{_pct(mean)} ± {100 * std:.1f}"


def _points(delta: float) -> str:
    """A signed difference in percentage points: ``+0.2``, ``-1.1`` (never ``-0.0``)."""
    return MISSING if pd.isna(delta) else f"{round(100 * delta, 1) + 0.0:+.1f}"


def _pair(first: pd.Series, second: pd.Series, fmt) -> pd.Series:
    return pd.Series([f"{fmt(a)}/{fmt(b)}" for a, b in zip(first, second, strict=True)],
                     index=first.index, dtype=object)


def _pct_std_column(numbers: pd.DataFrame, metric: str) -> pd.Series:
    pairs = zip(numbers[f"{metric}_mean"], numbers[f"{metric}_std"], strict=True)
    return pd.Series([_pct_std(m, s) for m, s in pairs], index=numbers.index, dtype=object)


def format_auroc(numbers: pd.DataFrame, variant_pairs: bool = True) -> pd.DataFrame:
    """:func:`auroc_numbers` (or rows of it) as the paper's table; see :func:`auroc_table`.

    Each class-conditioning variant adds a column pair ``Predicted Image/Pixel``; or, without
    ``variant_pairs``, one column ``Image AUROC oracle / predicted / agnostic`` holds them all.
    """
    image, pixel = AUROC_METRICS
    table = pd.DataFrame({_label(m): _pct_std_column(numbers, m) for m in AUROC_METRICS})
    table["Image/Pixel AUROC"] = _pair(numbers[f"{image}_mean"], numbers[f"{pixel}_mean"], _ours)
    variants = [v for v in CONDITIONED if f"{v}_{image}_mean" in numbers]
    for variant in variants if variant_pairs else []:
        table[f"{_label(variant)} Image/Pixel"] = _pair(numbers[f"{variant}_{image}_mean"],
                                                         numbers[f"{variant}_{pixel}_mean"], _ours)
    if variants and not variant_pairs:
        columns = [numbers[f"{image}_mean"], *(numbers[f"{v}_{image}_mean"] for v in variants)]
        table[" / ".join(["Image AUROC oracle", *variants])] = pd.Series(
            [" / ".join(map(_ours, values)) for values in zip(*columns, strict=True)],
            index=numbers.index, dtype=object)
    if f"paper_{image}" in numbers:
        table["Paper Image/Pixel"] = _pair(numbers[f"paper_{image}"], numbers[f"paper_{pixel}"],
                                           _pct)
        table["Δ Image/Pixel"] = _pair(numbers[f"delta_{image}"], numbers[f"delta_{pixel}"],
                                       _points)
    if f"best_{image}_mean" in numbers:
        table[BEST_LABEL] = _pair(numbers[f"best_{image}_mean"], numbers[f"best_{pixel}_mean"],
                                  _ours)
        table[BEST_EPOCHS_LABEL] = (numbers[f"best_{image}_epochs"].astype(str) + " / "
                                    + numbers[f"best_{pixel}_epochs"].astype(str))
    return table


def auroc_table(dataset: str, long: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """The paper's per-category layout: one row per category plus ``mean``, strings.

    Columns ``Image AUROC`` and ``Pixel AUROC`` (percent, one decimal, ``98.4 ± 0.3`` with more
    than one seed), ``Image/Pixel AUROC`` (``98.4/97.9``, means) and, when the paper reports
    ``dataset``, ``Paper Image/Pixel`` and ``Δ Image/Pixel`` (ours minus paper in points,
    ``+0.2/-1.1``). ``–`` marks a missing number. ``long`` is :func:`collect`'s output.
    """
    return format_auroc(auroc_numbers(dataset, long, paper))


def full_table(dataset: str, long: pd.DataFrame) -> pd.DataFrame:
    """Every metric per category plus ``mean``: percent, one decimal, ``± std`` over seeds.

    One column per metric, labelled like ``Image F1 max``; ``table.attrs["dataset"]`` names the
    dataset. ``long`` is :func:`collect`'s output.
    """
    stats = seed_stats(long)
    table = pd.DataFrame({_label(m): _pct_std_column(stats, m) for m in long["metric"].unique()})
    table.attrs["dataset"] = dataset
    return table


def markdown(table: pd.DataFrame) -> str:
    """A pipe table; numbers stay as formatted (no re-parsing: ``01`` stays ``01``)."""
    return table.to_markdown(disable_numparse=True, missingval=MISSING,
                             colalign=("left",) + ("right",) * len(table.columns))


def _seeds(seeds: list[int]) -> str:
    return ("seeds " if len(seeds) > 1 else "seed ") + ", ".join(map(str, seeds))


def source_line(seed_commits: Mapping[int, str]) -> str:
    """Where the numbers came from: ``Seeds 0, 1, from commit abc123.`` or, with several,
    ``Seeds 0, 1, from commits abc123 (seed 0), def456 (seed 1).``"""
    by_commit: dict[str, list[int]] = {}
    for seed, commit in sorted(seed_commits.items()):
        by_commit.setdefault(commit, []).append(seed)
    if len(by_commit) == 1:
        sources = f"commit {next(iter(by_commit))}"
    else:
        sources = "commits " + ", ".join(f"{commit} ({_seeds(seeds)})"
                                         for commit, seeds in by_commit.items())
    return f"{_seeds(sorted(seed_commits)).capitalize()}, from {sources}."


def document(heading: str, notes: list[str], table: pd.DataFrame) -> str:
    return "\n\n".join([f"# {heading}", *notes, markdown(table)]) + "\n"


def mean_caveat(dataset: str, long: pd.DataFrame, paper: pd.DataFrame) -> str | None:
    """A warning when our categories differ from the paper's, so the two means differ in kind."""
    ours = set(long["category"])
    theirs = set(paper_numbers(paper, dataset).index) - {"mean"}
    if not theirs or ours == theirs:
        return None
    return (f"{dataset}: the paper's `mean` is over its {len(theirs)} categories, ours over the"
            f" {len(ours)} run here ({len(ours & theirs)} in common), so Δ on the `mean` row"
            " compares different sets of categories.")


def table_notes(dataset: str, seed_commits: Mapping[int, str], caveat: str | None,
                with_paper: bool, best: str | None = None, with_nan: bool = False,
                generated: bool = False) -> list[str]:
    """The notes under a dataset table's heading: sources, what the numbers are, caveats."""
    notes = [source_line(seed_commits),
             "Percent; mean ± standard deviation over seeds. The `mean` row is the mean over"
             " categories within each seed, then over seeds."]
    if with_nan:
        notes.append(NAN_NOTE)
    if with_paper:
        notes.append("Paper: the numbers published for HGAD (ECCV 2024). Δ = ours − paper, in"
                     " percentage points.")
    if best is not None:
        notes.append(best)
    if caveat is not None:
        notes.append(f"> Note: {caveat}")
    if generated:
        notes.append(demo_note(dataset))
    return notes


def demo_note(dataset: str) -> str:
    """The note under a generated dataset's tables (``generate: demo``): no benchmark."""
    return (f"> The `{dataset}` dataset is a smoke test of the pipeline, not a benchmark: its"
            " numbers say nothing about how well HGAD detects anomalies.")
