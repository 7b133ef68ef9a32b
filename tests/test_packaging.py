"""The lock: it is what pyproject.toml resolves to, environment.yml has its versions, it installs
on every platform the README names, and TORCH=cpu leaves out exactly torch's CUDA libraries."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
ROOT = "hgad-bench (pyproject.toml)"  # what the lock's "# via" comments call this project
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# uv's target triples of the platforms docs/install.md's table lists as resolved (and this
# one). torch 2.14.1 has macOS wheels for 14+ only; uv assumes an older macOS unless told.
PLATFORMS = {
    "macOS arm64": ("aarch64-apple-darwin", {"MACOSX_DEPLOYMENT_TARGET": "14.0"},
                    {"sys_platform": "darwin", "platform_system": "Darwin",
                     "platform_machine": "arm64", "os_name": "posix"}),
    "Linux aarch64": ("aarch64-unknown-linux-gnu", {},
                      {"sys_platform": "linux", "platform_system": "Linux",
                       "platform_machine": "aarch64", "os_name": "posix"}),
    "Linux x86-64": ("x86_64-unknown-linux-gnu", {},
                     {"sys_platform": "linux", "platform_system": "Linux",
                      "platform_machine": "x86_64", "os_name": "posix"}),
    "Windows x86-64": ("x86_64-pc-windows-msvc", {},
                       {"sys_platform": "win32", "platform_system": "Windows",
                        "platform_machine": "AMD64", "os_name": "nt"}),
}
PYTHON_311 = {"python_version": "3.11", "python_full_version": "3.11.7",
              "implementation_name": "cpython", "platform_python_implementation": "CPython"}


@dataclass(frozen=True)
class Pin:
    version: str
    marker: Marker | None
    via: frozenset[str]  # the packages that need it, ROOT for pyproject.toml's own

    def on(self, environment: dict[str, str]) -> bool:
        return self.marker is None or self.marker.evaluate({**PYTHON_311, **environment})


def requirement_lines(path: Path) -> list[str]:
    """The lines of a requirements file that name a package (not comments, not annotations)."""
    return [line for line in path.read_text().splitlines()
            if line and not line.startswith(("#", " "))]


def read_pins(path: Path) -> dict[str, Pin]:
    """A uv-compiled requirements file -> {canonical name: Pin}, with its "# via" annotations."""
    pins: dict[str, tuple[Requirement, set[str]]] = {}
    current = None
    for line in path.read_text().splitlines():
        if line and not line.startswith(("#", " ")):
            requirement = Requirement(line)
            current = pins[canonicalize_name(requirement.name)] = (requirement, set())
        elif current and (via := re.match(r"\s+#\s+(?:via\s+)?([^ ].*)$", line)):
            if via.group(1) != "via":
                current[1].add(via.group(1) if via.group(1) == ROOT
                               else canonicalize_name(via.group(1)))
    return {name: Pin(str(requirement.specifier).removeprefix("=="), requirement.marker,
                      frozenset(via)) for name, (requirement, via) in pins.items()}


LOCK = read_pins(REPO / "requirements.lock")


def test_every_package_is_pinned_exactly_and_torch_is_2_14_1():
    for line in requirement_lines(REPO / "requirements.lock"):
        assert re.match(r"^[A-Za-z0-9][\w.-]*==[^ ,;]+( ; .+)?$", line), line
    assert LOCK["torch"].version == "2.14.1" and LOCK["torchvision"].version == "0.29.1"
    assert "uv" in LOCK  # the platform checks below use the locked uv


def test_every_dependency_is_locked_within_its_range_for_every_platform():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for spec in project["dependencies"] + project["optional-dependencies"]["test"]:
        requirement = Requirement(spec)
        pin = LOCK.get(canonicalize_name(requirement.name))
        assert pin is not None, f"{requirement.name} is not in requirements.lock"
        assert requirement.specifier.contains(pin.version), f"=={pin.version} vs {spec}"
        assert pin.marker is None and ROOT in pin.via, f"{spec}: {pin}"


def test_environment_yml_is_a_conda_environment_with_exactly_the_lock():
    environment = yaml.safe_load((REPO / "environment.yml").read_text())
    conda = [d for d in environment["dependencies"] if isinstance(d, str)]
    assert environment["channels"] == ["conda-forge"] and conda == ["python=3.11", "pip"]
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    assert pip_section == requirement_lines(REPO / "requirements.lock")


def uv_bin() -> str:
    """The uv of this environment (the test extras and the lock have it; `make` installs it)."""
    try:
        from uv import find_uv_bin
    except ImportError:
        pytest.fail("uv is not installed in this environment; it is in the lock, from which "
                    "`make test` updates .venv")
    return find_uv_bin()


def uv(*args: str, env: dict[str, str] | None = None):
    return subprocess.Popen([uv_bin(), *args], cwd=REPO, env={**os.environ, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.network
def test_make_lock_reproduces_the_lock_and_environment_yml(tmp_path):
    """scripts/lock.sh on a copy: pyproject.toml, the lock and environment.yml agree."""
    for name in ("pyproject.toml", "requirements.lock", "environment.yml", "scripts/lock.sh"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        shutil.copy2(REPO / name, tmp_path / name)
    run = subprocess.run([tmp_path / "scripts" / "lock.sh"], capture_output=True, text=True,
                         env={**os.environ, "UV": uv_bin()})
    assert run.returncode == 0, run.stderr
    for name in ("requirements.lock", "environment.yml"):
        assert (tmp_path / name).read_text() == (REPO / name).read_text(), \
            f"{name} is not what `make lock` makes of pyproject.toml: run make lock"


@pytest.mark.network
def test_the_lock_installs_on_every_platform(tmp_path):
    """uv resolves the lock for each platform: every package has a wheel or an sdist there, and
    the packages it needs are exactly those whose markers hold there, at the locked versions."""
    jobs = {platform: uv("pip", "compile", str(REPO / "requirements.lock"), "--python-version",
                         "3.11", "--python-platform", triple, "--no-header", "--no-annotate",
                         "--quiet", "--output-file", str(tmp_path / f"{triple}.txt"), env=env)
            for platform, (triple, env, _) in PLATFORMS.items()}
    for platform, job in jobs.items():
        _, stderr = job.communicate(timeout=300)
        assert job.returncode == 0, f"{platform}: {stderr}"
        triple, _, environment = PLATFORMS[platform]
        resolved = {n: pin.version for n, pin in read_pins(tmp_path / f"{triple}.txt").items()}
        expected = {name: pin.version for name, pin in LOCK.items() if pin.on(environment)}
        assert resolved == expected, platform


def make(*args: str) -> subprocess.CompletedProcess:
    """``make`` in the repository, without the variables of a ``make test TORCH=...`` above us."""
    env = {k: v for k, v in os.environ.items() if k not in ("TORCH", "MAKEFLAGS", "MFLAGS")}
    return subprocess.run(["make", "--no-print-directory", *args], cwd=REPO, env=env,
                          capture_output=True, text=True)


def test_torch_cpu_leaves_out_exactly_the_packages_only_torchs_cuda_wheels_need(tmp_path):
    venv = tmp_path / "venv"
    assert make(f"VENV={venv}", "TORCH=cpu", f"{venv}/requirements-cpu.txt").returncode == 0
    cpu = read_pins(venv / "requirements-cpu.txt")
    left_out = LOCK.keys() - cpu.keys()
    assert {"nvidia-cudnn-cu13", "triton", "cuda-toolkit"} <= left_out
    assert cpu.keys() <= LOCK.keys()
    linux, mac = PLATFORMS["Linux x86-64"][2], PLATFORMS["macOS arm64"][2]

    def cuda_only(pin: Pin) -> bool:  # what torch's Linux wheels (CUDA) need, and nothing else
        return pin.via <= left_out | {"torch"} and pin.on(linux) and not pin.on(mac)
    assert [name for name in left_out if not cuda_only(LOCK[name])] == []
    assert [name for name in cpu if cuda_only(LOCK[name])] == []


def test_torch_variable_selects_the_index(tmp_path):
    venv = tmp_path / "venv"
    cpu, default = (make("-n", f"VENV={venv}", *torch, f"{venv}/.installed-lock").stdout
                    for torch in (["TORCH=cpu"], []))
    assert f"--extra-index-url {TORCH_CPU_INDEX} -r {venv}/requirements-cpu.txt" in cpu
    assert "download.pytorch.org" not in default and f"-r {venv}/requirements-pypi.txt" in default
    wrong = make("-n", "TORCH=rocm")
    assert wrong.returncode != 0 and "TORCH must be pypi or cpu, not 'rocm'" in wrong.stderr


@pytest.mark.network
def test_the_platform_check_fails_where_torch_has_no_wheel(tmp_path):
    """The platform check can fail: torch 2.14.1 has no wheel for Intel Macs."""
    job = uv("pip", "compile", str(REPO / "requirements.lock"), "--python-version", "3.11",
             "--python-platform", "x86_64-apple-darwin", "--quiet", "--output-file",
             str(tmp_path / "out.txt"), env={"MACOSX_DEPLOYMENT_TARGET": "14.0"})
    _, stderr = job.communicate(timeout=300)
    assert job.returncode != 0 and "torch==2.14.1 has no wheels with a matching platform" in stderr
