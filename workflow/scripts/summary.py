import sys

sys.stderr = open(snakemake.log[0], "w")

from hgad.readme import write_html
from hgad.tables import write_summary

paths = iter(snakemake.input.metrics)
files = {dataset: {seed: next(paths) for seed in snakemake.params.seeds}
         for dataset in snakemake.params.datasets}
write_summary(files, snakemake.output.markdown, snakemake.output.csv,
              baseline_files=snakemake.params.baselines)
write_html(snakemake.output.markdown, snakemake.output.html)
