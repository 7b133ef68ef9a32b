from hgad.runtime.job import redirect_log

redirect_log(snakemake)

from hgad.reporting.figures import write_curves

wildcards = snakemake.wildcards
write_curves(snakemake.input.maps, snakemake.input.manifest, snakemake.output.png,
             snakemake.output.pdf,
             title=f"HGAD on {wildcards.dataset}, seed {wildcards.seed}: ROC and PRO curves")
