import sys

sys.stderr = open(snakemake.log[0], "w")

from pathlib import Path

from hgad.readme import rewrite_readme

changed = rewrite_readme(snakemake.params.readme, Path(snakemake.input[0]).read_text("utf-8"))
print(f"{snakemake.params.readme}: {'updated' if changed else 'already up to date'}",
      file=sys.stderr)
