"""Tables and figures per dataset, the whole run's summary, the README's results section.

Every table (as an HTML page, and its CSV) and every figure (PNG; a PDF beside it) is a report
item with a caption from workflow/report/, in the category of its dataset (the summary in
"Summary"):  snakemake --report results/report.html  (or .zip).
"""

# Anomalous test images shown per category in the qualitative grid: the k best and k worst.
QUALITATIVE_EXAMPLES = 1


rule table:
    input:
        metrics=metrics_files,
        snapshots=snapshot_metrics_files,
        baselines=lambda wildcards: baseline_files(wildcards.dataset).values(),
    output:
        markdown="results/tables/{dataset}.md",
        csv=report("results/tables/{dataset}.csv", caption="../report/table_csv.rst",
                   category="{dataset}", subcategory="Tables",
                   labels={"table": "AUROC per category (CSV, fractions)"}),
        full_markdown="results/tables/{dataset}_all_metrics.md",
        full_csv=report("results/tables/{dataset}_all_metrics.csv",
                        caption="../report/table_all_metrics_csv.rst", category="{dataset}",
                        subcategory="Tables",
                        labels={"table": "all metrics per category (CSV, fractions)"}),
    params:
        seeds=SEEDS,
        baselines=lambda wildcards: baseline_files(wildcards.dataset),
    conda:
        "../../environment.yml"
    log:
        "results/logs/table/{dataset}.log",
    script:
        "../scripts/table.py"


rule table_html:
    input:
        "results/tables/{dataset}.md",
        "results/tables/{dataset}_all_metrics.md",
    output:
        report("results/tables/{dataset}.html", caption="../report/table.rst",
               category="{dataset}", subcategory="Tables",
               labels={"table": "AUROC per category"}),
        report("results/tables/{dataset}_all_metrics.html",
               caption="../report/table_all_metrics.rst", category="{dataset}",
               subcategory="Tables", labels={"table": "all metrics per category"}),
    localrule: True
    conda:
        "../../environment.yml"
    log:
        "results/logs/table_html/{dataset}.log",
    script:
        "../scripts/table_html.py"


rule summary:
    input:
        # Datasets outer, seeds inner: summary.py reads them in this order.
        metrics=[f"results/{dataset}/seed{seed}/metrics.json" for dataset in DATASETS
                 for seed in SEEDS],
        baselines=[path for dataset in DATASETS for path in baseline_files(dataset).values()],
    output:
        markdown="results/tables/summary.md",
        csv=report("results/tables/summary.csv", caption="../report/summary_csv.rst",
                   category="Summary", subcategory="Tables",
                   labels={"table": "mean per dataset (CSV, fractions)"}),
        html=report("results/tables/summary.html", caption="../report/summary.rst",
                    category="Summary", subcategory="Tables",
                    labels={"table": "mean per dataset"}),
    params:
        datasets=list(DATASETS),
        seeds=SEEDS,
        baselines={dataset: baseline_files(dataset) for dataset in DATASETS},
    localrule: True
    conda:
        "../../environment.yml"
    log:
        "results/logs/summary/summary.log",
    script:
        "../scripts/summary.py"


rule readme_section:
    input:
        summary="results/tables/summary.md",
        tables=expand("results/tables/{dataset}.md", dataset=DATASETS),
    output:
        "results/README_results.md",
    localrule: True
    conda:
        "../../environment.yml"
    log:
        "results/logs/readme_section/readme_section.log",
    script:
        "../scripts/readme_section.py"


rule readme:
    """Rewrite the README's results section in place: `snakemake readme` (not part of `all`)."""
    input:
        "results/README_results.md",
    output:
        touch("results/logs/readme/README.rewritten"),
    params:
        readme="README.md",
    localrule: True
    conda:
        "../../environment.yml"
    log:
        "results/logs/readme/readme.log",
    script:
        "../scripts/readme.py"


rule auroc_plot:
    input:
        metrics=metrics_files,
    output:
        png=report("results/plots/{dataset}_auroc.png", caption="../report/auroc_plot.rst",
                   category="{dataset}", subcategory="Figures",
                   labels={"figure": "AUROC per category (all seeds)"}),
        pdf="results/plots/{dataset}_auroc.pdf",
    params:
        seeds=SEEDS,
    conda:
        "../../environment.yml"
    log:
        "results/logs/auroc_plot/{dataset}.log",
    script:
        "../scripts/auroc_plot.py"


rule loss_curves:
    input:
        logs=lambda wildcards: expand("results/{dataset}/seed{seed}/train_log.csv",
                                      dataset=wildcards.dataset, seed=SEEDS),
    output:
        png=report("results/plots/{dataset}_loss.png", caption="../report/loss_curves.rst",
                   category="{dataset}", subcategory="Figures",
                   labels={"figure": "training loss (all seeds)"}),
        pdf="results/plots/{dataset}_loss.pdf",
    params:
        seeds=SEEDS,
    conda:
        "../../environment.yml"
    log:
        "results/logs/loss_curves/{dataset}.log",
    script:
        "../scripts/loss_curves.py"


rule roc_pro_curves:
    input:
        manifest="results/{dataset}/manifest.csv",
        maps="results/{dataset}/seed{seed}/maps",
    output:
        png=report("results/plots/{dataset}_seed{seed}_roc_pro.png",
                   caption="../report/roc_pro_curves.rst", category="{dataset}",
                   subcategory="Figures", labels={"figure": "ROC and PRO curves (seed {seed})"}),
        pdf="results/plots/{dataset}_seed{seed}_roc_pro.pdf",
    conda:
        "../../environment.yml"
    log:
        "results/logs/roc_pro_curves/{dataset}_seed{seed}.log",
    script:
        "../scripts/roc_pro_curves.py"


rule qualitative:
    input:
        manifest="results/{dataset}/manifest.csv",
        maps="results/{dataset}/seed{seed}/maps",
    output:
        png=report("results/plots/{dataset}_seed{seed}_qualitative.png",
                   caption="../report/qualitative.rst", category="{dataset}",
                   subcategory="Figures",
                   labels={"figure": "best and worst detected anomalies (seed {seed})"}),
        pdf="results/plots/{dataset}_seed{seed}_qualitative.pdf",
    params:
        k=QUALITATIVE_EXAMPLES,
    conda:
        "../../environment.yml"
    log:
        "results/logs/qualitative/{dataset}_seed{seed}.log",
    script:
        "../scripts/qualitative.py"
