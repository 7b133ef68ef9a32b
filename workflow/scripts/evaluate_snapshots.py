from hgad.runtime.job import redirect_log, torch_job

redirect_log(snakemake)

from hgad.evaluation.evaluate import evaluate_snapshots

with torch_job(snakemake) as (settings, device):  # threads, settings, its own GPU
    evaluate_snapshots(snakemake.input.model, snakemake.input.manifest, snakemake.input.test_cache,
                       snakemake.output[0], settings, device,
                       train_cache=snakemake.input.get("train_cache"))
