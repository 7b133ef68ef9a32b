"""Baselines scored on the same cached features as HGAD (config `baselines`): no backbone, no
training, one pass over the features per dataset."""


rule baseline_knn:
    input:
        manifest="results/{dataset}/manifest.csv",
        train_cache="results/{dataset}/features/train",
        test_cache="results/{dataset}/features/test",
    output:
        metrics_json="results/{dataset}/baseline_knn/metrics.json",
        metrics_csv="results/{dataset}/baseline_knn/metrics.csv",
    params:
        settings={key: config[key] for key in ["evaluate", "knn", "device"]},
        code=script_code("baseline_knn.py"),
    conda:
        "../../environment.yml"
    log:
        "results/logs/baseline_knn/{dataset}.log",
    benchmark:
        "results/benchmarks/baseline_knn/{dataset}.tsv"
    threads: TORCH_THREADS
    resources:
        gpu=GPU_FOR_INFERENCE,
        # the largest VisA category's float16 banks at 1024 px: 3.5 GiB peak (bench/scale.py)
        mem_mb=pixel_metrics_mem_mb(16000),
        runtime=240,  # minutes
    script:
        "../scripts/baseline_knn.py"
