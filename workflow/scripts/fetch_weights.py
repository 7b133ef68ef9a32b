import os
import sys

sys.stderr = open(snakemake.log[0], "w")

# The Hugging Face cache in the workflow's resources/ (on the file system the nodes share),
# unless HF_HOME says otherwise; extract_features.py reads it from there, offline.
os.environ.setdefault("HF_HOME", os.path.abspath("resources/huggingface"))

import timm

timm.create_model(snakemake.wildcards.backbone, pretrained=True)
with open(snakemake.output[0], "w") as handle:
    print(f"timm weights of {snakemake.wildcards.backbone} in {os.environ['HF_HOME']}", file=handle)
