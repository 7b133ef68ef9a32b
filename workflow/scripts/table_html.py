from hgad.job import redirect_log

redirect_log(snakemake)

from hgad.readme import write_html

for markdown, html in zip(snakemake.input, snakemake.output, strict=True):
    write_html(markdown, html)
