from hgad.runtime.job import redirect_log, torch_job, use_weights_cache

redirect_log(snakemake)

if snakemake.input.get("weights"):  # fetched by the fetch_weights localrule: stay offline
    use_weights_cache(offline=True)

from hgad.features.extract import extract_features

with torch_job(snakemake) as (settings, device):  # threads, settings, its own GPU
    extract_features(snakemake.input.manifest, snakemake.wildcards.split, snakemake.output[0],
                     settings.features, device)
