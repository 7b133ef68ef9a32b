"""What a test needs: a missing requirement skips it (fails it with CI=true), and `make test-fast`
leaves out every test that runs Snakemake, the session's workflow run included."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from needs import cpp_compiler, missing

REPO = Path(__file__).resolve().parent.parent


def test_a_missing_requirement_skips_outside_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="install chromium"):
        missing("no chromium: install chromium")


def test_a_missing_requirement_fails_with_ci_true(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true.*install chromium"):
        missing("no chromium: install chromium")


def test_the_compiler_is_the_one_cxx_names(monkeypatch, tmp_path):
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    assert cpp_compiler() is None
    monkeypatch.setenv("CXX", sys.executable)
    assert cpp_compiler() == sys.executable


def test_fast_selection_leaves_out_every_workflow_test():
    """The Makefile's test-fast expression on the modules whose tests all run Snakemake (through
    the shared ``tiny_run`` fixture or their own): nothing is left."""
    fast = re.search(r"^FAST := (.+)$", (REPO / "Makefile").read_text(), re.MULTILINE).group(1)
    modules = ["tests/test_workflow.py", "tests/test_report.py", "tests/test_slurm.py",
               "tests/test_workflow_datasets.py"]
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-m", fast, *modules], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert "::" not in collected.stdout, collected.stdout
    assert re.search(r"0 selected|no tests collected|deselected", collected.stdout), \
        collected.stdout + collected.stderr
