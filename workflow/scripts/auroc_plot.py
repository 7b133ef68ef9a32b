from hgad.runtime.job import redirect_log

redirect_log(snakemake)

from hgad.reporting.draw import auroc_bars
from hgad.reporting.numbers import collect, load_paper_results

long = collect(dict(zip(snakemake.params.seeds, snakemake.input.metrics, strict=True)))
auroc_bars(snakemake.wildcards.dataset, long, load_paper_results(), snakemake.output.png,
           snakemake.output.pdf)
