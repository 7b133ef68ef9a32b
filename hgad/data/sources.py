"""A dataset of the configuration -> its checked manifest (the step before any extraction)."""

from __future__ import annotations

import os

import pandas as pd

from hgad.data.checks import check_manifest, count_table
from hgad.data.layouts import PUBLISHED_COUNTS, build_manifest, union_manifest
from hgad.data.manifest import ManifestError, read_manifest


def dataset_manifest(name: str, spec: dict, root: str | os.PathLike,
                     member_manifests: list[str | os.PathLike] = ()
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build and check the manifest of dataset ``name`` (a ``datasets`` entry of the config).

    A union unites its members' manifests (already checked, given in ``spec["members"]`` order);
    any other layout indexes ``root``. Returns (manifest, counts per category and split, with
    the published counts beside them where known: not for a selection of categories, nor for a
    generated dataset such as the demo, which only borrows a layout). A missing mask, an
    unreadable or truncated image, a mask of the wrong size or an empty category raises
    ``ManifestError``.
    """
    categories = spec.get("categories") or None
    if spec["layout"] == "union":
        parts = [(member, read_manifest(path))
                 for member, path in zip(spec["members"], member_manifests, strict=True)]
        frame = union_manifest(parts)
        if categories:
            unknown = sorted(set(categories) - set(frame["category"]))
            if unknown:
                raise ManifestError(f"{name}: categories not found: {', '.join(unknown)}")
            frame = frame[frame["category"].isin(categories)].reset_index(drop=True)
        return frame, count_table(frame)
    frame = build_manifest(spec["layout"], root, name, categories, **spec.get("realiad", {}))
    expected = None if categories or "generate" in spec else PUBLISHED_COUNTS.get(spec["layout"])
    return frame, check_manifest(frame, expected_counts=expected)
