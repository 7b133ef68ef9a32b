"""Training from the feature cache; resumes from results/<dataset>/seed<seed>/checkpoints/."""

# train.score_every_sub_epoch: the script that wires the test scoring in as training's hook; the
# plain one imports no evaluation code, so an edit to evaluation retrains nothing.
TRAIN_SCRIPT = "train_scored.py" if SCORED_IN_TRAINING else "train.py"


rule train:
    input:
        manifest="results/{dataset}/manifest.csv",
        train_cache="results/{dataset}/features/train",
        # a warm start's model file (train.init): a new file retrains
        init=[config["train"]["init"]] if config["train"]["init"] else [],
        # train.score_every_sub_epoch: the test set is scored after every sub-epoch
        **({"test_cache": "results/{dataset}/features/test"} if SCORED_IN_TRAINING else {}),
    output:
        model="results/{dataset}/seed{seed}/model.pt",
        loss_log="results/{dataset}/seed{seed}/train_log.csv",
        **({"snapshot_metrics": "results/{dataset}/seed{seed}/snapshot_metrics.csv"}
           if SCORED_IN_TRAINING else {}),
    params:
        # the map settings of the normalisation constants stored for hgad predict (and of the
        # scoring after every sub-epoch)
        settings={**{key: config[key] for key in ['model', 'train', 'device']},
                  "evaluate": {key: config["evaluate"][key]
                               for key in ['msk_size', 'gaussian_sigma', 'batch_size',
                                           'precision',
                                           *(['normalization'] if SCORED_IN_TRAINING else [])]}},
        checkpoints=lambda wildcards: f"results/{wildcards.dataset}/seed{wildcards.seed}/checkpoints",
        # An edit to code training reaches reruns it (from scratch: hgad/training/train.py).
        code=script_code(TRAIN_SCRIPT),
    conda:
        "../../environment.yml"
    log:
        "results/logs/train/{dataset}_seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{dataset}_seed{seed}.tsv"
    threads: TORCH_THREADS
    resources:
        gpu=1,
        mem_mb=32000,
        runtime=1440,  # minutes: the paper schedule; a job cut short resumes from its checkpoint
    script:
        f"../scripts/{TRAIN_SCRIPT}"
