"""scripts/install-system-deps.sh on a fake system: which packages it installs, and that without
root or sudo it names them and exits 0 (the tests that need them then skip)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "install-system-deps.sh"


def fake_system(folder: Path, uid: int, sudo: str | None) -> Path:
    """A PATH of fake tools: no package installed, apt-get recording its calls, ``id -u`` giving
    ``uid``, and ``sudo`` running this script body (absent when None)."""
    bin_ = folder / "bin"
    bin_.mkdir()
    for tool in ("bash", "grep"):
        (bin_ / tool).symlink_to(shutil.which(tool))
    tools = {"dpkg-query": "exit 1", "id": f"echo {uid}",
             "apt-get": f'echo "apt-get $*" >> {folder / "calls"}'}
    if sudo is not None:
        tools["sudo"] = sudo
    for name, body in tools.items():
        (bin_ / name).write_text(f"#!{shutil.which('bash')}\n{body}\n")
        (bin_ / name).chmod(0o755)
    return bin_


def run_script(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run([shutil.which("bash"), str(SCRIPT)], capture_output=True, text=True,
                          env={"PATH": str(folder / "bin")}, timeout=60)


@pytest.mark.parametrize("sudo", [None, "exit 1"], ids=["no sudo", "sudo asks a password"])
def test_without_root_or_sudo_it_names_the_packages_and_exits_0(tmp_path, sudo):
    fake_system(tmp_path, uid=1000, sudo=sudo)
    result = run_script(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "please install: chromium chromium-driver" in result.stderr
    assert not (tmp_path / "calls").exists()


def test_as_root_it_installs_the_missing_packages(tmp_path):
    fake_system(tmp_path, uid=0, sudo=None)
    result = run_script(tmp_path)
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls[0] == "apt-get update -qq"
    assert calls[1].startswith("apt-get install") and calls[1].endswith("chromium chromium-driver")
