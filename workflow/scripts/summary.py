from hgad.runtime.job import redirect_log

redirect_log(snakemake)

from hgad.reporting.readme import write_html
from hgad.reporting.tables import write_summary

paths = iter(snakemake.input.metrics)
files = {dataset: {seed: next(paths) for seed in snakemake.params.seeds}
         for dataset in snakemake.params.datasets}
write_summary(files, snakemake.output.markdown, snakemake.output.csv,
              baseline_files=snakemake.params.baselines, generated=snakemake.params.generated)
write_html(snakemake.output.markdown, snakemake.output.html)
