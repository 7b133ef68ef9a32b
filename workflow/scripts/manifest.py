import sys

sys.stderr = open(snakemake.log[0], "w")

from hgad.data.checks import check_manifest
from hgad.data.layouts import build_manifest
from hgad.data.manifest import write_manifest

spec = snakemake.params.spec
frame = build_manifest(spec["layout"], snakemake.params.root, snakemake.wildcards.dataset,
                       spec.get("categories"))
print(check_manifest(frame).to_string(), file=sys.stderr)
write_manifest(frame, snakemake.output[0])
