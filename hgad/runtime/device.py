"""Device selection: ``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` | ``mps``.

``auto`` takes CUDA, then Apple's MPS (Apple silicon, macOS 14+), then the CPU. Nothing the
model sends to the device is float64, which MPS lacks; operators MPS lacks run on the CPU
(``PYTORCH_ENABLE_MPS_FALLBACK``, set by ``hgad/__init__.py``).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import torch

import hgad

MPS_FALLBACK = "PYTORCH_ENABLE_MPS_FALLBACK"
# The arithmetic of a `precision` setting: None is plain float32, else torch.autocast's dtype.
PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16}


def precision_autocast(device: torch.device,
                       precision: str) -> contextlib.AbstractContextManager:
    """The context that runs ``precision`` (a key of :data:`PRECISIONS`) on ``device``: nothing
    for fp32 (the float32 path untouched), ``torch.autocast`` in its dtype otherwise."""
    dtype = PRECISIONS[precision]
    return contextlib.nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


def resolve_device(name: str) -> torch.device:
    """The torch device for a config value; a requested device that is missing is an error.

    ``auto`` without CUDA or MPS falls back to the CPU with a warning.
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return _mps()
        warnings.warn("device 'auto': no CUDA device available, running on the CPU "
                      "(no Apple MPS either)", stacklevel=2)
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "mps":
        if not torch.backends.mps.is_available():
            raise RuntimeError(f"device {name!r} requested but Apple's MPS is not available here "
                               "(it needs Apple silicon, macOS 14+ and torch's macOS arm64 wheel; "
                               "set device: cpu or auto)")
        return _mps()
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {name!r} requested but CUDA is not available here "
                               "(set device: cpu or auto)")
        index = device.index or 0
        if index >= torch.cuda.device_count():
            raise RuntimeError(f"device {name!r} requested but only {torch.cuda.device_count()} "
                               "CUDA device(s) are visible (CUDA_VISIBLE_DEVICES="
                               f"{os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>')})")
    return device


@contextmanager
def float32_matmuls(device: torch.device, allow_tf32: bool) -> Iterator[None]:
    """On CUDA, float32 matmuls may use TF32 tensor cores inside the block only if ``allow_tf32``.

    The setting is process-wide: it is restored on leaving, so scoring after training in the same
    process is not affected.
    """
    if device.type != "cuda":
        yield
        return
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = allow_tf32
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous


def _mps() -> torch.device:
    if os.environ.get(MPS_FALLBACK) != "1" or hgad.torch_imported_first:
        warnings.warn(f"{MPS_FALLBACK} was not 1 when torch was imported: an operator that MPS "
                      "lacks will stop the run instead of running on the CPU (set it to 1 before "
                      "Python starts, or import hgad before torch)", stacklevel=3)
    return torch.device("mps")
