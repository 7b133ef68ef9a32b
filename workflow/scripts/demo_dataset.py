import sys

sys.stderr = open(snakemake.log[0], "w")

from hgad.data.demo import generate_demo

generate_demo(snakemake.output[0], **snakemake.params.demo)
