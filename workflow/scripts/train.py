from hgad.runtime.job import redirect_log, torch_job

redirect_log(snakemake)

from hgad.training.rule_job import train_rule_job

with torch_job(snakemake) as (settings, device):  # threads, settings, its own GPU
    train_rule_job(snakemake, settings, device)
