import sys

sys.stderr = open(snakemake.log[0], "w")

import torch

torch.set_num_threads(snakemake.threads)

from hgad.config import settings_from_config
from hgad.device import resolve_device
from hgad.features.extract import extract_features

settings = settings_from_config(snakemake.params.settings)
extract_features(snakemake.input.manifest, snakemake.wildcards.split, snakemake.output[0],
                 settings.features, resolve_device(settings.device))
