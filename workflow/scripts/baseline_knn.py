import sys

sys.stderr = open(snakemake.log[0], "w")

import torch

torch.set_num_threads(snakemake.threads)

from hgad.config import settings_from_config
from hgad.device import resolve_device
from hgad.gpu import claim_gpu
from hgad.knn import evaluate_knn

settings = settings_from_config(snakemake.params.settings)
out = snakemake.output
with claim_gpu(settings.device):  # its own GPU among several (hgad/gpu.py)
    evaluate_knn(snakemake.input.manifest, snakemake.input.train_cache,
                 snakemake.input.test_cache, out.metrics_json, out.metrics_csv, settings,
                 resolve_device(settings.device))
