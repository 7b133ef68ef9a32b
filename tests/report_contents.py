"""What ``snakemake --report`` writes for a finished run: the report itself, and the items
embedded in its HTML (tables as data URIs, their captions, the categories)."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from pathlib import Path

from workflow_runner import REPO, SNAKEMAKE


def snakemake_report(workdir: Path, report: Path, *targets: str) -> subprocess.CompletedProcess:
    """The report of the run in ``workdir`` (its config.yaml), of every job or of those that
    ``targets`` need."""
    return subprocess.run(
        [*SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
         "--configfile", str(workdir / "config.yaml"), "--cores", "1", "--report", str(report),
         *targets],
        capture_output=True, text=True, timeout=300)


def embedded(report_html: str, name: str):
    """The JSON of ``var <name> = ...;`` in the report's <script id=...> blocks."""
    match = re.search(rf'<script id="{name}">\s*var {name} = (.*?);\s*</script>',
                      report_html, re.DOTALL)
    assert match, f"no embedded {name!r} in the report"
    return json.loads(match.group(1))


def decode_data_uri(uri: str) -> str:
    assert uri.startswith("data:") and ";base64," in uri, uri[:80]
    return base64.b64decode(uri.split(";base64,", 1)[1]).decode("utf-8")
