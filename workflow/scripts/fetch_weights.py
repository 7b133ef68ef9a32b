from hgad.runtime.job import redirect_log, use_weights_cache

redirect_log(snakemake)
use_weights_cache(offline=False)

import os

import timm

timm.create_model(snakemake.wildcards.backbone, pretrained=True)
with open(snakemake.output[0], "w") as handle:
    print(f"timm weights of {snakemake.wildcards.backbone} in {os.environ['HF_HOME']}", file=handle)
