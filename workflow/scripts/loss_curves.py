from hgad.runtime.job import redirect_log

redirect_log(snakemake)

from hgad.reporting.draw import loss_curves

loss_curves(dict(zip(snakemake.params.seeds, snakemake.input.logs, strict=True)),
            snakemake.output.png, snakemake.output.pdf)
