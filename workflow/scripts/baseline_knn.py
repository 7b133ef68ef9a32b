from hgad.runtime.job import redirect_log, torch_job

redirect_log(snakemake)

from hgad.evaluation.knn import evaluate_knn

out = snakemake.output
with torch_job(snakemake) as (settings, device):  # threads, settings, its own GPU
    evaluate_knn(snakemake.input.manifest, snakemake.input.train_cache,
                 snakemake.input.test_cache, out.metrics_json, out.metrics_csv, settings,
                 device)
