from hgad.runtime.job import redirect_log, torch_job

redirect_log(snakemake)

from hgad.evaluation.evaluate import evaluate

out = snakemake.output
with torch_job(snakemake) as (settings, device):  # threads, settings, its own GPU
    evaluate(snakemake.input.model, snakemake.input.manifest, snakemake.input.test_cache,
             out.metrics_json, out.metrics_csv, out.maps, settings, device,
             train_cache=snakemake.input.get("train_cache"),
             validation_cache=snakemake.input.get("validation_cache"))
