"""bench/throughput.py on the tiny demo: every figure, the end-to-end arithmetic, compare."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from tiny import TINY_CONFIG

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import throughput  # noqa: E402


def bench(tmp_path_factory, caches, manifest_path, *options: str) -> dict:
    """The figures of ``bench`` on a demo run made of the session's manifest and caches."""
    work = tmp_path_factory.mktemp("throughput")
    run = work / "results" / "demo"
    (run / "features").mkdir(parents=True)
    shutil.copy(manifest_path, run / "manifest.csv")
    shutil.copytree(caches.train, run / "features" / "train")
    shutil.copytree(caches.test, run / "features" / "test")
    config = work / "config.yaml"
    config.write_text(yaml.safe_dump({**TINY_CONFIG, "datasets": {"demo": {"layout": "mvtec",
                                                                             "generate": "demo"}}}))
    out = work / "throughput.json"
    before = Path.cwd()
    throughput.main(["bench", "--workdir", str(work), "--config", str(config), "--device", "cpu",
                     "--threads", "1", "--meta-epochs", "2", "--sub-epochs", "200",
                     "--peak-seconds", "0.1", "--backbone-batches", "1",
                     "--json", str(out), *options])
    assert Path.cwd() == before  # it works in the run's folder, then comes back
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def figures(tmp_path_factory, caches, manifest_path) -> dict:
    return bench(tmp_path_factory, caches, manifest_path)


@pytest.fixture(scope="module")
def compiled_figures(tmp_path_factory, caches, manifest_path) -> dict:
    """With ``--compile``, in fp32 only (bf16's compiled training is timed by the same code)."""
    return bench(tmp_path_factory, caches, manifest_path, "--compile", "--precisions", "fp32")


def test_every_figure_is_measured(figures):
    peaks = figures["peak_flop_per_s"]
    assert peaks["fp32"] > 0 and peaks["bf16"] > 0 and "tf32" not in peaks  # CPU: no TF32
    for precision in ("fp32", "bf16"):
        f = figures[precision]
        for name in ("train_sub_epoch_s", "train_positions_per_s", "train_flop_per_s",
                     "evaluate_s", "snapshot_s", "backbone_img_per_s"):
            assert f[name] > 0, (precision, name)
        assert f["train_fraction_of_peak"] == pytest.approx(f["train_flop_per_s"]
                                                            / peaks[precision])
        assert 0 <= f["mean_image_auroc"] <= 1 and 0 <= f["mean_pixel_auroc"] <= 1
        assert "compiled" not in f
    # bf16 computes the condition's part of the subnetworks once per position: fewer FLOPs counted
    per_position = {p: figures[p]["train_flop_per_s"] / figures[p]["train_positions_per_s"]
                    for p in ("fp32", "bf16")}
    assert per_position["bf16"] < per_position["fp32"]


def test_end_to_end_is_the_reference_loop_against_the_cached_pipeline(figures):
    """Recomputed here from the measured parts: at 200 sub-epochs the reference reruns the
    backbone on every training and test image every sub-epoch and scores the test set each time;
    the pipeline extracts once and scores a snapshot every ``snapshot_every`` sub-epochs."""
    per_image = figures["extract_s"] / figures["extract_images"]
    n_train, n_test = figures["extract_images"], figures["evaluate_images"]
    fp32 = figures["fp32"]
    reference = 200 * ((n_train * per_image + fp32["train_sub_epoch_s"])
                       + (n_test * per_image + fp32["snapshot_s"]))
    every = TINY_CONFIG["train"].get("snapshot_every", 8)
    for precision in ("fp32", "bf16"):
        f = figures[precision]
        trained = (n_train + n_test) * per_image + 200 * f["train_sub_epoch_s"]
        e = f["end_to_end"]
        assert e["reference_total_s"] == pytest.approx(reference)
        assert e["total_s"] == pytest.approx(trained + 200 // every * f["snapshot_s"])
        assert e["total_every_sub_epoch_s"] == pytest.approx(trained + 200 * f["snapshot_s"])
        assert e["ratio"] == pytest.approx(reference / e["total_s"])


@pytest.mark.compiler
def test_compiled_training_is_timed_and_its_compilation_counted(compiled_figures):
    """``--compile``: the compiled training's own figures, and its end-to-end total, which
    counts the compilation once."""
    per_image = compiled_figures["extract_s"] / compiled_figures["extract_images"]
    n_images = compiled_figures["extract_images"] + compiled_figures["evaluate_images"]
    fp32 = compiled_figures["fp32"]
    compiled = fp32["compiled"]
    assert compiled["train_sub_epoch_s"] > 0
    assert compiled["train_fraction_of_peak"] == pytest.approx(
        compiled["train_flop_per_s"] / compiled_figures["peak_flop_per_s"]["fp32"])
    every = TINY_CONFIG["train"].get("snapshot_every", 8)
    assert compiled["end_to_end"]["total_s"] == pytest.approx(
        n_images * per_image + 200 * compiled["train_sub_epoch_s"] + compiled["compile_s"]
        + 200 // every * fp32["snapshot_s"])
    assert "bf16" not in compiled_figures


def _metrics_run(folder: Path, image_auroc: float) -> Path:
    seed = folder / "results" / "demo" / "seed0"
    seed.mkdir(parents=True)
    (seed / "metrics.json").write_text(json.dumps({
        "categories": {"brick": {"image_auroc": image_auroc, "pixel_auroc": 0.9}},
        "mean": {"image_auroc": image_auroc, "pixel_auroc": 0.9}}))
    return folder


def test_compare_passes_within_and_fails_beyond_the_tolerance(tmp_path, capsys):
    a = _metrics_run(tmp_path / "a", 0.90)
    assert throughput.main(["compare", str(a), str(_metrics_run(tmp_path / "b", 0.91)),
                            "--tolerance", "0.02"]) == 0
    assert throughput.main(["compare", str(a), str(_metrics_run(tmp_path / "c", 0.93)),
                            "--tolerance", "0.02"]) == 1
    assert "MISMATCH" in capsys.readouterr().out

