import sys

sys.stderr = open(snakemake.log[0], "w")

from hgad.readme import write_section

write_section(snakemake.input.summary, snakemake.input.tables, snakemake.output[0])
