import sys

sys.stderr = open(snakemake.log[0], "w")

import torch

torch.set_num_threads(snakemake.threads)

from hgad.config import settings_from_config
from hgad.device import resolve_device
from hgad.evaluate import evaluate
from hgad.gpu import claim_gpu

settings = settings_from_config(snakemake.params.settings)
out = snakemake.output
with claim_gpu(settings.device):  # its own GPU among several (hgad/gpu.py)
    evaluate(snakemake.input.model, snakemake.input.manifest, snakemake.input.test_cache,
             out.metrics_json, out.metrics_csv, out.maps, settings, resolve_device(settings.device),
             train_cache=snakemake.input.get("train_cache"))
