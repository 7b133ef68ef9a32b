"""Warnings that change what a result means, carried from the workflow's jobs to the console.

A job's log holds every warning of the job. Those of :class:`ResultWarning` (a category whose
test set holds no anomalous image, image counts that differ from the published ones, metrics
that are NaN, a checkpoint set aside so that training starts from scratch, a finished checkpoint
reused) are also written to ``<log>.warnings`` beside it (:func:`record_result_warnings`,
rewritten atomically at each warning), and the Snakefile's ``onsuccess`` and ``onerror``
handlers print those of the jobs of this run at its end, grouped by job
(:func:`print_run_warnings`).
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import TextIO

from hgad.runtime.atomic import replace_atomically

SUFFIX = ".warnings"


class ResultWarning(UserWarning):
    """A warning that changes what a result means: printed again at the end of a workflow run."""


def warnings_file(log_path: str | os.PathLike) -> Path:
    """Where the :class:`ResultWarning` messages of the job logging to ``log_path`` go."""
    return Path(f"{log_path}{SUFFIX}")


def record_result_warnings(log_path: str | os.PathLike) -> None:
    """From now on, also write every :class:`ResultWarning` shown in this process to
    :func:`warnings_file` of ``log_path``, one line each; a file of an earlier run of the job
    is removed first."""
    path = warnings_file(log_path)
    path.unlink(missing_ok=True)
    recorded: list[str] = []
    show = warnings.showwarning

    def show_and_record(message, category, filename, lineno, file=None, line=None):
        show(message, category, filename, lineno, file, line)
        if issubclass(category, ResultWarning):
            recorded.append(" ".join(str(message).split()))
            text = "".join(f"{entry}\n" for entry in recorded)
            replace_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))

    warnings.showwarning = show_and_record


def warning_stamps(log_root: str | os.PathLike) -> dict[Path, int]:
    """{warnings file: its mtime_ns} of every job under ``log_root``: taken when a run starts,
    it tells the files written by the run's jobs from those left by earlier runs."""
    return {path: path.stat().st_mtime_ns for path in sorted(Path(log_root).rglob(f"*{SUFFIX}"))}


def run_warnings(log_root: str | os.PathLike, before: dict[Path, int]) -> dict[str, list[str]]:
    """{job (its log's path below ``log_root``, no suffix): its warnings} of the warnings files
    written since the stamps ``before`` (:func:`warning_stamps`)."""
    jobs = {}
    for path, stamp in warning_stamps(log_root).items():
        if before.get(path) != stamp:
            job = str(path.relative_to(log_root)).removesuffix(SUFFIX)
            jobs[os.path.splitext(job)[0]] = path.read_text(encoding="utf-8").splitlines()
    return jobs


def print_run_warnings(log_root: str | os.PathLike, before: dict[Path, int],
                       stream: TextIO | None = None) -> None:
    """Print the :func:`run_warnings` grouped by job (nothing when there are none)."""
    jobs = run_warnings(log_root, before)
    if not jobs:
        return
    lines = ["Warnings that change what a result means (also in each job's log under "
             f"{log_root}/):"]
    for job, messages in jobs.items():
        lines += [f"  {job}:", *(f"    {message}" for message in messages)]
    print("\n".join(lines), file=stream or sys.stderr)
