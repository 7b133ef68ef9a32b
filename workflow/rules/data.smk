"""Datasets: the generated demo dataset and the manifest of every dataset."""


rule demo_dataset:
    output:
        directory("resources/datasets/{dataset}"),
    params:
        demo=config["demo"],
    conda:
        "../../environment.yml"
    log:
        "results/logs/demo_dataset/{dataset}.log",
    wildcard_constraints:
        dataset="|".join(GENERATED) or "^$",
    script:
        "../scripts/demo_dataset.py"


rule manifest:
    input:
        unpack(dataset_inputs),
    output:
        "results/{dataset}/manifest.csv",
    params:
        root=lambda wildcards: dataset_root(wildcards.dataset),
        spec=lambda wildcards: DATASETS[wildcards.dataset],
    conda:
        "../../environment.yml"
    log:
        "results/logs/manifest/{dataset}.log",
    script:
        "../scripts/manifest.py"
