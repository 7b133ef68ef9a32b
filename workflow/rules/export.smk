"""MVTec AD 2's private test maps for MVTec's evaluation server, checked before they appear."""


rule export_mvtec_ad2:
    input:
        model="results/{dataset}/seed{seed}/model.pt",
        root=lambda wildcards: dataset_root(wildcards.dataset),
    output:
        directory("results/{dataset}/seed{seed}/submission"),
    wildcard_constraints:
        dataset=one_of(EXPORTED),
    params:
        settings={key: config[key] for key in ["evaluate", "device"]},
        code=script_code("export_mvtec_ad2.py"),
    conda:
        "../../environment.yml"
    log:
        "results/logs/export_mvtec_ad2/{dataset}_seed{seed}.log",
    threads: TORCH_THREADS
    resources:
        gpu=GPU_FOR_INFERENCE,
        mem_mb=16000,
        runtime=240,  # minutes
    script:
        "../scripts/export_mvtec_ad2.py"
