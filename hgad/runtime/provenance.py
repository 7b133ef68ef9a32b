"""Where a result came from: code commit and package versions, stored beside every output."""

from __future__ import annotations

import subprocess
from importlib.metadata import version
from pathlib import Path

import hgad


def git_commit(path: str | Path = ".") -> str:
    """The commit of the checkout containing ``path`` (suffixed ``-dirty`` with local changes)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=path, capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def provenance() -> dict[str, str]:
    """Commit of the code and versions of the packages that decide the numbers (timm's from its
    installed metadata: importing it costs seconds in the jobs that never use it)."""
    import FrEIA
    import torch

    return {
        "commit": git_commit(Path(hgad.__file__).parent),
        "hgad": hgad.__version__,
        "torch": str(torch.__version__),
        "timm": version("timm"),
        "freia": getattr(FrEIA, "__version__", "0.2"),
    }
