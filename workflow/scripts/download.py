import sys

from hgad.runtime.job import redirect_log

redirect_log(snakemake)

from hgad.data.download import DatasetError, fetch_archive

try:
    fetch_archive(snakemake.params.urls, snakemake.output[0], dataset=snakemake.wildcards.dataset,
                  **snakemake.params.checksum)
except DatasetError as error:
    # Snakemake's console shows only that the script failed: the reasons and the remedy go
    # there too, not only into the log.
    print(f"\n{error}\n", file=sys.__stderr__)
    raise
