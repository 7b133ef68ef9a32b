from hgad.runtime.job import redirect_log

redirect_log(snakemake)

from hgad.reporting.readme import write_html

for markdown, html in zip(snakemake.input, snakemake.output, strict=True):
    write_html(markdown, html)
