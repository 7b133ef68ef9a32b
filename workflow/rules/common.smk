"""Configuration (validated before any job runs), input functions and wildcard constraints."""

import os
from pathlib import Path

# Jobs import the hgad package from this checkout, also inside a --sdm conda environment and on
# cluster nodes (they inherit the variable or re-read this file).
os.environ.update(
    PYTHONPATH=os.pathsep.join(filter(None, [workflow.basedir, os.getenv("PYTHONPATH")]))
)

from hgad.config import validate_config


if not workflow.config_settings.configfiles:

    configfile: Path(workflow.basedir) / "config" / "config.yaml"


validate_config(config)

DATASETS = config["datasets"]
SEEDS = config["seeds"]
GENERATED = [name for name, spec in DATASETS.items() if spec.get("generate") == "demo"]
# Extraction and evaluation hold a GPU only when the run may use one; training always asks.
GPU_FOR_INFERENCE = 0 if config["device"] == "cpu" else 1


wildcard_constraints:
    dataset="|".join(DATASETS),
    seed=r"\d+",
    split="train|test",


def dataset_root(dataset):
    """The unpacked dataset folder (generated datasets default to resources/datasets/<name>)."""
    return DATASETS[dataset].get("root", f"resources/datasets/{dataset}")


def dataset_inputs(wildcards):
    """A generated dataset is a job's output; an existing folder is not tracked by Snakemake."""
    if wildcards.dataset in GENERATED:
        return {"root": dataset_root(wildcards.dataset)}
    return {}


def train_inputs_for_evaluation(wildcards):
    """Inductive normalisation reads the training features too."""
    if config["evaluate"]["normalization"] == "train_max":
        return {"train_cache": f"results/{wildcards.dataset}/features/train"}
    return {}


def metrics_files(wildcards):
    return expand("results/{dataset}/seed{seed}/metrics.json", dataset=wildcards.dataset,
                  seed=SEEDS)


def final_outputs():
    return expand(
        ["results/tables/{dataset}.md", "results/tables/{dataset}.csv",
         "results/plots/{dataset}_auroc.png"],
        dataset=DATASETS,
    )
