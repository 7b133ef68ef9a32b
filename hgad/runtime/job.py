"""The preamble of the workflow's rule scripts (workflow/scripts/): log, warnings, threads,
settings, GPU.

Nothing here depends on Snakemake: the functions take the ``snakemake`` object a rule script is
given and read only its ``log``, ``threads`` and ``params.settings``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from hgad.runtime.config import Settings, settings_from_config
from hgad.runtime.gpu import claim_gpu
from hgad.runtime.result_warnings import record_result_warnings

if TYPE_CHECKING:
    import torch

WEIGHTS_CACHE = "resources/huggingface"  # the Hugging Face cache, on the nodes' shared disk


def redirect_log(snakemake) -> None:
    """Send stderr (warnings, progress bars, tracebacks) to the rule's log file; warnings that
    change what a result means also go to the file the end of the run prints
    (:func:`hgad.runtime.result_warnings.record_result_warnings`)."""
    sys.stderr = open(snakemake.log[0], "w")  # open for the job's lifetime
    record_result_warnings(snakemake.log[0])


def use_weights_cache(offline: bool) -> None:
    """Point Hugging Face at :data:`WEIGHTS_CACHE` (unless ``HF_HOME`` is set); ``offline``:
    read only from it. Call before timm or huggingface_hub is imported: they read it then."""
    os.environ.setdefault("HF_HOME", os.path.abspath(WEIGHTS_CACHE))
    if offline:
        os.environ["HF_HUB_OFFLINE"] = "1"


@contextmanager
def torch_job(snakemake) -> Iterator[tuple[Settings, torch.device]]:
    """Set torch's threads to the rule's, hold a GPU of its own (:func:`hgad.runtime.gpu.claim_gpu`)
    and yield (settings, torch device) for the job's work."""
    # torch only here: the plotting and table jobs share this module and stay free of it.
    import torch

    from hgad.runtime.device import resolve_device

    torch.set_num_threads(snakemake.threads)
    settings = settings_from_config(snakemake.params.settings)
    with claim_gpu(settings.device):
        yield settings, resolve_device(settings.device)
