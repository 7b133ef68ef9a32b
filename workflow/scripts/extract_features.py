import sys

sys.stderr = open(snakemake.log[0], "w")

import os

if snakemake.input.get("weights"):  # fetched by the fetch_weights localrule: stay offline
    os.environ.setdefault("HF_HOME", os.path.abspath("resources/huggingface"))
    os.environ["HF_HUB_OFFLINE"] = "1"

import torch

torch.set_num_threads(snakemake.threads)

from hgad.config import settings_from_config
from hgad.device import resolve_device
from hgad.features.extract import extract_features
from hgad.gpu import claim_gpu

settings = settings_from_config(snakemake.params.settings)
with claim_gpu(settings.device):  # its own GPU among several (hgad/gpu.py)
    extract_features(snakemake.input.manifest, snakemake.wildcards.split, snakemake.output[0],
                     settings.features, resolve_device(settings.device))
