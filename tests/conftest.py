"""Shared tiny fixtures, all session-scoped so that they are built once.

In-process: tests/tiny.py (a 2-category demo dataset at 64 px, its caches, a trained model), a
plugin this file loads in every process that runs tests.

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
from pathlib import Path

import pytest
from needs import missing
from workflow_runner import TINY_RUN, BackgroundRun, WorkflowRun

from hgad.runtime.compilation import cpp_compiler


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


@pytest.hookimpl(trylast=True)  # after pytest-cov has started measuring (make coverage)
def pytest_sessionstart(session):
    """Loads tests/tiny.py in a process that runs tests."""
    if _runs_tests(session.config):
        session.config.pluginmanager.import_plugin("tiny")


def _runs_tests(config: pytest.Config) -> bool:
    """Whether this process runs tests: not pytest-xdist's controller, which hands them out."""
    return hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None)


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
