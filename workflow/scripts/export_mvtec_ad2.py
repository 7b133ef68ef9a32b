from hgad.runtime.job import redirect_log, torch_job

redirect_log(snakemake)

from hgad.export.mvtec_ad2 import export_mvtec_ad2

with torch_job(snakemake) as (settings, device):  # threads, settings, its own GPU
    export_mvtec_ad2(snakemake.input.model, snakemake.input.root, snakemake.output[0], device,
                     batch_size=settings.evaluate.batch_size)
