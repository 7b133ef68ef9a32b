import sys

from hgad.runtime.job import redirect_log

redirect_log(snakemake)

from pathlib import Path

from hgad.reporting.readme import rewrite_readme

changed = rewrite_readme(snakemake.params.readme, Path(snakemake.input[0]).read_text("utf-8"))
print(f"{snakemake.params.readme}: {'updated' if changed else 'already up to date'}",
      file=sys.stderr)
