import sys

sys.stderr = open(snakemake.log[0], "w")

from hgad.plots import auroc_bars
from hgad.tables import collect, load_paper_results

long = collect(dict(zip(snakemake.params.seeds, snakemake.input.metrics, strict=True)))
auroc_bars(snakemake.wildcards.dataset, long, load_paper_results(), snakemake.output.png,
           snakemake.output.pdf)
