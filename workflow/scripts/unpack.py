from hgad.runtime.job import redirect_log

redirect_log(snakemake)

from hgad.data.download import verify_archive
from hgad.data.unpack import unpack

if snakemake.params.verify:  # the user's own archive; a downloaded one was verified already
    verify_archive(snakemake.input.archive, **snakemake.params.checksum)
unpack(snakemake.input.archive, snakemake.output[0])
