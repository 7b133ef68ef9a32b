from hgad.runtime.job import redirect_log, torch_job

redirect_log(snakemake)

from hgad.evaluation.sub_epoch_scoring import SubEpochScoring
from hgad.training.train import train

with torch_job(snakemake) as (settings, device):  # threads, settings, its own GPU
    scoring = None
    if settings.train.score_every_sub_epoch:  # the test set scored after every sub-epoch
        scoring = SubEpochScoring(snakemake.input.manifest, snakemake.input.test_cache,
                                  snakemake.output.snapshot_metrics, settings, device,
                                  train_cache=snakemake.input.train_cache)
    train(snakemake.input.train_cache, snakemake.input.manifest, snakemake.output.model,
          snakemake.output.loss_log, snakemake.params.checkpoints, settings,
          int(snakemake.wildcards.seed), device, on_sub_epoch_end=scoring)
