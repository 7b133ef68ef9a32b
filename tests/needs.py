"""What a test needs from the machine beyond the Python packages, and what happens without it.

Outside CI a test whose requirement is missing (a Debian package, root, a C++ compiler) is
skipped with a reason that says what to install. With ``CI=true`` (set by CI services) it fails
instead: a CI machine that lacks a requirement must not pass by skipping. A temporary condition
(a shared test cluster busy) is not a missing requirement: those tests call ``pytest.skip``.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def missing(requirement: str) -> NoReturn:
    """Skip the test (fail it under ``CI=true``): ``requirement`` says what is missing and how to
    install it."""
    if in_ci():
        pytest.fail(f"CI=true and a requirement is missing: {requirement}", pytrace=False)
    print(f"\nSKIPPED: {requirement}", file=sys.stderr)
    pytest.skip(requirement)

