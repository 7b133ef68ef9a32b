from hgad.runtime.job import redirect_log, torch_job

redirect_log(snakemake)

from hgad.training.train import train

with torch_job(snakemake) as (settings, device):  # threads, settings, its own GPU
    train(snakemake.input.train_cache, snakemake.input.manifest, snakemake.output.model,
          snakemake.output.loss_log, snakemake.params.checkpoints, settings,
          int(snakemake.wildcards.seed), device)
