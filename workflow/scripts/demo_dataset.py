from hgad.runtime.job import redirect_log

redirect_log(snakemake)

from hgad.data.demo import generate_demo

generate_demo(snakemake.output[0], **snakemake.params.demo)
