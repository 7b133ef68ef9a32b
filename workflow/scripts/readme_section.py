from hgad.runtime.job import redirect_log

redirect_log(snakemake)

from hgad.reporting.readme import write_section

write_section(snakemake.input.summary, snakemake.input.tables, snakemake.output[0])
