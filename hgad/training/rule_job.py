"""The workflow's train rule: :func:`hgad.training.train.train` on the rule's files.

Its two scripts call it: workflow/scripts/train.py alone, workflow/scripts/train_scored.py with
the test scoring after every sub-epoch as the hook (``train.score_every_sub_epoch``), so that
only the scored one's code digest covers evaluation code. Nothing here depends on Snakemake: the
function reads the ``input``, ``output``, ``params.checkpoints`` and ``wildcards.seed`` of the
``snakemake`` object a rule script is given.
"""

from __future__ import annotations

from pathlib import Path

import torch

from hgad.runtime.config import Settings
from hgad.training.train import SubEpochHook, train


def train_rule_job(snakemake, settings: Settings, device: torch.device,
                   on_sub_epoch_end: SubEpochHook | None = None) -> Path:
    """Train the rule's seed on its training cache into its model file, loss log and checkpoint
    folder; ``on_sub_epoch_end`` as :func:`hgad.training.train.train` takes it."""
    return train(snakemake.input.train_cache, snakemake.input.manifest, snakemake.output.model,
                 snakemake.output.loss_log, snakemake.params.checkpoints, settings,
                 int(snakemake.wildcards.seed), device, on_sub_epoch_end=on_sub_epoch_end)
