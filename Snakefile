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


from hgad.runtime.result_warnings import print_run_warnings, warning_stamps

# Every job logs under here (each rule's `log:`); the stamps of the jobs' warnings files as the
# run starts tell which of them its jobs wrote.
LOG_ROOT = "results/logs"
WARNINGS_BEFORE = warning_stamps(LOG_ROOT)


rule all:
    input:
        final_outputs(),
    default_target: True


# Warnings that change what a result means (a category without anomalous test images, a
# discarded checkpoint, ...) are printed again at the end, not left in the jobs' logs alone.
onsuccess:
    print_run_warnings(LOG_ROOT, WARNINGS_BEFORE)


onerror:
    print_run_warnings(LOG_ROOT, WARNINGS_BEFORE)
