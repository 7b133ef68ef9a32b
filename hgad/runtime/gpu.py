"""GPU placement: each concurrent GPU job of one workstation gets a GPU of its own.

Snakemake's ``--resources gpu=N`` only counts GPUs; it never says which one a job should use, so
every job would open ``cuda:0``. :func:`claim_gpu` takes an exclusive ``flock`` on one of the
lock files ``<lock_dir>/gpu<ID>.lock`` (one per GPU, first free one wins) and sets
``CUDA_VISIBLE_DEVICES=<ID>`` for the job's process before torch initialises CUDA, so the job's
``cuda`` is that GPU. The kernel releases the lock when the job ends, even when it is killed.

- The GPUs to choose from: the entries of ``CUDA_VISIBLE_DEVICES`` when it is set, otherwise
  ``0..N-1`` with N from ``HGAD_GPU_COUNT`` or the number of GPUs of the machine.
- Under SLURM (``SLURM_JOB_ID`` set) nothing changes: the job uses the GPU SLURM allocated to it
  (SLURM sets ``CUDA_VISIBLE_DEVICES``). ``HGAD_GPU_PLACEMENT=off`` disables placement too.
- ``device: cpu``, ``mps`` and an explicit ``cuda:N`` claim nothing; neither does a machine
  without GPUs (then :func:`hgad.runtime.device.resolve_device` fails for ``cuda`` and falls back to
  Apple's MPS or the CPU for ``auto``).
- When every GPU is held (more GPU jobs than GPUs, e.g. ``--resources gpu=`` larger than the
  machine's count) the job waits, up to ``HGAD_GPU_WAIT_S`` seconds (default 600), then fails.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_DIR = Path(".snakemake") / "gpu-locks"
# CUDA_VISIBLE_DEVICES as it was before each active claim of this process (claims may nest).
_before_claims: list[str | None] = []


def wants_placement(device: str) -> bool:
    """Whether a job with this ``device`` setting should claim a GPU here."""
    if device not in ("auto", "cuda"):
        return False  # cpu, or an explicit cuda:N chosen by the user
    if os.environ.get("HGAD_GPU_PLACEMENT", "on").lower() in ("off", "0", "false", "no"):
        return False
    return "SLURM_JOB_ID" not in os.environ


def candidate_gpus(count: int | None = None) -> list[str]:
    """The GPU ids to choose from (see the module's documentation)."""
    visible = _before_claims[0] if _before_claims else os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [entry.strip() for entry in visible.split(",") if entry.strip()]
    if count is None:
        env = os.environ.get("HGAD_GPU_COUNT")
        count = int(env) if env else _machine_gpu_count()
    return [str(index) for index in range(count)]


def _machine_gpu_count() -> int:
    """The machine's GPUs, counted without initialising CUDA in this process."""
    import torch

    if not torch.backends.cuda.is_built():
        return 0
    count = torch.cuda._device_count_nvml()  # NVML: leaves CUDA_VISIBLE_DEVICES still settable
    if count >= 0:
        return count
    child = subprocess.run([sys.executable, "-c", "import torch; print(torch.cuda.device_count())"],
                           capture_output=True, text=True, check=True)
    return int(child.stdout.strip() or 0)


def _lock_name(gpu: str) -> str:
    return "gpu" + re.sub(r"[^\w.-]", "_", gpu) + ".lock"


def _try_lock(path: Path):
    import fcntl  # POSIX only, imported here so that the module (and the workflow) loads on Windows

    handle = open(path, "a+")  # noqa: SIM115 - held open for the lock's lifetime
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


@contextmanager
def claim_gpu(device: str, lock_dir: str | os.PathLike = LOCK_DIR, *, count: int | None = None,
              timeout: float | None = None, poll: float = 1.0) -> Iterator[str | None]:
    """Hold one GPU for the ``with`` block; yields its id, or None when nothing was claimed.

    ``count`` overrides the number of GPUs (tests); ``timeout`` the wait for a free one.
    """
    if not wants_placement(device):
        yield None
        return
    if "torch" in sys.modules and sys.modules["torch"].cuda.is_initialized():
        raise RuntimeError("claim_gpu must run before CUDA is initialised in this process")
    gpus = candidate_gpus(count)
    if not gpus:
        yield None
        return
    if timeout is None:
        timeout = float(os.environ.get("HGAD_GPU_WAIT_S", 600))
    folder = Path(lock_dir).absolute()
    folder.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    while True:
        claimed = next(((gpu, handle) for gpu in gpus
                        if (handle := _try_lock(folder / _lock_name(gpu))) is not None), None)
        if claimed is not None:
            break
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"no free GPU after {timeout:.0f} s: all of {', '.join(gpus)} are held by other "
                f"jobs (lock files in {folder}). Run with --resources gpu=N where N is at most "
                "the number of GPUs, or raise HGAD_GPU_WAIT_S.")
        time.sleep(poll)
    gpu, handle = claimed
    previous = os.environ.get("CUDA_VISIBLE_DEVICES")
    _before_claims.append(previous)
    os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    print(f"hgad.runtime.gpu: this job uses GPU {gpu} (CUDA_VISIBLE_DEVICES={gpu})",
          file=sys.stderr)
    try:
        yield gpu
    finally:
        _before_claims.pop()
        if previous is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = previous
        handle.close()  # releases the flock
