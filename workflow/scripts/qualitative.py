from hgad.runtime.job import redirect_log

redirect_log(snakemake)

from hgad.reporting.figures import write_qualitative

wildcards = snakemake.wildcards
write_qualitative(snakemake.input.maps, snakemake.input.manifest, snakemake.output.png,
                  snakemake.output.pdf, k=snakemake.params.k,
                  title=f"HGAD on {wildcards.dataset}, seed {wildcards.seed}: best and worst"
                        " detected anomalies")
