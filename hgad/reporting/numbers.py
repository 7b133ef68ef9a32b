"""The numbers behind the result tables, as fractions: ours per seed and over seeds, the paper's,
the baselines'.

Inputs are the per-seed metrics JSON files written by :func:`hgad.evaluation.evaluate.evaluate`. Any
key of a category's dict that does not start with ``num_`` is a metric, a fraction in [0, 1].

Standard deviations are sample standard deviations over seeds (``ddof=1``), so a single seed
has none. The ``mean`` row is the mean over categories within each seed, then mean ± std of
those per-seed means over seeds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from hgad.runtime.atomic import PathLike

PAPER_RESULTS = Path(__file__).parents[1] / "resources" / "paper_results.csv"
AUROC_METRICS = ("image_auroc", "pixel_auroc")
# Class-conditioning variants beside the headline oracle: metrics prefixed "<variant>_".
CONDITIONED = ("predicted", "agnostic")
BASELINE_LABELS = {"knn": "kNN baseline"}


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


def baseline_numbers(baseline_files: Mapping[str, PathLike]) -> pd.DataFrame:
    """Each baseline's image and pixel AUROC per category plus ``mean`` (fractions), one row
    group per baseline indexed ``kNN baseline: <category>``; columns as :func:`auroc_numbers`'s
    first four (std NaN: a baseline is one deterministic run). ``baseline_files`` maps a
    baseline's name (``knn``) to its metrics JSON."""
    groups = []
    for name, path in baseline_files.items():
        stats = baseline_stats(path)
        groups.append(stats.set_axis([f"{BASELINE_LABELS[name]}: {category}"
                                      for category in stats.index]).rename_axis("category"))
    return pd.concat(groups)


def baseline_stats(path: PathLike) -> pd.DataFrame:
    """A baseline's image and pixel AUROC mean and std per category plus ``mean``."""
    stats = seed_stats(collect({0: path}))
    return stats[[f"{m}_{s}" for m in AUROC_METRICS for s in ("mean", "std")]]


def has_variants(numbers: pd.DataFrame) -> bool:
    """Whether ``numbers`` hold a class-conditioning variant's columns."""
    return any(f"{variant}_image_auroc_mean" in numbers for variant in CONDITIONED)


def summary_table(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The ``mean`` row of each dataset's table, one row per dataset (index ``dataset``).

    Works for formatted tables and for numbers alike; columns are the union of the tables'
    columns (NaN where a dataset's table lacks one, e.g. the paper's numbers for ``demo``).
    """
    rows = pd.concat([table.loc[["mean"]] for table in tables.values()])
    return rows.set_axis(pd.Index(list(tables), name="dataset"))
