"""Check a manifest against the files on disk and the published image counts.

Problems that make a dataset unusable raise :class:`~hgad.data.manifest.ManifestError` naming
each file: an anomalous image without its mask, a missing, unreadable or truncated image or
mask, an image in a pixel format that cannot be scaled to the backbone's input (float, or
integers beyond 16 bits; 16-bit images are scaled), a mask whose size differs from its image, a
category without training or test images. Counts that differ from the published ones, and a
category whose test set holds no anomalous image (its image and pixel metrics cannot be
computed), are only warnings.
"""

from __future__ import annotations

import warnings

import pandas as pd
from PIL import Image
from tqdm import tqdm

from hgad.data.images import unsupported_mode
from hgad.data.manifest import SPLITS, ManifestError
from hgad.runtime.result_warnings import ResultWarning

KINDS = ("normal", "anomalous", "total")
ALL = "(all)"
PROGRESS_MIN_ROWS = 200
MAX_LISTED = 20


def count_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Images per (category, split): columns category, split, normal, anomalous, total."""
    table = frame.groupby(["category", "split"])["label"].agg(anomalous="sum", total="size")
    table["normal"] = table["total"] - table["anomalous"]
    return table.reset_index()[["category", "split", *KINDS]]


def _empty_categories(table: pd.DataFrame) -> list[str]:
    """A problem line for each category without images in one of the splits."""
    present = set(zip(table["category"], table["split"], strict=True))
    return [
        f"{category}: category has no {split} images"
        for category in sorted(set(table["category"]))
        for split in SPLITS
        if (category, split) not in present
    ]


def decoded_size(path: str, what: str = "image") -> tuple[tuple[int, int] | None, str | None]:
    """(size, None) for a fully decodable image file, (None, problem naming ``path``) otherwise.

    The whole file is decoded: Pillow's lazy opening would hide a truncated file until then.

    An image (not a mask) must also have a pixel format the backbone's input can be made from.
    """
    try:
        with Image.open(path) as image:
            image.load()
            problem = unsupported_mode(image) if what == "image" else None
            return (None, f"{path}: {problem}") if problem else (image.size, None)
    except FileNotFoundError:
        return None, f"{path}: {what} file missing"
    except (OSError, SyntaxError, ValueError) as err:
        return None, f"{path}: unreadable or truncated {what} ({err})"


def _row_problems(image: str, label: int, mask: str) -> list[str]:
    """Problems with one manifest row's image and mask files."""
    size, problem = decoded_size(image, "image")
    problems = [problem] if problem else []
    if label and not mask:
        problems.append(f"{image}: anomalous image without a mask")
    if mask:
        mask_size, problem = decoded_size(mask, "mask")
        if problem:
            problems.append(f"{problem} (mask of {image})")
        elif size and mask_size != size:
            problems.append(
                f"{mask}: mask size {mask_size[0]}x{mask_size[1]} differs from its image "
                f"{image} ({size[0]}x{size[1]})"
            )
    return problems


def _file_problems(frame: pd.DataFrame, progress: bool) -> list[str]:
    """Problems with the files of every row, with a progress bar for many files."""
    rows = tqdm(
        frame[["image", "label", "mask"]].itertuples(index=False),
        total=len(frame),
        desc="checking images",
        unit="image",
        disable=not progress or len(frame) < PROGRESS_MIN_ROWS,
    )
    return [problem for row in rows for problem in _row_problems(*row)]


def _with_published(table: pd.DataFrame, expected: dict) -> pd.DataFrame:
    """``table`` plus one ``(all)`` row per split with the published counts beside."""
    totals = table.groupby("split", as_index=False)[list(KINDS)].sum().assign(category=ALL)
    report = pd.concat([table, totals[table.columns]], ignore_index=True)
    for kind in KINDS:
        report[f"published_{kind}"] = pd.array(
            [
                expected.get(split, {}).get(kind) if category == ALL else None
                for category, split in zip(report["category"], report["split"], strict=True)
            ],
            dtype="Int64",
        )
    return report


def _warn_mismatches(report: pd.DataFrame) -> None:
    """Warn for every split total that differs from a published count."""
    for row in report[report["category"] == ALL].itertuples(index=False):
        for kind in KINDS:
            published = getattr(row, f"published_{kind}")
            if not pd.isna(published) and getattr(row, kind) != published:
                warnings.warn(
                    f"{row.split}: {getattr(row, kind)} {kind} images, published {published}",
                    ResultWarning,
                    stacklevel=3,
                )


def _warn_single_class(table: pd.DataFrame, dataset: str) -> None:
    """Warn for every category whose test images are all normal or all anomalous."""
    test = table[table["split"] == "test"]
    for row in test[(test["anomalous"] == 0) | (test["normal"] == 0)].itertuples(index=False):
        missing = "anomalous" if row.anomalous == 0 else "normal"
        warnings.warn(
            f"dataset {dataset}, category {row.category}: the test set holds no {missing} image"
            f" ({row.total} test images); its image-level metrics (and, without anomalous"
            " pixels, its pixel-level ones) cannot be computed and will be reported as n/a",
            ResultWarning,
            stacklevel=3,
        )


def _listing(problems: list[str]) -> str:
    """The error text: how many problems, then the first :data:`MAX_LISTED` of them."""
    lines = problems[:MAX_LISTED]
    if len(problems) > MAX_LISTED:
        lines.append(f"... and {len(problems) - MAX_LISTED} more")
    return f"{len(problems)} problem(s) in the dataset:\n  " + "\n  ".join(lines)


def check_manifest(
    frame: pd.DataFrame, expected_counts: dict | None = None, progress: bool = True
) -> pd.DataFrame:
    """Check every file of ``frame``; return the image counts per (category, split).

    The table has columns category, split, normal, anomalous, total and ends with one ``(all)``
    row per split, beside which ``published_*`` columns hold ``expected_counts`` ({split:
    {"normal"|"anomalous"|"total": n}}, e.g. from :data:`hgad.data.layouts.PUBLISHED_COUNTS`;
    give them only when no category was left out). A difference is a warning, and so is a
    category whose test images are all normal or all anomalous. Unusable files raise
    :class:`ManifestError` listing each file and its problem.
    """
    table = count_table(frame)
    problems = _empty_categories(table) + _file_problems(frame, progress)
    if problems:
        raise ManifestError(_listing(problems))
    _warn_single_class(table, frame["dataset"].iloc[0])
    report = _with_published(table, expected_counts or {})
    _warn_mismatches(report)
    return report
