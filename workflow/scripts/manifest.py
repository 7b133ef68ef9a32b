import sys

from hgad.runtime.job import redirect_log

redirect_log(snakemake)

from hgad.data.manifest import write_manifest
from hgad.data.sources import dataset_manifest

frame, report = dataset_manifest(snakemake.wildcards.dataset, snakemake.params.spec,
                                 snakemake.params.root, snakemake.input.get("members", []))
print(report.to_string(), file=sys.stderr)
write_manifest(frame, snakemake.output[0])
