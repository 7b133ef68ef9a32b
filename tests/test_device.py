"""Device selection (hgad/runtime/device.py) with monkeypatched CUDA/MPS availability, and what MPS
needs: the CPU fallback variable set before torch loads, and no float64 computation."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest
import torch
from tiny import CPU, Run, run_train
from torch.utils._python_dispatch import TorchDispatchMode

import hgad
from hgad.evaluation.evaluate import evaluate
from hgad.features.extract import extract_features
from hgad.runtime.config import validate_config
from hgad.runtime.device import resolve_device


@pytest.fixture
def machine(monkeypatch):
    """Set which accelerators this 'machine' has: ``machine(cuda=..., mps=...)``."""
    monkeypatch.setenv("PYTORCH_ENABLE_MPS_FALLBACK", "1")
    monkeypatch.setattr(hgad, "torch_imported_first", False)

    def have(cuda: bool, mps: bool) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: int(cuda))
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    return have


def no_warning(name: str) -> torch.device:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return resolve_device(name)


def test_auto_takes_cuda_then_mps_then_cpu(machine):
    machine(cuda=True, mps=True)
    assert no_warning("auto") == torch.device("cuda")
    machine(cuda=False, mps=True)
    assert no_warning("auto") == torch.device("mps")
    machine(cuda=False, mps=False)
    with pytest.warns(UserWarning, match="no CUDA device available, running on the CPU"):
        assert resolve_device("auto") == torch.device("cpu")
    assert no_warning("cpu") == torch.device("cpu")


def test_explicit_devices_that_are_missing_fail_clearly(machine):
    machine(cuda=False, mps=False)
    with pytest.raises(RuntimeError, match="'mps' requested but Apple's MPS is not available"):
        resolve_device("mps")
    with pytest.raises(RuntimeError, match="'cuda' requested but CUDA is not available"):
        resolve_device("cuda")
    machine(cuda=True, mps=True)
    assert no_warning("mps") == torch.device("mps")
    with pytest.raises(RuntimeError, match="'cuda:1' requested but only 1 CUDA device"):
        resolve_device("cuda:1")


@pytest.mark.parametrize("fallback_off", ["variable is 0", "torch imported first"])
def test_mps_without_the_cpu_fallback_warns(machine, monkeypatch, fallback_off):
    machine(cuda=False, mps=True)
    if fallback_off == "variable is 0":
        monkeypatch.setenv("PYTORCH_ENABLE_MPS_FALLBACK", "0")
    else:
        monkeypatch.setattr(hgad, "torch_imported_first", True)
    for name in ("mps", "auto"):
        with pytest.warns(UserWarning, match="PYTORCH_ENABLE_MPS_FALLBACK was not 1 when torch"):
            assert resolve_device(name) == torch.device("mps")


def test_hgad_enables_the_mps_fallback_before_torch_loads():
    """torch reads the variable once, at import: importing hgad first must have set it."""
    env = {k: v for k, v in os.environ.items() if k != "PYTORCH_ENABLE_MPS_FALLBACK"}
    probe = ("import os; {first}; import hgad; "
             "print(os.environ['PYTORCH_ENABLE_MPS_FALLBACK'], hgad.torch_imported_first)")
    for first, expected in (("pass", "1 False"), ("import torch", "1 True")):
        out = subprocess.run([sys.executable, "-c", probe.format(first=first)], env=env,
                             capture_output=True, text=True, check=True).stdout.strip()
        assert out == expected


def test_config_accepts_mps_and_names_bad_devices():
    datasets = {"d": {"layout": "mvtec", "root": "/data"}}
    validate_config({"datasets": datasets, "device": "mps"})
    with pytest.raises(ValueError, match="device: 'metal' does not match"):
        validate_config({"datasets": datasets, "device": "metal"})


class Float64Spy(TorchDispatchMode):
    """Records every torch operator that computes in float64 (MPS has no float64).

    Turning float64 host data into a float32 tensor (``torch.FloatTensor(numpy_array)``, as
    FrEIA does for its permutations) happens on the CPU before anything moves, so it is allowed.
    """

    def __init__(self):
        super().__init__()
        self.ops: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func is not torch.ops.aten.lift_fresh.default:  # wraps host data as it is
            checked = out if func is torch.ops.aten._to_copy.default else (args, kwargs, out)
            if any(isinstance(t, torch.Tensor) and t.dtype == torch.float64
                   for t in torch.utils._pytree.tree_leaves(checked)):
                self.ops.add(str(func))
        return out


def test_extraction_training_and_scoring_use_no_float64(tmp_path, manifest_path, caches,
                                                         tiny_settings):
    spy = Float64Spy()
    with spy:
        extract_features(manifest_path, "test", tmp_path / "features", tiny_settings.features,
                         CPU)
        run = Run.at(tmp_path / "run")
        run_train(run, caches, manifest_path, tiny_settings)
        evaluate(run.model, manifest_path, caches.test, tmp_path / "m.json", tmp_path / "m.csv",
                 tmp_path / "maps", tiny_settings, CPU)
    assert not spy.ops, f"float64 tensors, which MPS cannot hold, in {sorted(spy.ops)}"
