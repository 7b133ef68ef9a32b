from hgad.job import redirect_log

redirect_log(snakemake)

from hgad.plots import loss_curves

loss_curves(dict(zip(snakemake.params.seeds, snakemake.input.logs, strict=True)),
            snakemake.output.png, snakemake.output.pdf)
