"""What a test needs: a missing requirement skips it (fails it with CI=true), and `make test-fast`
leaves out every test that runs Snakemake, the session's workflow run included."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from needs import missing

from hgad.runtime.compilation import cpp_compiler

pytest_plugins = ["pytester"]
REPO = Path(__file__).resolve().parent.parent


def test_a_missing_requirement_skips_outside_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="install chromium"):
        missing("no chromium: install chromium")


def test_a_missing_requirement_fails_with_ci_true(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(BaseException) as raised:  # a skip too, which would skip this test
        missing("no chromium: install chromium")
    assert raised.type is pytest.fail.Exception
    assert raised.match("CI=true.*install chromium")


def test_the_compiler_is_the_one_cxx_names(monkeypatch, tmp_path):
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    assert cpp_compiler() is None
    monkeypatch.setenv("CXX", sys.executable)
    assert cpp_compiler() == sys.executable


def test_fast_selection_leaves_out_every_workflow_test(pytester):
    """The Makefile's test-fast expression on the modules whose tests all run Snakemake (through
    the shared ``tiny_run`` fixture or their own): nothing is left."""
    fast = re.search(r"^FAST := (.+)$", (REPO / "Makefile").read_text(), re.MULTILINE).group(1)
    modules = [str(REPO / "tests" / name) for name in (
        "test_workflow.py", "test_report.py", "test_slurm.py", "test_workflow_datasets.py")]
    collected = pytester.runpytest_inprocess("--collect-only", "-q", "-p", "no:cacheprovider",
                                             f"--rootdir={REPO}", "-m", fast, *modules)
    assert "::" not in collected.stdout.str(), collected.stdout.str()
    assert re.search(r"no tests collected \(\d+ deselected\)", collected.stdout.str()), \
        collected.stdout.str()
