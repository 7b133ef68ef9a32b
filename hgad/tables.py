"""Result tables per dataset: ours (mean ± std over seeds) beside the paper's published numbers.

Inputs are the per-seed metrics JSON files written by :func:`hgad.evaluate.evaluate`. Any key of
a category's dict that does not start with ``num_`` is a metric, a fraction in [0, 1]. Tables
show percent with one decimal as in the paper; the CSV files keep the unformatted fractions.

Standard deviations are sample standard deviations over seeds (``ddof=1``), so a single seed
has none. The ``mean`` row is the mean over categories within each seed, then mean ± std of
those per-seed means over seeds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from hgad.atomic import PathLike, replace_atomically

PAPER_RESULTS = Path(__file__).parent / "resources" / "paper_results.csv"
AUROC_METRICS = ("image_auroc", "pixel_auroc")
# Class-conditioning variants beside the headline oracle: metrics prefixed "<variant>_".
CONDITIONED = ("predicted", "agnostic")
BASELINE_LABELS = {"knn": "kNN baseline"}
_CONDITIONING_NOTE = ("Predicted / Agnostic: the same model told no category: scored under the"
                      " category it predicts itself, or under the whole mixture (docs/method.md,"
                      " \"Class conditioning at test time\"). The headline is the paper's oracle"
                      " (the true category).")
_BASELINE_NOTE = ("kNN baseline: nearest-neighbour distance to the category's training features,"
                  " on the same cached features, maps and metrics (docs/method.md).")
MISSING = "–"
NOT_AVAILABLE = "n/a"  # our metric is NaN: the category's test set cannot give it
BEST_LABEL = "Best† Image/Pixel (test-selected)"
BEST_EPOCHS_LABEL = "Best† sub-epoch (image / pixel)"
_BEST_NOTE = ("† Paper protocol, not a result: the reference code evaluates on the test set after"
              " every sub-epoch and reports the best image and the best pixel AUROC, each at its"
              " own sub-epoch. That selects the model on the test data. The headline columns are"
              " the final model's.")
_NAN_NOTE = ("n/a: the metric needs normal and anomalous test images (pixels, for the pixel"
             " metrics), and the category's test set lacks one of them. Means over categories"
             " skip n/a: they are over the categories that have the metric.")
_WORDS = {"image": "Image", "pixel": "Pixel", "auroc": "AUROC", "ap": "AP", "f1": "F1",
          "iou": "IoU", "aupro": "AUPRO",
          "predicted": "Predicted", "agnostic": "Agnostic"}
_DEMO_NOTE = ("> The `demo` dataset is a smoke test of the pipeline, not a benchmark: its numbers"
              " say nothing about how well HGAD detects anomalies.")



# --- the paper's numbers -------------------------------------------------------------------

def load_paper_results(path: PathLike | None = None) -> pd.DataFrame:
    """The paper's published numbers, one row per (setting, dataset, category).

    Columns ``setting, dataset, category`` (strings; BTAD's ``01`` stays ``01``) and
    ``image_auroc, pixel_auroc`` (fractions). Default: the copy packaged with hgad.
    """
    return pd.read_csv(PAPER_RESULTS if path is None else path,
                       dtype={"setting": str, "dataset": str, "category": str})


def paper_numbers(paper: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """The paper's ``image_auroc, pixel_auroc`` for ``dataset``, indexed by our category names.

    The index is named ``category`` and includes the paper's ``mean`` row. In the Union setting
    categories are dataset-qualified (``mvtec/bottle``). A dataset the paper does not report
    (``demo``, a user's folder) gives an empty frame.
    """
    rows = paper[paper["setting"] == dataset]
    qualified = rows["dataset"] + "/" + rows["category"]
    names = rows["category"].where(rows["dataset"] == dataset, qualified)
    names = names.where(rows["category"] != "mean", "mean")
    frame = rows[list(AUROC_METRICS)].set_axis(pd.Index(names, name="category"))
    return frame.astype(float)


# --- our numbers ---------------------------------------------------------------------------

def _read_json(path: PathLike) -> dict:
    return json.loads(Path(path).read_text())


def collect(metrics_files: Mapping[int, PathLike]) -> pd.DataFrame:
    """Every metric of every category from the per-seed metrics JSON files, in long format.

    Columns ``seed`` (int), ``category``, ``metric`` (str) and ``value`` (float; NaN where the
    JSON has none), in seed order, then the JSON's category and metric order. The JSON's
    ``mean`` entry is not included: tables recompute it from the categories.
    """
    if not metrics_files:
        raise ValueError("no metrics files to collect")
    rows = [(seed, category, metric, value)
            for seed in sorted(metrics_files)
            for category, values in _read_json(metrics_files[seed])["categories"].items()
            for metric, value in values.items() if not metric.startswith("num_")]
    long = pd.DataFrame(rows, columns=["seed", "category", "metric", "value"])
    return long.astype({"seed": int, "category": str, "metric": str, "value": float})


def commits(metrics_files: Mapping[int, PathLike]) -> dict[int, str]:
    """The commit that trained each seed's model (``training_provenance.commit`` of its metrics
    JSON; ``provenance.commit``, the evaluation's, in files without it)."""
    found = {}
    for seed, path in sorted(metrics_files.items()):
        content = _read_json(path)
        source = content.get("training_provenance") or content.get("provenance", {})
        found[seed] = source.get("commit", "unknown")
    return found


def seed_values(long: pd.DataFrame) -> pd.DataFrame:
    """One row per (category, seed) plus (``mean``, seed), one column per metric.

    The ``mean`` rows hold each seed's mean over categories. Categories keep their order in
    ``long``.
    """
    order = pd.MultiIndex.from_frame(long[["category", "seed"]].drop_duplicates())
    wide = long.set_index(["category", "seed", "metric"])["value"].unstack("metric")
    wide = wide.reindex(index=order, columns=long["metric"].unique())
    wide.columns.name = None
    mean = pd.concat({"mean": wide.groupby(level="seed").mean()}, names=["category"])
    return pd.concat([wide, mean])


def seed_stats(long: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds: one row per category plus ``mean``, as fractions.

    Columns ``<metric>_mean`` and ``<metric>_std`` for every metric (std NaN with one seed).
    """
    values = seed_values(long)
    grouped = values.groupby(level="category", sort=False)
    stats = pd.concat([grouped.mean().add_suffix("_mean"), grouped.std().add_suffix("_std")],
                      axis=1)
    return stats[[f"{metric}_{stat}" for metric in values.columns for stat in ("mean", "std")]]


def auroc_numbers(dataset: str, long: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """The numbers behind :func:`auroc_table`, as fractions: one row per category plus ``mean``.

    Columns ``image_auroc_mean, image_auroc_std, pixel_auroc_mean, pixel_auroc_std`` and, when
    the paper reports ``dataset``, ``paper_image_auroc, paper_pixel_auroc`` and
    ``delta_image_auroc, delta_pixel_auroc`` (ours minus paper; NaN for a category the paper
    lacks); the same mean and std columns prefixed ``predicted_`` and ``agnostic_`` for each
    class-conditioning variant the metrics hold.
    """
    stats = seed_stats(long)
    metrics = [f"{prefix}{m}" for prefix in ("", *(f"{v}_" for v in CONDITIONED))
               for m in AUROC_METRICS]
    numbers = stats[[f"{m}_{s}" for m in metrics for s in ("mean", "std") if f"{m}_mean" in stats]]
    reference = paper_numbers(paper, dataset)
    if reference.empty:
        return numbers
    reference = reference.reindex(numbers.index)
    paper_cols = {f"paper_{m}": reference[m] for m in AUROC_METRICS}
    delta_cols = {f"delta_{m}": numbers[f"{m}_mean"] - reference[m] for m in AUROC_METRICS}
    return numbers.assign(**paper_cols, **delta_cols)


def best_selected(snapshot_files: Mapping[int, PathLike]) -> pd.DataFrame:
    """The paper protocol's test-set-selected "best", from per-snapshot AUROC tables.

    For each seed and each of image/pixel AUROC separately, the snapshot with the highest mean
    over categories is chosen (on the test set: this is model selection on test data); the
    per-category values at that snapshot are then averaged over seeds. One row per category plus
    ``mean``; columns ``best_<metric>_mean``, ``best_<metric>_std`` and ``best_<metric>_epochs``
    (the chosen sub-epoch of each seed, e.g. ``"16, 24"``); ``attrs["epochs"]`` lists the
    sub-epochs it chose among. Seeds without snapshots are left out; without any, the frame has
    no columns.
    """
    tables = {seed: pd.read_csv(path, dtype={"category": str}, keep_default_na=False,
                                na_values={metric: [""] for metric in AUROC_METRICS})
              for seed, path in snapshot_files.items()}
    tables = {seed: table for seed, table in tables.items() if not table.empty}
    if not tables:  # no snapshot was kept (snapshot_every larger than the schedule)
        return pd.DataFrame(index=pd.Index([], name="category"))
    columns = {}
    for metric in AUROC_METRICS:
        chosen, epochs = [], []
        for seed, table in tables.items():
            wide = table.pivot(index="epoch", columns="category", values=metric)
            means = wide.mean(axis=1)  # skips NaN (a category without anomalies)
            best_epoch = means.idxmax() if means.notna().any() else means.index[-1]
            row = wide.loc[best_epoch]
            chosen.append(pd.concat([row, pd.Series({"mean": row.mean()})]).rename(seed))
            epochs.append(str(best_epoch))
        values = pd.concat(chosen, axis=1)
        columns[f"best_{metric}_mean"] = values.mean(axis=1)
        columns[f"best_{metric}_std"] = values.std(axis=1)
        columns[f"best_{metric}_epochs"] = pd.Series(", ".join(epochs), index=values.index)
    best = pd.DataFrame(columns).rename_axis("category")
    best.attrs["epochs"] = sorted({int(e) for table in tables.values() for e in table["epoch"]})
    return best


def baseline_numbers(baseline_files: Mapping[str, PathLike]) -> pd.DataFrame:
    """Each baseline's image and pixel AUROC per category plus ``mean`` (fractions), one row
    group per baseline indexed ``kNN baseline: <category>``; columns as :func:`auroc_numbers`'s
    first four (std NaN: a baseline is one deterministic run). ``baseline_files`` maps a
    baseline's name (``knn``) to its metrics JSON."""
    groups = []
    for name, path in baseline_files.items():
        stats = _baseline_stats(path)
        groups.append(stats.set_axis([f"{BASELINE_LABELS[name]}: {category}"
                                      for category in stats.index]).rename_axis("category"))
    return pd.concat(groups)


def _baseline_stats(path: PathLike) -> pd.DataFrame:
    stats = seed_stats(collect({0: path}))
    return stats[[f"{m}_{s}" for m in AUROC_METRICS for s in ("mean", "std")]]


def _has_variants(numbers: pd.DataFrame) -> bool:
    return any(f"{variant}_image_auroc_mean" in numbers for variant in CONDITIONED)


# --- formatting ----------------------------------------------------------------------------

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


def summary_table(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The ``mean`` row of each dataset's table, one row per dataset (index ``dataset``).

    Works for formatted tables and for numbers alike; columns are the union of the tables'
    columns (NaN where a dataset's table lacks one, e.g. the paper's numbers for ``demo``).
    """
    rows = pd.concat([table.loc[["mean"]] for table in tables.values()])
    return rows.set_axis(pd.Index(list(tables), name="dataset"))


# --- files ---------------------------------------------------------------------------------

def _write_text(path: PathLike, text: str) -> None:
    replace_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _write_csv(path: PathLike, numbers: pd.DataFrame) -> None:
    _write_text(path, numbers.to_csv(float_format="%.6f"))


def _markdown(table: pd.DataFrame) -> str:
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


def _document(heading: str, notes: list[str], table: pd.DataFrame) -> str:
    return "\n\n".join([f"# {heading}", *notes, _markdown(table)]) + "\n"


def mean_caveat(dataset: str, long: pd.DataFrame, paper: pd.DataFrame) -> str | None:
    """A warning when our categories differ from the paper's, so the two means differ in kind."""
    ours = set(long["category"])
    theirs = set(paper_numbers(paper, dataset).index) - {"mean"}
    if not theirs or ours == theirs:
        return None
    return (f"{dataset}: the paper's `mean` is over its {len(theirs)} categories, ours over the"
            f" {len(ours)} run here ({len(ours & theirs)} in common), so Δ on the `mean` row"
            " compares different sets of categories.")


def best_note(epochs: list[int]) -> str:
    """The † note, saying which sub-epochs (sorted ``epochs``) the selection chose among."""
    steps = set(np.diff([0, *epochs]))
    if steps == {1}:
        chosen = "Here too it chose among the snapshots of every sub-epoch."
    elif len(steps) == 1:
        chosen = (f"Here it chose among snapshots taken every {epochs[0]} sub-epochs only"
                  f" (after sub-epochs {epochs[0]}, {2 * epochs[0]}, …, {epochs[-1]};"
                  " `train.snapshot_every`), not after every sub-epoch as the reference code.")
    else:
        chosen = (f"Here it chose among the snapshots of sub-epochs {', '.join(map(str, epochs))}"
                  " only.")
    return f"{_BEST_NOTE} {chosen}"


def _notes(dataset: str, seed_commits: Mapping[int, str], caveat: str | None,
           with_paper: bool, best: str | None = None, with_nan: bool = False) -> list[str]:
    notes = [source_line(seed_commits),
             "Percent; mean ± standard deviation over seeds. The `mean` row is the mean over"
             " categories within each seed, then over seeds."]
    if with_nan:
        notes.append(_NAN_NOTE)
    if with_paper:
        notes.append("Paper: the numbers published for HGAD (ECCV 2024). Δ = ours − paper, in"
                     " percentage points.")
    if best is not None:
        notes.append(best)
    if caveat is not None:
        notes.append(f"> Note: {caveat}")
    if dataset == "demo":
        notes.append(_DEMO_NOTE)
    return notes


def write_tables(dataset: str, metrics_files: Mapping[int, PathLike], out_md: PathLike,
                 out_csv: PathLike, out_full_md: PathLike | None = None,
                 out_full_csv: PathLike | None = None,
                 paper_path: PathLike | None = None,
                 snapshot_files: Mapping[int, PathLike] | None = None,
                 baseline_files: Mapping[str, PathLike] | None = None) -> pd.DataFrame:
    """Write the AUROC table (Markdown, CSV of :func:`auroc_numbers`) and optionally the table
    of every metric (Markdown, CSV of :func:`seed_stats`); returns the formatted AUROC table.

    ``metrics_files`` maps each seed to its metrics JSON (the final model: the headline);
    ``snapshot_files`` each seed to its per-snapshot AUROC CSV, which adds the clearly marked
    test-set-selected columns of :func:`best_selected`; ``baseline_files`` each baseline's
    metrics JSON, which adds its row group (:func:`baseline_numbers`). Every file is written
    atomically.
    """
    long = collect(metrics_files)
    seed_commits = commits(metrics_files)
    paper = load_paper_results(paper_path)
    numbers = auroc_numbers(dataset, long, paper)
    best = best_selected(snapshot_files) if snapshot_files else pd.DataFrame()
    numbers = numbers.join(best)
    table = format_auroc(numbers)
    auroc_nan = long[long["metric"].isin(AUROC_METRICS)]["value"].isna().any()
    notes = _notes(dataset, seed_commits, mean_caveat(dataset, long, paper),
                   with_paper="paper_image_auroc" in numbers,
                   best=best_note(best.attrs["epochs"]) if not best.empty else None,
                   with_nan=auroc_nan)
    if _has_variants(numbers):
        notes.append(_CONDITIONING_NOTE)
    if baseline_files:
        baselines = baseline_numbers(baseline_files)
        numbers = pd.concat([numbers, baselines])
        table = pd.concat([table, format_auroc(baselines)]).fillna(MISSING)
        notes.append(_BASELINE_NOTE)
    _write_text(out_md, _document(f"HGAD on {dataset}: image and pixel AUROC", notes, table))
    _write_csv(out_csv, numbers)
    if out_full_md is not None:
        notes = _notes(dataset, seed_commits, caveat=None, with_paper=False,
                       with_nan=long["value"].isna().any())
        _write_text(out_full_md, _document(f"HGAD on {dataset}: all metrics", notes,
                                           full_table(dataset, long)))
    if out_full_csv is not None:
        _write_csv(out_full_csv, seed_stats(long))
    return table


def write_summary(metrics_files: Mapping[str, Mapping[int, PathLike]], out_md: PathLike,
                  out_csv: PathLike, paper_path: PathLike | None = None,
                  baseline_files: Mapping[str, Mapping[str, PathLike]] | None = None
                  ) -> pd.DataFrame:
    """Write the whole run's table: the ``mean`` row of every dataset's AUROC table.

    ``metrics_files`` maps each dataset to its ``{seed: metrics JSON}``, ``baseline_files``
    each dataset to its ``{baseline: metrics JSON}`` (a row ``<dataset> (kNN baseline)`` each).
    The Markdown lists each dataset's seeds and commits; the CSV holds the fractions of
    :func:`summary_table` over :func:`auroc_numbers`. Returns the formatted summary.
    """
    paper = load_paper_results(paper_path)
    longs = {dataset: collect(files) for dataset, files in metrics_files.items()}
    numbers = summary_table({dataset: auroc_numbers(dataset, long, paper)
                             for dataset, long in longs.items()})
    table = format_auroc(numbers, variant_pairs=False)
    baseline_means = {f"{dataset} ({BASELINE_LABELS[name]})": _baseline_stats(path)
                      for dataset, files in (baseline_files or {}).items()
                      for name, path in files.items()}
    if baseline_means:
        baselines = summary_table(baseline_means)
        numbers = pd.concat([numbers, baselines])
        table = pd.concat([table, format_auroc(baselines)]).fillna(MISSING)
    sources = [f"- {dataset}: {source_line(commits(files))}"
               for dataset, files in metrics_files.items()]
    notes = ["\n".join(sources),
             "Percent; mean over categories, mean ± standard deviation over seeds."]
    if any(long[long["metric"].isin(AUROC_METRICS)]["value"].isna().any()
           for long in longs.values()):
        notes.append(_NAN_NOTE)
    if "paper_image_auroc" in numbers:
        notes.append("Paper: the numbers published for HGAD (ECCV 2024). Δ = ours − paper, in"
                     " percentage points; – where the paper has no such dataset.")
    caveats = [mean_caveat(dataset, long, paper) for dataset, long in longs.items()]
    notes += [f"> Note: {caveat}" for caveat in caveats if caveat is not None]
    if _has_variants(numbers):
        notes.append(_CONDITIONING_NOTE)
    if baseline_means:
        notes.append(_BASELINE_NOTE)
    if "demo" in metrics_files:
        notes.append(_DEMO_NOTE)
    _write_text(out_md, _document("HGAD: mean over categories per dataset", notes, table))
    _write_csv(out_csv, numbers)
    return table
