"""``train.compile``: true and false as given; ``auto`` compiles long CPU runs where a C++
compiler is found, and a run it leaves eager is the eager run, bit for bit."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from tiny import CPU, Run, run_train

import hgad.runtime.compilation
from hgad.model.model_file import load_model
from hgad.runtime.compilation import AUTO_MIN_STEPS, compile_decision


@pytest.mark.parametrize("setting", [True, False])
def test_true_and_false_are_as_given(setting):
    assert compile_decision(setting, "cpu", 1) == (setting, "")
    assert compile_decision(setting, "cuda", 10 * AUTO_MIN_STEPS) == (setting, "")


def test_auto_compiles_long_cpu_runs_only(monkeypatch):
    monkeypatch.setenv("CXX", "sh")  # a program that exists: the compiler is found
    compiled, why = compile_decision("auto", "cpu", AUTO_MIN_STEPS)
    assert compiled and f"{AUTO_MIN_STEPS} steps" in why
    compiled, why = compile_decision("auto", "cpu", AUTO_MIN_STEPS - 1)
    assert not compiled and f"eager ({AUTO_MIN_STEPS - 1} steps per level" in why
    compiled, why = compile_decision("auto", "cuda", 10 * AUTO_MIN_STEPS)
    assert not compiled and "eager on cuda" in why


def test_auto_without_a_compiler_stays_eager_and_says_so(monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler-here")
    compiled, why = compile_decision("auto", "cpu", 10 * AUTO_MIN_STEPS)
    assert not compiled and "no C++ compiler found" in why


def _auto(settings):
    return dataclasses.replace(settings, train=dataclasses.replace(settings.train, compile="auto"))


def test_a_short_auto_run_is_the_eager_fp32_run(tmp_path, trained, caches, manifest_path,
                                                tiny_settings, capsys):
    """Nothing of compiled training (not even its fused Adam) leaks into a run ``auto`` leaves
    eager: the fp32 loss log and weights equal the plain run's bit for bit."""
    run = Run.at(tmp_path / "auto")
    run_train(run, caches, manifest_path, _auto(tiny_settings))
    assert "train.compile auto: training eager (" in capsys.readouterr().err
    assert run.log.read_bytes() == trained.log.read_bytes()
    expected = load_model(trained.model, CPU).state_dict()
    for name, tensor in load_model(run.model, CPU).state_dict().items():
        assert torch.equal(tensor, expected[name]), name


def test_a_long_auto_run_trains_through_compiled_flows(tmp_path, monkeypatch, caches,
                                                       manifest_path, tiny_settings, capsys):
    """Above the threshold (lowered here to the tiny run's length) every level's flow is
    compiled for training (``torch.compile`` stands in here: the real one is
    test_train.py's)."""
    compiled = []
    monkeypatch.setattr(hgad.runtime.compilation, "AUTO_MIN_STEPS", 1)
    monkeypatch.setenv("CXX", "sh")
    monkeypatch.setattr(torch, "compile", lambda flow: compiled.append(flow) or flow)
    run_train(Run.at(tmp_path / "auto"), caches, manifest_path, _auto(tiny_settings))
    assert len(compiled) == tiny_settings.features.levels
    assert "train.compile auto: training compiled (" in capsys.readouterr().err


def test_the_documents_state_the_threshold():
    """config/README.md and docs/performance.md give ``AUTO_MIN_STEPS``'s value as it is."""
    repo = Path(__file__).resolve().parents[1]
    row = next(line for line in (repo / "config" / "README.md").read_text().splitlines()
               if line.startswith("| `train.compile` |"))
    assert f"`AUTO_MIN_STEPS` ({AUTO_MIN_STEPS})" in row
    performance = " ".join((repo / "docs" / "performance.md").read_text().split())
    assert f"at least {AUTO_MIN_STEPS:,} steps per level (`AUTO_MIN_STEPS`" in performance
