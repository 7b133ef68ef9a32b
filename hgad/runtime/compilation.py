"""Whether training runs through ``torch.compile``d flows (``train.compile``).

``auto`` compiles where it is measured to pay (docs/performance.md, "Precision and
compilation"): on a CPU with a C++ compiler, for runs long enough to earn the one-off cold
compilation back. On the demo's shapes (2 CPU cores, bf16) a compiled step of all levels took
about 25 ms (20 %) less than an eager one, after about 45 s of compilation with an empty cache:
paid back after about 1,800 steps, hence :data:`AUTO_MIN_STEPS`. Other devices stay eager under
``auto``: not measured there.
"""

from __future__ import annotations

import os
import shutil
import sys

AUTO_MIN_STEPS = 2000


def cpp_compiler() -> str | None:
    """The C++ compiler torch.compile's CPU backend calls ($CXX, else g++; clang++ on macOS),
    or None where there is none."""
    return shutil.which(os.environ.get("CXX") or ("clang++" if sys.platform == "darwin"
                                                  else "g++"))


def compile_decision(setting: bool | str, device_type: str, steps: int) -> tuple[bool, str]:
    """(compile?, why) for ``train.compile`` = ``setting`` (true, false or ``"auto"``) in a run of
    ``steps`` optimiser steps per level on a device of ``device_type`` (``"cpu"``, ``"cuda"``,
    ...). ``why`` says what ``auto`` decided and why (``training eager (600 steps per level,
    ...)``); empty otherwise."""
    if setting != "auto":
        return bool(setting), ""
    if device_type != "cpu":
        return False, f"training eager on {device_type} (compilation is measured on CPUs only)"
    if steps < AUTO_MIN_STEPS:
        return False, (f"training eager ({steps} steps per level, compilation pays from "
                       f"{AUTO_MIN_STEPS})")
    if cpp_compiler() is None:
        return False, ("training eager: no C++ compiler found (install g++, or name one in $CXX, "
                       "to compile)")
    return True, f"training compiled ({steps} steps per level)"
