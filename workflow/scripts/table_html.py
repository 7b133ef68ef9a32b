import sys

sys.stderr = open(snakemake.log[0], "w")

from hgad.readme import write_html

for markdown, html in zip(snakemake.input, snakemake.output, strict=True):
    write_html(markdown, html)
