import sys

sys.stderr = open(snakemake.log[0], "w")

from hgad.data.download import fetch_archive

fetch_archive(snakemake.params.url, snakemake.output[0], **snakemake.params.checksum)
