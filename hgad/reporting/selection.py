"""The paper protocol's test-set-selected "best" (docs/method.md#model-selection): chosen per
seed among the snapshots' AUROC tables, reported only in clearly marked columns."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from hgad.reporting.numbers import AUROC_METRICS
from hgad.runtime.atomic import PathLike

_BEST_NOTE = ("† Paper protocol, not a result: the reference code evaluates on the test set after"
              " every sub-epoch and reports the best image and the best pixel AUROC, each at its"
              " own sub-epoch. That selects the model on the test data. The headline columns are"
              " the final model's.")


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


def best_note(epochs: list[int]) -> str:
    """The † note, saying which sub-epochs (sorted ``epochs``) the selection chose among."""
    steps = set(np.diff([0, *epochs]))
    if steps == {1}:
        chosen = ("Here too it chose among the models after every sub-epoch"
                  " (`train.score_every_sub_epoch` or `train.snapshot_every: 1`).")
    elif len(steps) == 1:
        chosen = (f"Here it chose among snapshots taken every {epochs[0]} sub-epochs only"
                  f" (after sub-epochs {epochs[0]}, {2 * epochs[0]}, …, {epochs[-1]};"
                  " `train.snapshot_every`), not after every sub-epoch as the reference code"
                  " (`train.score_every_sub_epoch` does that).")
    else:
        chosen = (f"Here it chose among the snapshots of sub-epochs {', '.join(map(str, epochs))}"
                  " only.")
    return f"{_BEST_NOTE} {chosen}"
