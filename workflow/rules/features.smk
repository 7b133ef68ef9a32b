"""Frozen-backbone features, computed once per dataset and split, shared by every seed; the
Union's are read in place from its members' caches through an index."""


rule fetch_weights:
    output:
        "resources/weights/{backbone}.fetched",
    localrule: True
    conda:
        "../../environment.yml"
    log:
        "results/logs/fetch_weights/{backbone}.log",
    script:
        "../scripts/fetch_weights.py"


rule extract_features:
    input:
        unpack(weights_inputs),
        manifest="results/{dataset}/manifest.csv",
    output:
        directory("results/{dataset}/features/{split}"),
    wildcard_constraints:
        dataset=one_of(set(DATASETS) - set(UNITED)),
    params:
        settings={key: config[key] for key in ['features', 'device']},
        code=script_code("extract_features.py"),
    conda:
        "../../environment.yml"
    log:
        "results/logs/extract_features/{dataset}_{split}.log",
    benchmark:
        "results/benchmarks/extract_features/{dataset}_{split}.tsv"
    threads: TORCH_THREADS
    resources:
        gpu=GPU_FOR_INFERENCE,
        mem_mb=32000,
        runtime=240,  # minutes
    script:
        "../scripts/extract_features.py"


rule assemble_union_features:
    input:
        manifest="results/{dataset}/manifest.csv",
        member_manifests=lambda wildcards: expand(
            "results/{member}/manifest.csv", member=DATASETS[wildcards.dataset]["members"]
        ),
        member_caches=lambda wildcards: expand(
            "results/{member}/features/{split}",
            member=DATASETS[wildcards.dataset]["members"],
            split=wildcards.split,
        ),
    output:
        directory("results/{dataset}/features/{split}"),
    wildcard_constraints:
        dataset=one_of(UNITED),
    params:
        settings={key: config[key] for key in ["features", "device"]},
    conda:
        "../../environment.yml"
    log:
        "results/logs/assemble_union_features/{dataset}_{split}.log",
    script:
        "../scripts/assemble_union_features.py"
