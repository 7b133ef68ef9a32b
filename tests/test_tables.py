"""Tests of hgad.reporting.tables and of hgad.reporting.numbers and .formatting: golden Markdown/CSV
files from fixed metrics JSONs, and the numbers.

The golden files live in ``tests/golden/``. The ``mvtec`` table is also computed by hand below
(:data:`MVTEC_BY_HAND`), so its golden files are checked against arithmetic, not only against an
earlier output of the code. After an intended change of the table layout, the failing test
prints the difference: edit the golden file to match and review it in the commit. Cases:
``mvtec`` (plain names, two seeds, one commit, paper numbers), ``union`` (dataset-qualified
names, two seeds from two commits, paper numbers for 2 of its 40 categories) and ``demo`` (one
seed, no paper numbers).
"""

from __future__ import annotations

import difflib
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from hgad.reporting import formatting, numbers, tables

GOLDEN = Path(__file__).parent / "golden"
OTHER_METRICS = ("image_ap", "image_f1_max", "pixel_ap", "pixel_f1_max", "pixel_iou_max",
                 "pixel_aupro")

# (dataset, seed) -> commit, {category: (image_auroc, pixel_auroc)}
CASES = {
    "mvtec": {0: ("abc123", {"bottle": (0.990, 0.980), "cable": (0.960, 0.950)}),
              1: ("abc123", {"bottle": (0.994, 0.976), "cable": (0.952, 0.970)})},
    "union": {0: ("abc123", {"mvtec/bottle": (1.000, 0.980), "btad/01": (0.990, 0.970)}),
              1: ("def456-dirty", {"mvtec/bottle": (0.996, 0.984), "btad/01": (0.982, 0.962)})},
    "demo": {0: ("abc123", {"brick": (1.000, 0.950), "grass": (0.880, 0.900)})},
}


def category_metrics(image_auroc: float, pixel_auroc: float) -> dict[str, float]:
    """Every metric of one category: the two AUROCs and others derived from them."""
    others = {name: round(image_auroc - 0.01 * (i + 1), 4) for i, name in enumerate(OTHER_METRICS)}
    return {"image_auroc": image_auroc, "pixel_auroc": pixel_auroc, **others,
            "num_test": 35, "num_anomalous": 24}


def write_metrics(folder: Path, dataset: str) -> dict[int, Path]:
    """The metrics JSON of each seed of ``CASES[dataset]``, as hgad.evaluation.evaluate writes
    them."""
    files = {}
    for seed, (commit, categories) in CASES[dataset].items():
        per_category = {name: category_metrics(*aurocs) for name, aurocs in categories.items()}
        mean = pd.DataFrame(per_category).T.drop(columns=["num_test", "num_anomalous"]).mean()
        content = {"model": f"{dataset}/seed{seed}/model.pt", "manifest": f"{dataset}.csv",
                   "categories": per_category, "mean": mean.to_dict(),
                   "provenance": {"commit": commit, "hgad": "0.1.0", "torch": "2.14.0",
                                  "timm": "1.0.20", "freia": "0.2"}}
        files[seed] = folder / f"{dataset}_seed{seed}.json"
        files[seed].write_text(json.dumps(content, indent=2))
    return files


def check_golden(path: Path) -> None:
    """``path`` equals ``tests/golden/<its name>``; on failure the message is the diff."""
    golden = GOLDEN / path.name
    assert golden.exists(), f"{golden} is missing"
    text, expected = path.read_text(encoding="utf-8"), golden.read_text(encoding="utf-8")
    diff = difflib.unified_diff(expected.splitlines(), text.splitlines(), str(golden),
                                path.name, lineterm="")
    assert text == expected, "\n".join(diff)


# The mvtec case by hand. Seeds 0 and 1, image AUROC: bottle 0.990, 0.994; cable 0.960, 0.952.
# Pixel AUROC: bottle 0.980, 0.976; cable 0.950, 0.970. Mean over two seeds a, b: (a + b) / 2;
# sample std: |a - b| / sqrt(2). The mean row: per seed the mean over categories (image 0.975,
# 0.973; pixel 0.965, 0.973), then mean and std over seeds. Paper (hgad/resources): bottle
# 1.000/0.986, cable 0.970/0.959, mean 0.984/0.979. Delta = ours - paper.
R2 = math.sqrt(2)
MVTEC_BY_HAND = {  # category: (image mean, image std, pixel mean, pixel std, paper image, paper
    #                              pixel, delta image, delta pixel)
    "bottle": (0.992, 0.004 / R2, 0.978, 0.004 / R2, 1.000, 0.986, -0.008, -0.008),
    "cable": (0.956, 0.008 / R2, 0.960, 0.020 / R2, 0.970, 0.959, -0.014, 0.001),
    "mean": (0.974, 0.002 / R2, 0.969, 0.008 / R2, 0.984, 0.979, -0.010, -0.010),
}
# The same in percent with one decimal, as the Markdown table prints it.
MVTEC_MARKDOWN_BY_HAND = [
    ["category", "Image AUROC", "Pixel AUROC", "Image/Pixel AUROC", "Paper Image/Pixel",
     "Δ Image/Pixel"],
    ["bottle", "99.2 ± 0.3", "97.8 ± 0.3", "99.2/97.8", "100.0/98.6", "-0.8/-0.8"],
    ["cable", "95.6 ± 0.6", "96.0 ± 1.4", "95.6/96.0", "97.0/95.9", "-1.4/+0.1"],
    ["mean", "97.4 ± 0.1", "96.9 ± 0.6", "97.4/96.9", "98.4/97.9", "-1.0/-1.0"],
]


def markdown_cells(markdown: str) -> list[list[str]]:
    """The cells of the Markdown table in ``markdown``, one list per row (rule line skipped)."""
    rows = [line.strip().strip("|").split("|") for line in markdown.splitlines()
            if line.startswith("|") and not line.startswith("|:")]
    return [[cell.strip() for cell in row] for row in rows]


@pytest.fixture(scope="module")
def paper() -> pd.DataFrame:
    return numbers.load_paper_results()


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """Write every case's tables once; returns the output folder."""
    tmp_path = tmp_path_factory.mktemp("written")
    out = tmp_path / "tables"
    for dataset in CASES:
        tables.write_tables(dataset, write_metrics(tmp_path, dataset), out / f"{dataset}.md",
                            out / f"{dataset}.csv", out / f"{dataset}_all_metrics.md",
                            out / f"{dataset}_all_metrics.csv", generated=dataset == "demo")
    tables.write_summary({dataset: write_metrics(tmp_path, dataset) for dataset in CASES},
                         out / "summary.md", out / "summary.csv", generated={"demo"})
    return out


# --- golden files --------------------------------------------------------------------------

@pytest.mark.parametrize("name", [f"{dataset}{suffix}" for dataset in CASES
                                  for suffix in (".md", ".csv", "_all_metrics.md",
                                                 "_all_metrics.csv")]
                         + ["summary.md", "summary.csv"])
def test_golden(written, name):
    check_golden(written / name)


def test_mvtec_golden_csv_is_the_table_computed_by_hand():
    golden = pd.read_csv(GOLDEN / "mvtec.csv", index_col="category")
    assert list(golden.index) == list(MVTEC_BY_HAND)
    for category, values in MVTEC_BY_HAND.items():
        assert golden.loc[category].tolist() == pytest.approx(values, abs=5e-7), category


def test_mvtec_golden_markdown_is_the_table_computed_by_hand():
    markdown = (GOLDEN / "mvtec.md").read_text(encoding="utf-8")
    assert markdown_cells(markdown) == MVTEC_MARKDOWN_BY_HAND


def test_only_final_files_are_left(written):
    names = sorted(p.name for p in written.iterdir())
    assert not [name for name in names if name.endswith(".tmp")]
    assert len(names) == 4 * len(CASES) + 2


# --- the paper's numbers -------------------------------------------------------------------

def test_packaged_paper_results(paper):
    assert list(paper.columns) == ["setting", "dataset", "category", "image_auroc", "pixel_auroc"]
    assert set(paper["setting"]) == {"mvtec", "btad", "mvtec3d", "visa", "union"}
    assert paper["image_auroc"].between(0, 1).all() and paper["pixel_auroc"].between(0, 1).all()
    assert "01" in set(paper["category"])  # BTAD's names are not parsed as numbers


def test_paper_numbers_plain_names(paper):
    mvtec = numbers.paper_numbers(paper, "mvtec")
    assert len(mvtec) == 16 and mvtec.index[-1] == "mean"
    assert mvtec.loc["bottle"].tolist() == [1.000, 0.986]
    assert numbers.paper_numbers(paper, "btad").loc["01", "pixel_auroc"] == 0.976


def test_paper_numbers_union_names(paper):
    union = numbers.paper_numbers(paper, "union")
    assert union.loc["mvtec/bottle"].tolist() == [1.000, 0.982]
    assert union.loc["btad/01"].tolist() == [0.997, 0.974]
    assert union.loc["mean"].tolist() == [0.935, 0.975]
    assert all("/" in name for name in union.index.drop("mean"))
    assert len(union) == 41


@pytest.mark.parametrize("dataset", ["demo", "my_folder"])
def test_paper_numbers_of_other_datasets_are_empty(paper, dataset):
    assert numbers.paper_numbers(paper, dataset).empty


# --- our numbers ---------------------------------------------------------------------------

def test_collect_long_format(tmp_path):
    long = numbers.collect(write_metrics(tmp_path, "union"))
    assert list(long.columns) == ["seed", "category", "metric", "value"]
    assert len(long) == 2 * 2 * 8
    assert not long["metric"].str.startswith("num_").any()
    assert list(long["category"].unique()) == ["mvtec/bottle", "btad/01"]
    row = long[(long["seed"] == 1) & (long["category"] == "btad/01")
               & (long["metric"] == "pixel_auroc")]
    assert row["value"].tolist() == [0.962]


def test_mean_and_std_over_seeds(tmp_path):
    stats = numbers.seed_stats(numbers.collect(write_metrics(tmp_path, "mvtec")))
    assert list(stats.index) == ["bottle", "cable", "mean"]
    assert stats.loc["bottle", "image_auroc_mean"] == pytest.approx(0.992)
    assert stats.loc["bottle", "image_auroc_std"] == pytest.approx(0.004 / math.sqrt(2))
    assert stats.loc["cable", "pixel_auroc_std"] == pytest.approx(0.020 / math.sqrt(2))
    # mean row: mean over categories within each seed (0.975, 0.973), then over seeds
    assert stats.loc["mean", "image_auroc_mean"] == pytest.approx(0.974)
    assert stats.loc["mean", "image_auroc_std"] == pytest.approx(0.002 / math.sqrt(2))
    assert stats.loc["mean", "image_ap_mean"] == pytest.approx(0.974 - 0.01)


def test_one_seed_has_no_std(tmp_path, paper):
    long = numbers.collect(write_metrics(tmp_path, "demo"))
    assert numbers.seed_stats(long)["image_auroc_std"].isna().all()
    table = formatting.auroc_table("demo", long, paper)
    assert table.loc["mean", "Image AUROC"] == "94.0"
    assert table.loc["brick", "Image/Pixel AUROC"] == "100.0/95.0"
    assert "±" not in formatting.full_table("demo", long).to_string()


def test_demo_has_no_paper_columns(tmp_path, paper):
    long = numbers.collect(write_metrics(tmp_path, "demo"))
    assert list(formatting.auroc_table("demo", long, paper).columns) == [
        "Image AUROC", "Pixel AUROC", "Image/Pixel AUROC"]
    assert list(numbers.auroc_numbers("demo", long, paper).columns) == [
        "image_auroc_mean", "image_auroc_std", "pixel_auroc_mean", "pixel_auroc_std"]


def test_delta_is_ours_minus_paper(tmp_path, paper):
    ours = numbers.auroc_numbers("union", numbers.collect(write_metrics(tmp_path, "union")), paper)
    # ours: mvtec/bottle 0.998/0.982, btad/01 0.986/0.966, mean 0.992/0.974
    expected = {"mvtec/bottle": (1.000, 0.982, 0.998 - 1.000, 0.0),
                "btad/01": (0.997, 0.974, 0.986 - 0.997, 0.966 - 0.974),
                "mean": (0.935, 0.975, 0.992 - 0.935, 0.974 - 0.975)}
    for category, values in expected.items():
        row = ours.loc[category, ["paper_image_auroc", "paper_pixel_auroc",
                                  "delta_image_auroc", "delta_pixel_auroc"]]
        assert row.tolist() == pytest.approx(values, abs=1e-12)


def test_formatted_auroc_table(tmp_path, paper):
    long = numbers.collect(write_metrics(tmp_path, "union"))
    table = formatting.auroc_table("union", long, paper)
    assert list(table.index) == ["mvtec/bottle", "btad/01", "mean"]
    assert table.loc["mvtec/bottle"].tolist() == [
        "99.8 ± 0.3", "98.2 ± 0.3", "99.8/98.2", "100.0/98.2", "-0.2/+0.0"]  # never "-0.0"
    assert table.loc["btad/01", "Δ Image/Pixel"] == "-1.1/-0.8"
    assert table.loc["mean", "Δ Image/Pixel"] == "+5.7/-0.1"


def test_category_the_paper_lacks(tmp_path, paper):
    long = numbers.collect(write_metrics(tmp_path, "union"))
    long["category"] = long["category"].replace({"btad/01": "btad/99"})
    ours = numbers.auroc_numbers("union", long, paper)
    assert ours.loc["btad/99", ["paper_image_auroc", "delta_pixel_auroc"]].isna().all()
    table = formatting.format_auroc(ours)
    assert table.loc["btad/99", "Paper Image/Pixel"] == "–/–"
    assert table.loc["btad/99", "Δ Image/Pixel"] == "–/–"


def test_full_table_has_every_metric(tmp_path):
    table = formatting.full_table("mvtec", numbers.collect(write_metrics(tmp_path, "mvtec")))
    assert list(table.columns) == ["Image AUROC", "Pixel AUROC", "Image AP", "Image F1 max",
                                   "Pixel AP", "Pixel F1 max", "Pixel IoU max", "Pixel AUPRO"]
    assert table.loc["cable", "Pixel AUROC"] == "96.0 ± 1.4"
    assert table.attrs["dataset"] == "mvtec"


def test_summary_holds_each_mean_row(tmp_path, paper):
    per_dataset = {dataset: formatting.auroc_table(dataset, numbers.collect(write_metrics(tmp_path,
                                                                                     dataset)),
                                               paper)
                   for dataset in CASES}
    summary = numbers.summary_table(per_dataset)
    assert list(summary.index) == list(CASES)
    assert summary.loc["union"].tolist() == per_dataset["union"].loc["mean"].tolist()
    assert summary.loc["demo", "Image AUROC"] == "94.0"
    assert pd.isna(summary.loc["demo", "Paper Image/Pixel"])


# --- the Markdown text ---------------------------------------------------------------------

def test_source_line():
    assert formatting.source_line({0: "abc", 1: "abc"}) == "Seeds 0, 1, from commit abc."
    assert formatting.source_line({1: "def", 0: "abc", 2: "abc"}) == (
        "Seeds 0, 1, 2, from commits abc (seeds 0, 2), def (seed 1).")


def test_markdown_traces_seeds_and_commits(written):
    union = (written / "union.md").read_text(encoding="utf-8")
    assert "Seeds 0, 1, from commits abc123 (seed 0), def456-dirty (seed 1)." in union
    assert "over its 40 categories" in union  # our 2 categories: the means differ in kind
    assert "smoke test" not in union
    demo = (written / "demo.md").read_text(encoding="utf-8")
    assert "Seed 0, from commit abc123." in demo
    assert "smoke test of the pipeline, not a benchmark" in demo
    assert "Paper" not in demo


def test_generated_dataset_is_recognised_by_its_spec_not_its_name(tmp_path):
    """The no-benchmark note follows ``generate: demo`` (``generated``), whatever the name."""
    files = write_metrics(tmp_path, "demo")
    for name, generated in (("my_demo", True), ("demo", False)):
        tables.write_tables(name, files, tmp_path / f"{name}.md", tmp_path / f"{name}.csv",
                            out_full_md=tmp_path / f"{name}_all.md", generated=generated)
        tables.write_summary({name: files}, tmp_path / f"{name}_summary.md",
                             tmp_path / f"{name}_summary.csv",
                             generated={name} if generated else ())
        for suffix in ("", "_all", "_summary"):
            text = (tmp_path / f"{name}{suffix}.md").read_text(encoding="utf-8")
            assert (f"The `{name}` dataset is a smoke test" in text) == generated, (name, suffix)


def test_csv_holds_fractions(written):
    union = pd.read_csv(written / "union.csv", index_col="category")
    assert union.loc["mean", "image_auroc_mean"] == pytest.approx(0.992)
    assert union.loc["btad/01", "delta_image_auroc"] == pytest.approx(0.986 - 0.997)
    demo = pd.read_csv(written / "demo.csv", index_col="category")
    assert demo["image_auroc_std"].isna().all()
    assert "paper_image_auroc" not in demo


def test_no_metrics_files_is_an_error():
    with pytest.raises(ValueError, match="no metrics files"):
        numbers.collect({})
