from hgad.runtime.job import redirect_log

redirect_log(snakemake)

from hgad.features.extract import assemble_union_features
from hgad.runtime.config import settings_from_config

settings = settings_from_config(snakemake.params.settings)
assemble_union_features(snakemake.input.manifest, snakemake.wildcards.split, snakemake.output[0],
                        settings.features,
                        list(zip(snakemake.input.member_manifests, snakemake.input.member_caches,
                                 strict=True)))
