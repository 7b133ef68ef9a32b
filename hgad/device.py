"""Device selection: ``auto`` | ``cpu`` | ``cuda`` | ``cuda:N``."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import torch


def resolve_device(name: str) -> torch.device:
    """The torch device for a config value; a requested CUDA device that is missing is an error.

    ``auto`` takes CUDA when available and falls back to the CPU with a warning otherwise.
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        warnings.warn("device 'auto': no CUDA device available, running on the CPU", stacklevel=2)
        return torch.device("cpu")
    device = torch.device(name)
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
