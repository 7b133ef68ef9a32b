"""Datasets: download and unpack (or generate the demo), then the manifest of every dataset."""


rule download:
    output:
        "resources/archives/{dataset}/{filename}",
    params:
        urls=lambda wildcards: source_urls(DATASETS[wildcards.dataset]),
        checksum=lambda wildcards: checksum(wildcards.dataset),
    wildcard_constraints:
        dataset=one_of(DOWNLOADED),
    localrule: True
    # Dead links are reported first, before anything else takes the cores.
    priority: 100
    conda:
        "../../environment.yml"
    log:
        "results/logs/download/{dataset}_{filename}.log",
    script:
        "../scripts/download.py"


rule unpack:
    input:
        archive=archive_path,
    output:
        directory("resources/datasets/{dataset}"),
    params:
        checksum=lambda wildcards: checksum(wildcards.dataset),
        verify=lambda wildcards: "archive" in DATASETS[wildcards.dataset],
    wildcard_constraints:
        dataset=one_of(UNPACKED),
    conda:
        "../../environment.yml"
    log:
        "results/logs/unpack/{dataset}.log",
    script:
        "../scripts/unpack.py"


rule demo_dataset:
    output:
        directory("resources/datasets/{dataset}"),
    params:
        demo=config["demo"],
    wildcard_constraints:
        dataset=one_of(GENERATED),
    conda:
        "../../environment.yml"
    log:
        "results/logs/demo_dataset/{dataset}.log",
    script:
        "../scripts/demo_dataset.py"


rule manifest:
    input:
        unpack(manifest_inputs),
    output:
        "results/{dataset}/manifest.csv",
    params:
        root=lambda wildcards: dataset_root(wildcards.dataset),
        spec=lambda wildcards: DATASETS[wildcards.dataset],
        files=dataset_files,
    conda:
        "../../environment.yml"
    log:
        "results/logs/manifest/{dataset}.log",
    script:
        "../scripts/manifest.py"
