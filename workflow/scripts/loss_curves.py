import sys

sys.stderr = open(snakemake.log[0], "w")

from hgad.plots import loss_curves

loss_curves(dict(zip(snakemake.params.seeds, snakemake.input.logs, strict=True)),
            snakemake.output.png, snakemake.output.pdf)
