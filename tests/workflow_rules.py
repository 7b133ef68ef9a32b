"""The workflow's rules as Snakemake reads them: each rule's script, code digest, threads and
declared resources.

Loaded through Snakemake's API in a subprocess (loading a workflow changes the working directory
and the environment), one for any number of configurations:
python tests/workflow_rules.py WORKDIR CONFIG.yaml...  prints a JSON list, a rule table per
configuration, each loaded in its own folder under WORKDIR.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def workflow_rules(configs: list[dict], workdir: Path) -> list[dict[str, dict]]:
    """For each of ``configs``, {rule: {"script": absolute path or None, "code": its ``code``
    param or None, "threads": int, "resources": {name: value}}} of the workflow under it (the
    configurations are written to ``workdir``); resources are those the rule declares (a function
    as ``"function"``), without Snakemake's own ``_cores``, ``_nodes`` and ``tmpdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    paths = [workdir / f"rules_config{index}.yaml" for index in range(len(configs))]
    for path, config in zip(paths, configs, strict=True):
        path.write_text(yaml.safe_dump(config))
    done = subprocess.run([sys.executable, __file__, str(workdir), *map(str, paths)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def _read_rules(config_path: Path, workdir: Path) -> dict[str, dict]:
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    def plain(resource):
        if callable(getattr(resource, "is_evaluable", None)):  # Snakemake's Resource
            return "function" if resource.is_evaluable() else resource.value
        return "function" if callable(resource) else resource

    with SnakemakeApi(OutputSettings(quiet={"all"})) as api:
        loaded = api.workflow(resource_settings=ResourceSettings(),
                              config_settings=ConfigSettings(configfiles=[config_path]),
                              snakefile=REPO / "Snakefile", workdir=workdir)
        rules = {}
        for rule in loaded._workflow.rules:  # the API's only view of the parsed rules
            resources = {name: plain(value) for name, value in rule.resources.items()}
            rules[rule.name] = {
                "script": str((Path(rule.basedir) / rule.script).resolve()) if rule.script
                else None,
                "code": dict(rule.params.items()).get("code"),
                "threads": resources.pop("_cores"),
                "resources": {name: value for name, value in resources.items()
                              if name not in ("_nodes", "tmpdir")},
            }
    return rules


if __name__ == "__main__":
    tables = []
    for path in map(Path, sys.argv[2:]):
        folder = Path(sys.argv[1]) / path.stem
        folder.mkdir()
        tables.append(_read_rules(path, folder))
    print(json.dumps(tables))
