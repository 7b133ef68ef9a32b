from hgad.runtime.job import redirect_log

redirect_log(snakemake)

from hgad.reporting.tables import write_tables

write_tables(snakemake.wildcards.dataset,
             dict(zip(snakemake.params.seeds, snakemake.input.metrics, strict=True)),
             snakemake.output.markdown, snakemake.output.csv,
             out_full_md=snakemake.output.full_markdown, out_full_csv=snakemake.output.full_csv,
             snapshot_files=dict(zip(snakemake.params.seeds, snakemake.input.snapshots,
                                     strict=True)) if snakemake.input.snapshots else None,
             baseline_files=snakemake.params.baselines, generated=snakemake.params.generated)
