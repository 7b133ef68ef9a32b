"""Frozen-backbone features, computed once per dataset and split, shared by every seed."""


rule extract_features:
    input:
        manifest="results/{dataset}/manifest.csv",
    output:
        directory("results/{dataset}/features/{split}"),
    params:
        settings={key: config[key] for key in ['features', 'device']},
    conda:
        "../../environment.yml"
    log:
        "results/logs/extract_features/{dataset}_{split}.log",
    benchmark:
        "results/benchmarks/extract_features/{dataset}_{split}.tsv"
    resources:
        gpu=GPU_FOR_INFERENCE,
    script:
        "../scripts/extract_features.py"
