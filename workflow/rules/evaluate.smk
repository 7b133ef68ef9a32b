"""Evaluation of each (dataset, seed) model on the cached test features."""


rule evaluate:
    input:
        unpack(train_inputs_for_evaluation),
        unpack(validation_inputs),
        model="results/{dataset}/seed{seed}/model.pt",
        manifest="results/{dataset}/manifest.csv",
        test_cache="results/{dataset}/features/test",
    output:
        metrics_json="results/{dataset}/seed{seed}/metrics.json",
        metrics_csv="results/{dataset}/seed{seed}/metrics.csv",
        maps=directory("results/{dataset}/seed{seed}/maps"),
    params:
        settings={key: config[key] for key in ['evaluate', 'device']},
        code=script_code("evaluate.py"),
    conda:
        "../../environment.yml"
    log:
        "results/logs/evaluate/{dataset}_seed{seed}.log",
    benchmark:
        "results/benchmarks/evaluate/{dataset}_seed{seed}.tsv"
    threads: TORCH_THREADS
    resources:
        gpu=GPU_FOR_INFERENCE,
        mem_mb=pixel_metrics_mem_mb(32000),
        runtime=240,  # minutes
    script:
        "../scripts/evaluate.py"


# With train.score_every_sub_epoch the training job writes snapshot_metrics.csv itself.
if not SCORED_IN_TRAINING:

    rule evaluate_snapshots:
        input:
            unpack(train_inputs_for_evaluation),
            model="results/{dataset}/seed{seed}/model.pt",
            manifest="results/{dataset}/manifest.csv",
            test_cache="results/{dataset}/features/test",
        output:
            "results/{dataset}/seed{seed}/snapshot_metrics.csv",
        params:
            settings={key: config[key] for key in ["evaluate", "device"]},
            code=script_code("evaluate_snapshots.py"),
        conda:
            "../../environment.yml"
        log:
            "results/logs/evaluate_snapshots/{dataset}_seed{seed}.log",
        benchmark:
            "results/benchmarks/evaluate_snapshots/{dataset}_seed{seed}.tsv"
        threads: TORCH_THREADS
        resources:
            gpu=GPU_FOR_INFERENCE,
            mem_mb=pixel_metrics_mem_mb(32000),
            runtime=480,  # minutes: every snapshot
        script:
            "../scripts/evaluate_snapshots.py"
