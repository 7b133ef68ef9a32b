from hgad.runtime.job import redirect_log, torch_job

redirect_log(snakemake)

from hgad.evaluation.sub_epoch_scoring import SubEpochScoring
from hgad.training.rule_job import train_rule_job

with torch_job(snakemake) as (settings, device):  # threads, settings, its own GPU
    # the test set scored after every sub-epoch (train.score_every_sub_epoch)
    scoring = SubEpochScoring(snakemake.input.manifest, snakemake.input.test_cache,
                              snakemake.output.snapshot_metrics, settings, device,
                              train_cache=snakemake.input.train_cache)
    train_rule_job(snakemake, settings, device, on_sub_epoch_end=scoring)
