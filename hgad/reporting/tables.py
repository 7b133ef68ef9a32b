"""Result tables per dataset: ours (mean ± std over seeds) beside the paper's published numbers.

Reads the per-seed metrics JSON files written by :func:`hgad.evaluation.evaluate.evaluate` and
writes each table as Markdown (:mod:`hgad.reporting.formatting`: percent with one decimal as in the
paper) and CSV (:mod:`hgad.reporting.numbers`: the unformatted fractions), atomically.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import pandas as pd

from hgad.reporting.formatting import (
    BASELINE_NOTE,
    CONDITIONING_NOTE,
    MISSING,
    NAN_NOTE,
    demo_note,
    document,
    format_auroc,
    full_table,
    mean_caveat,
    source_line,
    table_notes,
)
from hgad.reporting.numbers import (
    AUROC_METRICS,
    BASELINE_LABELS,
    auroc_numbers,
    baseline_numbers,
    baseline_stats,
    collect,
    commits,
    has_variants,
    load_paper_results,
    seed_stats,
    summary_table,
)
from hgad.reporting.selection import best_note, best_selected
from hgad.runtime.atomic import PathLike, replace_atomically


def _write_text(path: PathLike, text: str) -> None:
    replace_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _write_csv(path: PathLike, numbers: pd.DataFrame) -> None:
    _write_text(path, numbers.to_csv(float_format="%.6f"))


def write_tables(dataset: str, metrics_files: Mapping[int, PathLike], out_md: PathLike,
                 out_csv: PathLike, out_full_md: PathLike | None = None,
                 out_full_csv: PathLike | None = None,
                 paper_path: PathLike | None = None,
                 snapshot_files: Mapping[int, PathLike] | None = None,
                 baseline_files: Mapping[str, PathLike] | None = None,
                 generated: bool = False) -> pd.DataFrame:
    """Write the AUROC table (Markdown, CSV of :func:`auroc_numbers`) and optionally the table
    of every metric (Markdown, CSV of :func:`seed_stats`); returns the formatted AUROC table.

    ``metrics_files`` maps each seed to its metrics JSON (the final model: the headline);
    ``snapshot_files`` each seed to its per-snapshot AUROC CSV, which adds the clearly marked
    test-set-selected columns of :func:`best_selected`; ``baseline_files`` each baseline's
    metrics JSON, which adds its row group (:func:`baseline_numbers`). ``generated``: the
    dataset is generated (``generate: demo``), and its tables say they are no benchmark. Every
    file is written atomically.
    """
    long = collect(metrics_files)
    seed_commits = commits(metrics_files)
    paper = load_paper_results(paper_path)
    numbers = auroc_numbers(dataset, long, paper)
    best = best_selected(snapshot_files) if snapshot_files else pd.DataFrame()
    numbers = numbers.join(best)
    table = format_auroc(numbers)
    auroc_nan = long[long["metric"].isin(AUROC_METRICS)]["value"].isna().any()
    notes = table_notes(dataset, seed_commits, mean_caveat(dataset, long, paper),
                        with_paper="paper_image_auroc" in numbers,
                        best=best_note(best.attrs["epochs"]) if not best.empty else None,
                        with_nan=auroc_nan, generated=generated)
    if has_variants(numbers):
        notes.append(CONDITIONING_NOTE)
    if baseline_files:
        baselines = baseline_numbers(baseline_files)
        numbers = pd.concat([numbers, baselines])
        table = pd.concat([table, format_auroc(baselines)]).fillna(MISSING)
        notes.append(BASELINE_NOTE)
    _write_text(out_md, document(f"HGAD on {dataset}: image and pixel AUROC", notes, table))
    _write_csv(out_csv, numbers)
    if out_full_md is not None:
        notes = table_notes(dataset, seed_commits, caveat=None, with_paper=False,
                            with_nan=long["value"].isna().any(), generated=generated)
        _write_text(out_full_md, document(f"HGAD on {dataset}: all metrics", notes,
                                           full_table(dataset, long)))
    if out_full_csv is not None:
        _write_csv(out_full_csv, seed_stats(long))
    return table


def write_summary(metrics_files: Mapping[str, Mapping[int, PathLike]], out_md: PathLike,
                  out_csv: PathLike, paper_path: PathLike | None = None,
                  baseline_files: Mapping[str, Mapping[str, PathLike]] | None = None,
                  generated: Collection[str] = ()) -> pd.DataFrame:
    """Write the whole run's table: the ``mean`` row of every dataset's AUROC table.

    ``metrics_files`` maps each dataset to its ``{seed: metrics JSON}``, ``baseline_files``
    each dataset to its ``{baseline: metrics JSON}`` (a row ``<dataset> (kNN baseline)`` each).
    The Markdown lists each dataset's seeds and commits; the CSV holds the fractions of
    :func:`summary_table` over :func:`auroc_numbers`; the datasets in ``generated`` get the
    no-benchmark note of :func:`write_tables`. Returns the formatted summary.
    """
    paper = load_paper_results(paper_path)
    longs = {dataset: collect(files) for dataset, files in metrics_files.items()}
    numbers = summary_table({dataset: auroc_numbers(dataset, long, paper)
                             for dataset, long in longs.items()})
    table = format_auroc(numbers, variant_pairs=False)
    baseline_means = {f"{dataset} ({BASELINE_LABELS[name]})": baseline_stats(path)
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
        notes.append(NAN_NOTE)
    if "paper_image_auroc" in numbers:
        notes.append("Paper: the numbers published for HGAD (ECCV 2024). Δ = ours − paper, in"
                     " percentage points; – where the paper has no such dataset.")
    caveats = [mean_caveat(dataset, long, paper) for dataset, long in longs.items()]
    notes += [f"> Note: {caveat}" for caveat in caveats if caveat is not None]
    if has_variants(numbers):
        notes.append(CONDITIONING_NOTE)
    if baseline_means:
        notes.append(BASELINE_NOTE)
    notes += [demo_note(dataset) for dataset in metrics_files if dataset in generated]
    _write_text(out_md, document("HGAD: mean over categories per dataset", notes, table))
    _write_csv(out_csv, numbers)
    return table
