"""GPU placement (hgad/runtime/gpu.py) without a GPU: the GPU count is injected."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hgad.runtime.gpu import claim_gpu, wants_placement

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    """No scheduler, no GPU selection inherited from the shell running the tests."""
    for name in ("SLURM_JOB_ID", "CUDA_VISIBLE_DEVICES", "HGAD_GPU_COUNT", "HGAD_GPU_PLACEMENT",
                 "HGAD_GPU_WAIT_S"):
        monkeypatch.delenv(name, raising=False)


def test_concurrent_claims_get_distinct_gpus_and_release_them(tmp_path):
    with claim_gpu("cuda", tmp_path, count=2) as first:
        assert first == "0" and os.environ["CUDA_VISIBLE_DEVICES"] == "0"
        with claim_gpu("auto", tmp_path, count=2) as second:
            assert second == "1" and os.environ["CUDA_VISIBLE_DEVICES"] == "1"
            with pytest.raises(TimeoutError, match="no free GPU.*0, 1.*--resources gpu=N"):
                with claim_gpu("cuda", tmp_path, count=2, timeout=0.2, poll=0.05):
                    pass
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "0"
        with claim_gpu("cuda", tmp_path, count=2) as again:
            assert again == "1"
    assert "CUDA_VISIBLE_DEVICES" not in os.environ
    with claim_gpu("cuda", tmp_path, count=2) as after:
        assert after == "0"


def test_the_pool_is_cuda_visible_devices_when_set(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    with claim_gpu("cuda", tmp_path) as first, claim_gpu("cuda", tmp_path) as second:
        assert (first, second) == ("2", "3")
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "3"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "2,3"


def test_gpu_count_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("HGAD_GPU_COUNT", "3")
    with claim_gpu("cuda", tmp_path) as a, claim_gpu("cuda", tmp_path) as b, \
            claim_gpu("cuda", tmp_path) as c:
        assert [a, b, c] == ["0", "1", "2"]


@pytest.mark.parametrize("device", ["cpu", "cuda:1"])
def test_cpu_and_explicit_device_claim_nothing(tmp_path, device):
    with claim_gpu(device, tmp_path, count=2) as gpu:
        assert gpu is None and "CUDA_VISIBLE_DEVICES" not in os.environ
    assert not any(tmp_path.iterdir())


def test_under_slurm_the_allocation_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    assert not wants_placement("cuda")
    with claim_gpu("cuda", tmp_path, count=4) as gpu:
        assert gpu is None and os.environ["CUDA_VISIBLE_DEVICES"] == "0"


def test_placement_can_be_switched_off(tmp_path, monkeypatch):
    monkeypatch.setenv("HGAD_GPU_PLACEMENT", "off")
    with claim_gpu("cuda", tmp_path, count=2) as gpu:
        assert gpu is None


def test_no_gpu_claims_nothing(tmp_path):
    with claim_gpu("auto", tmp_path, count=0) as gpu:
        assert gpu is None and "CUDA_VISIBLE_DEVICES" not in os.environ


def test_lock_is_released_when_the_holder_dies(tmp_path):
    """The kernel drops a killed job's flock: its GPU is free again."""
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from hgad.runtime.gpu import claim_gpu
            with claim_gpu("cuda", {str(tmp_path)!r}, count=1):
                print("held", flush=True)
                time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(TimeoutError):
            with claim_gpu("cuda", tmp_path, count=1, timeout=0.1, poll=0.05):
                pass
    finally:
        holder.kill()
        holder.wait()
    with claim_gpu("cuda", tmp_path, count=1, timeout=2, poll=0.05) as gpu:
        assert gpu == "0"


JOB = """
import json, os, sys, time
from hgad.runtime.gpu import claim_gpu
with claim_gpu("cuda", sys.argv[1], poll=0.05):
    start = time.time()
    time.sleep(0.4)
    print(json.dumps([os.environ["CUDA_VISIBLE_DEVICES"], start, time.time()]))
"""


def test_concurrent_jobs_never_share_a_gpu(tmp_path):
    """Five jobs started together on two GPUs: a GPU is never used by two jobs at once."""
    env = {**os.environ, "HGAD_GPU_COUNT": "2", "HGAD_GPU_WAIT_S": "30"}
    jobs = [subprocess.Popen([sys.executable, "-c", JOB, str(tmp_path)], stdout=subprocess.PIPE,
                             text=True, env=env, cwd=REPO) for _ in range(5)]
    runs = [json.loads(job.communicate(timeout=60)[0]) for job in jobs]
    assert {gpu for gpu, _, _ in runs} == {"0", "1"}
    for i, (gpu, start, end) in enumerate(runs):
        for other_gpu, other_start, other_end in runs[i + 1:]:
            if gpu == other_gpu:
                assert end <= other_start or other_end <= start

