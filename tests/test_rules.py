"""The workflow's rules as Snakemake reads them (tests/workflow_rules.py). Every torch job declares
what it needs on its rule, so that every profile (workstation or SLURM) gives it that; the profiles
hold only what is site-specific. And ``train.score_every_sub_epoch`` picks the train rule's script,
and its code digest with it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml
from workflow_rules import REPO, workflow_rules
from workflow_runner import TINY_RUN

from hgad.runtime.fingerprint import code_digest

# What a torch job's rule must declare besides its threads (memory in MB, time in minutes).
TORCH_RESOURCES = {"mem_mb", "runtime", "gpu"}
# Every rule of a demo run (the kNN baseline, snapshots on), by train.score_every_sub_epoch.
CONFIGS = {scored: {**TINY_RUN, "train": {**TINY_RUN["train"], "score_every_sub_epoch": scored}}
           for scored in (False, True)}


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
def rules(tmp_path_factory) -> dict[bool, dict[str, dict]]:
    """{score_every_sub_epoch: the rules under ``CONFIGS[score_every_sub_epoch]``}, read by one
    process."""
    tables = workflow_rules(list(CONFIGS.values()), tmp_path_factory.mktemp("rules"))
    return dict(zip(CONFIGS, tables, strict=True))


@pytest.mark.parametrize("scored", [False, True])
def test_every_torch_rule_declares_its_resources(rules, scored):
    torch_rules = {name: rule for name, rule in rules[scored].items()
                   if enters_torch_job(rule["script"])}
    # with the scoring in the training job, there is no rule that scores snapshot files
    snapshots = set() if scored else {"evaluate_snapshots"}
    assert {"extract_features", "train", "evaluate", "baseline_knn", *snapshots} <= set(torch_rules)
    lacking = {name: sorted(TORCH_RESOURCES - set(rule["resources"]))
               for name, rule in torch_rules.items() if TORCH_RESOURCES - set(rule["resources"])}
    assert lacking == {}, "torch rules without their resources on the rule"
    single_threaded = [name for name, rule in torch_rules.items() if rule["threads"] < 2]
    assert single_threaded == [], "torch rules without their threads"


@pytest.mark.parametrize("profile", ["local", "slurm"])
def test_profiles_leave_each_rules_resources_to_the_rule(profile):
    settings = yaml.safe_load((REPO / "profiles" / profile / "config.yaml").read_text())
    assert not {"set-resources", "set-threads"} & set(settings)


@pytest.mark.parametrize("scored", [False, True])
def test_training_code_digest_is_that_of_the_script_it_runs(rules, scored):
    """Off, the plain script (no evaluation code, so an edit there retrains nothing); on, the one
    that wires the test scoring in."""
    train = rules[scored]["train"]
    script = REPO / "workflow" / "scripts" / ("train_scored.py" if scored else "train.py")
    assert Path(train["script"]) == script
    assert train["code"] == code_digest(script, REPO / "hgad")
