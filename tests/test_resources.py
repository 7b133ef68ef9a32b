"""Every torch job declares what it needs on its rule, so that every profile (workstation or
SLURM) gives it that; the profiles hold only what is site-specific."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml
from workflow_rules import REPO, workflow_rules
from workflow_runner import TINY

# What a torch job's rule must declare besides its threads (memory in MB, time in minutes).
TORCH_RESOURCES = {"mem_mb", "runtime", "gpu"}


def enters_torch_job(script: str | None) -> bool:
    """Whether a rule script calls the torch job preamble (hgad.runtime.job.torch_job)."""
    if script is None:
        return False
    tree = ast.parse(Path(script).read_bytes())
    return any(isinstance(node, ast.Call)
               and (getattr(node.func, "id", None) == "torch_job"
                    or getattr(node.func, "attr", None) == "torch_job")
               for node in ast.walk(tree))


@pytest.fixture(scope="module")
def rules(tmp_path_factory) -> dict[str, dict]:
    """The rules of the demo workflow with the kNN baseline and snapshots on (every rule)."""
    config = {**TINY, "baselines": ["knn"],
              "train": {**TINY["train"], "snapshot_every": 1}}
    return workflow_rules(config, tmp_path_factory.mktemp("rules"))


def test_every_torch_rule_declares_its_resources(rules):
    torch_rules = {name: rule for name, rule in rules.items() if enters_torch_job(rule["script"])}
    assert {"extract_features", "train", "evaluate", "evaluate_snapshots",
            "baseline_knn"} <= set(torch_rules)
    lacking = {name: sorted(TORCH_RESOURCES - set(rule["resources"]))
               for name, rule in torch_rules.items() if TORCH_RESOURCES - set(rule["resources"])}
    assert lacking == {}, "torch rules without their resources on the rule"
    single_threaded = [name for name, rule in torch_rules.items() if rule["threads"] < 2]
    assert single_threaded == [], "torch rules without their threads"


@pytest.mark.parametrize("profile", ["local", "slurm"])
def test_profiles_leave_each_rules_resources_to_the_rule(profile):
    settings = yaml.safe_load((REPO / "profiles" / profile / "config.yaml").read_text())
    assert not {"set-resources", "set-threads"} & set(settings)
