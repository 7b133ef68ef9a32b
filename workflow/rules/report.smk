"""Tables and plots per dataset: ours beside the paper's published numbers."""


rule table:
    input:
        metrics=metrics_files,
    output:
        markdown="results/tables/{dataset}.md",
        csv="results/tables/{dataset}.csv",
        full_markdown="results/tables/{dataset}_all_metrics.md",
        full_csv="results/tables/{dataset}_all_metrics.csv",
    params:
        seeds=SEEDS,
    conda:
        "../../environment.yml"
    log:
        "results/logs/table/{dataset}.log",
    script:
        "../scripts/table.py"


rule auroc_plot:
    input:
        metrics=metrics_files,
    output:
        png="results/plots/{dataset}_auroc.png",
        pdf="results/plots/{dataset}_auroc.pdf",
    params:
        seeds=SEEDS,
    conda:
        "../../environment.yml"
    log:
        "results/logs/auroc_plot/{dataset}.log",
    script:
        "../scripts/auroc_plot.py"
