import sys

sys.stderr = open(snakemake.log[0], "w")

import torch

torch.set_num_threads(snakemake.threads)

from hgad.config import settings_from_config
from hgad.device import resolve_device
from hgad.gpu import claim_gpu
from hgad.train import train

settings = settings_from_config(snakemake.params.settings)
with claim_gpu(settings.device):  # its own GPU among several (hgad/gpu.py)
    train(snakemake.input.train_cache, snakemake.input.manifest, snakemake.output.model,
          snakemake.output.loss_log, snakemake.params.checkpoints, settings,
          int(snakemake.wildcards.seed), resolve_device(settings.device))
