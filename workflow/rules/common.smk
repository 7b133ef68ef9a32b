"""Configuration (validated before any job runs), input functions and wildcard constraints."""

import copy
import os
import sys
from pathlib import Path

# Jobs import the hgad package from this checkout, also inside a --sdm conda environment and on
# cluster nodes (they inherit the variable or re-read this file).
os.environ.update(
    PYTHONPATH=os.pathsep.join(filter(None, [workflow.basedir, os.getenv("PYTHONPATH")]))
)

from snakemake.exceptions import WorkflowError
from snakemake.utils import update_config

from hgad.data.layouts import VALIDATED_LAYOUTS
from hgad.evaluation.full_size import full_size_metrics_bytes
from hgad.reporting.run_summary import settings_summary
from hgad.runtime.config import (
    archive_name,
    read_yaml,
    source_urls,
    typed_overrides,
    validate_config,
)
from hgad.runtime.fingerprint import code_digest, folder_fingerprint


def script_code(script):
    """The code digest of a rule script (in workflow/scripts/) and every module of this
    checkout's hgad (the one its jobs import) it imports, directly or not
    (hgad/runtime/fingerprint.py): a rule's `code` param, so an edit to any of them reruns the
    rule and everything after it."""
    basedir = Path(workflow.basedir)
    return code_digest(basedir / "workflow" / "scripts" / script, basedir / "hgad")


CONFIG_FILES = workflow.config_settings.configfiles or [
    Path(workflow.basedir) / "config" / "config.yaml"
]
if not workflow.config_settings.configfiles:

    configfile: CONFIG_FILES[0]


# Snakemake's YAML loader keeps the last of a duplicated key: read each file again, strictly;
# and it reads the values inside a --config list or mapping as text: type them. A mistake in the
# configuration stops the run with its message alone (no traceback).
try:
    for path in CONFIG_FILES:
        read_yaml(path)
    update_config(config, typed_overrides(workflow.config_settings.config))
    # The configuration as given (before its preset and defaults fill it in), for the summary.
    GIVEN_CONFIG = copy.deepcopy(config)
    validate_config(config)
except ValueError as error:
    raise WorkflowError(str(error)) from None


onstart:
    print(settings_summary(GIVEN_CONFIG), file=sys.stderr)


DATASETS = config["datasets"]
SEEDS = config["seeds"]
GENERATED = [name for name, spec in DATASETS.items() if spec.get("generate") == "demo"]
UNITED = [name for name, spec in DATASETS.items() if spec["layout"] == "union"]
# Datasets with a validation split: its features set the SegF1 threshold.
VALIDATED = [name for name, spec in DATASETS.items() if spec["layout"] in VALIDATED_LAYOUTS]
# MVTec AD 2: its private test maps are exported for MVTec's evaluation server.
EXPORTED = [name for name, spec in DATASETS.items() if spec["layout"] == "mvtec_ad2"]
# Datasets unpacked from an archive (downloaded from `url(s)`, or the user's own `archive`).
UNPACKED = [name for name, spec in DATASETS.items()
            if not {"generate", "root"} & set(spec) and name not in UNITED]
DOWNLOADED = [name for name in UNPACKED if "archive" not in DATASETS[name]]
# Threads of each torch job (extraction, training, evaluation, baselines): 8, which Snakemake
# lowers to --cores on a workstation; on a cluster it is the job's --cpus-per-task (no --cores
# needed). Each torch rule declares its own memory (mem_mb), time (runtime) and GPUs too, so
# every profile takes them; profiles hold only what is site-specific.
TORCH_THREADS = 8
# Extraction and evaluation hold a GPU only when the run may use one; training always asks.
GPU_FOR_INFERENCE = 0 if config["device"] == "cpu" else 1
# train.score_every_sub_epoch: the training job scores the test set after every sub-epoch and
# writes snapshot_metrics.csv (the evaluate_snapshots rule is then not defined).
SCORED_IN_TRAINING = config["train"]["score_every_sub_epoch"]


def pixel_metrics_mem_mb(base_mb):
    """The mem_mb of a job that computes pixel metrics, ``base_mb`` (maps at msk_size) plus,
    with features.resize whole, what the metrics at each test image's full size need for the
    largest category (docs/metrics.md#cost), counted from the manifest once it exists:
    Snakemake evaluates a resource again, its input present, before it runs the job."""

    def mem_mb(wildcards, input):
        if config["features"]["resize"] != "whole" or not os.path.exists(input.manifest):
            return base_mb
        return base_mb + -(-full_size_metrics_bytes(input.manifest) // 10**6)

    return mem_mb


def one_of(names):
    """A wildcard constraint matching exactly these names (nothing when the list is empty)."""
    return "|".join(names) or "(?!)"


wildcard_constraints:
    dataset=one_of(DATASETS),
    seed=r"\d+",
    split="train|test|validation",


def dataset_root(dataset):
    """The unpacked dataset folder: the user's `root`, else resources/datasets/<name>."""
    return DATASETS[dataset].get("root", f"resources/datasets/{dataset}")


def archive_path(wildcards):
    """The user's `archive`, else where the download rule puts the file named in the first URL."""
    spec = DATASETS[wildcards.dataset]
    if "archive" in spec:
        return spec["archive"]
    return f"resources/archives/{wildcards.dataset}/{archive_name(source_urls(spec)[0])}"


def checksum(dataset):
    spec = DATASETS[dataset]
    return {key: spec[key] for key in ("sha256", "md5") if key in spec}


def manifest_inputs(wildcards):
    """A union reads its members' manifests; a generated or unpacked dataset its folder."""
    name = wildcards.dataset
    if name in UNITED:
        members = DATASETS[name]["members"]
        return {"members": expand("results/{member}/manifest.csv", member=members)}
    if name in GENERATED or name in UNPACKED:
        return {"root": dataset_root(name)}
    return {}


def dataset_files(wildcards):
    """The sizes and mtimes of a dataset folder's files, stat-ed when the DAG is built: as a
    param of the manifest rule, any image rewritten in place reruns the manifest and everything
    downstream (a union follows its members' manifests)."""
    if wildcards.dataset in UNITED:
        return ""
    return folder_fingerprint(dataset_root(wildcards.dataset))


def train_inputs_for_evaluation(wildcards):
    """Inductive normalisation reads the training features too."""
    if config["evaluate"]["normalization"] == "train_max":
        return {"train_cache": f"results/{wildcards.dataset}/features/train"}
    return {}


def validation_inputs(wildcards):
    """A dataset with a validation split reads its features (the SegF1 threshold)."""
    if wildcards.dataset in VALIDATED:
        return {"validation_cache": f"results/{wildcards.dataset}/features/validation"}
    return {}


def weights_inputs(wildcards):
    """timm's hub weights are fetched first, by a localrule: compute nodes may be offline."""
    if config["features"]["weights"] == "timm":
        return {"weights": f"resources/weights/{config['features']['backbone']}.fetched"}
    return {}


def metrics_files(wildcards):
    return expand("results/{dataset}/seed{seed}/metrics.json", dataset=wildcards.dataset,
                  seed=SEEDS)


def snapshot_metrics_files(wildcards):
    """Per-snapshot AUROC of every seed, when snapshots are kept or the training job scores
    every sub-epoch (the test-selected columns)."""
    if not (config["train"]["snapshot_every"] or SCORED_IN_TRAINING):
        return []
    return expand("results/{dataset}/seed{seed}/snapshot_metrics.csv",
                  dataset=wildcards.dataset, seed=SEEDS)


def baseline_files(dataset):
    """{baseline: metrics JSON} of a dataset, for the tables (config `baselines`)."""
    return {name: f"results/{dataset}/baseline_{name}/metrics.json"
            for name in config["baselines"]}


def final_outputs():
    per_dataset = expand(
        ["results/tables/{dataset}.md", "results/tables/{dataset}.csv",
         "results/tables/{dataset}.html", "results/tables/{dataset}_all_metrics.html",
         "results/plots/{dataset}_auroc.png", "results/plots/{dataset}_loss.png"],
        dataset=DATASETS,
    )
    per_seed = expand(
        ["results/plots/{dataset}_seed{seed}_roc_pro.png",
         "results/plots/{dataset}_seed{seed}_qualitative.png"],
        dataset=DATASETS, seed=SEEDS,
    )
    exports = expand("results/{dataset}/seed{seed}/submission", dataset=EXPORTED, seed=SEEDS)
    whole_run = ["results/tables/summary.md", "results/tables/summary.csv",
                 "results/tables/summary.html", "results/README_results.md"]
    return per_dataset + per_seed + exports + whole_run
