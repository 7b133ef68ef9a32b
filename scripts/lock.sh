#!/usr/bin/env bash
# Regenerates requirements.lock from pyproject.toml (its dependencies and the test extras) and
# environment.yml from requirements.lock: `make lock`, or scripts/lock.sh with uv on PATH.
#
# The lock is universal: one file for every platform, every package at an exact version, with an
# environment marker where a package exists only on some platforms (torch's CUDA libraries on
# Linux, colorama on Windows...). Versions already locked are kept while pyproject.toml allows
# them; extra arguments go to `uv pip compile`, e.g. `scripts/lock.sh --upgrade` moves every
# package to its newest allowed version, `--upgrade-package numpy` only numpy.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-uv}

lock=$(mktemp requirements.lock.XXXXXX)
environment=$(mktemp environment.yml.XXXXXX)
trap 'rm -f "$lock" "$environment"' EXIT

cp requirements.lock "$lock"  # the versions to keep
"$UV" pip compile pyproject.toml --extra test --universal --python-version 3.11 \
    --custom-compile-command "make lock" --quiet "$@" --output-file "$lock"

{
    echo "# Conda environment with exactly the versions of requirements.lock, created on Linux, macOS"
    echo "# and Windows alike (pip evaluates the markers). 'make lock' regenerates it."
    echo "name: hgad-bench"
    echo "channels: [conda-forge]"
    echo "dependencies:"
    echo "  - python=3.11"
    echo "  - pip"
    echo "  - pip:"
    sed -n 's/^\([A-Za-z0-9][^ ]*==.*\)$/      - "\1"/p' "$lock"
} > "$environment"

mv "$lock" requirements.lock
mv "$environment" environment.yml
