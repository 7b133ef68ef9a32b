"""Warnings that change what a result means: the job side writes them beside the job's log, the
end of a workflow run prints those of its jobs (hgad/runtime/result_warnings.py)."""

from __future__ import annotations

import io
import os
import sys
import warnings
from types import SimpleNamespace

import pytest

from hgad.runtime.job import redirect_log
from hgad.runtime.result_warnings import (
    ResultWarning,
    print_run_warnings,
    warning_stamps,
    warnings_file,
)


@pytest.fixture
def job_log(tmp_path, monkeypatch):
    """A job's log file under tmp_path/logs, the job preamble run on it (stderr restored after)."""
    log = tmp_path / "logs" / "manifest" / "demo.log"
    log.parent.mkdir(parents=True)
    warnings_file(log).write_text("a warning of an earlier run\n")
    monkeypatch.setattr(sys, "stderr", sys.stderr)
    with warnings.catch_warnings():  # restores showwarning, which the preamble extends
        warnings.simplefilter("always")
        redirect_log(SimpleNamespace(log=[str(log)]))
        handle = sys.stderr
        yield log
    handle.close()


def test_the_job_writes_its_result_warnings_beside_its_log(job_log):
    assert not warnings_file(job_log).exists()  # the earlier run's file is gone
    warnings.warn("category moon: no anomalous test image", ResultWarning, stacklevel=1)
    warnings.warn("device 'auto': running on the CPU", UserWarning, stacklevel=1)
    warnings.warn("metrics of\n  grass are NaN", ResultWarning, stacklevel=1)
    assert warnings_file(job_log).read_text() == ("category moon: no anomalous test image\n"
                                                  "metrics of grass are NaN\n")


def test_the_end_of_the_run_prints_the_warnings_of_its_jobs(tmp_path):
    logs = tmp_path / "logs"
    old, rerun, new = (warnings_file(logs / name) for name in
                       ("train/demo_seed0.log", "manifest/demo.log", "evaluate/demo_seed0.log"))
    for path, text in ((old, "earlier run\n"), (rerun, "before\n")):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    before = warning_stamps(logs)
    rerun.write_text("dataset demo, category moon: no anomalous image\n")
    os.utime(rerun, ns=(before[rerun] + 10**9,) * 2)  # rewritten later (coarse clocks)
    new.parent.mkdir()
    new.write_text("demo/moon: test images: 0 anomalous of 12\nsecond\n")
    printed = io.StringIO()
    print_run_warnings(logs, before, printed)
    assert printed.getvalue().splitlines() == [
        f"Warnings that change what a result means (also in each job's log under {logs}/):",
        "  evaluate/demo_seed0:",
        "    demo/moon: test images: 0 anomalous of 12",
        "    second",
        "  manifest/demo:",
        "    dataset demo, category moon: no anomalous image"]
    quiet = io.StringIO()
    print_run_warnings(logs, warning_stamps(logs), quiet)
    assert quiet.getvalue() == ""
