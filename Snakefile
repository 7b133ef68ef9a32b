"""hgad-bench: HGAD from images to the paper's tables.

    snakemake --cores 8 --resources gpu=1                           # the paper benchmark
    snakemake --cores 2 --configfile config/demo.yaml               # the embedded demo (CPU)
"""

from snakemake.utils import min_version

min_version("9.0")

report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/baselines.smk"
include: "workflow/rules/export.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        final_outputs(),
    default_target: True
