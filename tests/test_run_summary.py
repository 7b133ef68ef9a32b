"""The effective-settings summary: what it names, its image counts, the projected CPU training
time and its warning, in `hgad check-config` and once at the start of a workflow run."""

from __future__ import annotations

import pytest
import yaml
from tiny import CATEGORIES, N_DEFECTS, N_TEST_GOOD, N_TEST_PER_DEFECT, N_TRAIN
from workflow_runner import TINY, run_workflow

from hgad.cli import main
from hgad.data.demo import TEXTURES
from hgad.reporting.run_summary import image_counts, settings_summary
from hgad.training.projection import training_cpu_seconds


def generated(categories: list[str], n_train: int) -> dict:
    """A config part: the generated demo dataset with ``n_train`` training images a category."""
    return {"datasets": {"gen": {"layout": "mvtec", "generate": "demo"}},
            "demo": {"categories": categories, "n_train": n_train}}


def test_projection_of_the_paper_settings_by_hand():
    # 100 images x (64^2 + 32^2 + 16^2 positions: b6 stage 3 at 1024 px) x 25 x 8 sub-epochs x
    # 12 layers x multiply-adds of one layer at 200 channels (subnet 356 -> 712 -> 200, a 200 x
    # 200 permutation), over the measured 21,877 positions/s through 4 layers at 112 channels
    # (subnet 312 -> 624 -> 112, a 112 x 112 permutation).
    by_hand = (100 * (64**2 + 32**2 + 16**2) * 25 * 8 * 12 * (356 * 712 + 712 * 200 + 200 * 200)
               / (21_877 * 4 * (312 * 624 + 624 * 112 + 112 * 112)))
    assert by_hand == pytest.approx(23_191, abs=1)  # 6.4 h
    projected = training_cpu_seconds(images=100, positions=64**2 + 32**2 + 16**2, channels=200,
                                     pos_embed_dim=256, coupling_layers=12,
                                     sub_epochs_total=25 * 8, precision="fp32")
    assert projected == pytest.approx(by_hand)


def test_paper_settings_on_100_cpu_images_warn():
    summary = settings_summary({"device": "cpu", **generated(["brick", "grass", "gravel", "moon"],
                                                             25)})
    assert "preset paper (no `preset` key: the default)" in summary
    assert "tf_efficientnet_b6" in summary and "1024 px" in summary
    assert "gen: 100 training / 144 test images" in summary
    assert "about 6.4 h per seed" in summary
    assert summary.splitlines()[-1].startswith("warning: training may run on the CPU")


def test_demo_settings_on_50_cpu_images_do_not_warn():
    summary = settings_summary({"preset": "demo", "device": "cpu", **generated(["brick", "moon"],
                                                                               25)})
    assert summary.startswith("settings: preset demo\n")
    assert "tf_efficientnet_lite0" in summary and "384 px" in summary
    assert "4 coupling layers" in summary and "5 meta-epochs x 4 sub-epochs" in summary
    assert "precision  train bf16, evaluate bf16" in summary
    assert "gen: 50 training / 72 test images" in summary
    assert "warning" not in summary


def test_the_demo_preset_says_whether_its_training_compiles(monkeypatch):
    """``train.compile: auto``: the demo's 600 steps per level train eagerly; 8 times the
    images (4,800 steps) compile on a CPU with a C++ compiler, not on a GPU."""
    monkeypatch.setenv("CXX", "sh")  # a program that exists: the compiler is found
    demo = {"preset": "demo", "device": "cpu", **generated(list(TEXTURES), 60)}
    summary = settings_summary(demo)
    assert "precision  train bf16, evaluate bf16; train.compile auto" in summary
    assert "training eager (600 steps per level, compilation pays from 2000)" in summary
    longer = {**demo, **generated(list(TEXTURES), 8 * 60)}
    assert "training compiled (4800 steps per level)" in settings_summary(longer)
    assert "training eager on cuda" in settings_summary({**longer, "device": "cuda"})


def test_a_gpu_run_does_not_warn():
    summary = settings_summary({"device": "cuda", **generated(["brick"], 100)})
    assert "about 6.4 h per seed" in summary and "warning" not in summary


def test_counts_of_a_root_folder_and_of_published_datasets(demo_root):
    datasets = {"mine": {"layout": "folder", "root": str(demo_root), "categories": []},
                "absent": {"layout": "folder", "root": str(demo_root / "nowhere"),
                           "categories": []},
                "visa": {"layout": "visa", "urls": ["https://x/visa.tar"], "categories": []},
                "both": {"layout": "union", "members": ["mine", "visa"], "categories": []}}
    test_images = len(CATEGORIES) * (N_TEST_GOOD + N_DEFECTS * N_TEST_PER_DEFECT)
    assert image_counts("mine", datasets, {})[:2] == (len(CATEGORIES) * N_TRAIN, test_images)
    assert image_counts("absent", datasets, {}) is None
    assert image_counts("visa", datasets, {}) == (8659, 2162, "published")
    assert image_counts("both", datasets, {})[:2] == (8659 + len(CATEGORIES) * N_TRAIN,
                                                       2162 + test_images)


def test_check_config_prints_the_summary(tmp_path, capsys):
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({"preset": "demo", "device": "cpu",
                                    **generated(["brick"], 10)}))
    main(["check-config", "--config", str(path)])
    out = capsys.readouterr().out
    assert out.startswith(f"{path}: valid\nsettings: preset demo\n")
    assert "gen: 10 training / 36 test images" in out


@pytest.mark.workflow
def test_a_workflow_run_prints_the_summary_once(tmp_path):
    """Two jobs; the summary shows the precedence preset < the file < --config."""
    config = {**TINY, "preset": "demo"}  # the file: 2 meta-epochs, 1 coupling layer
    result = run_workflow(tmp_path, config, "results/demo/manifest.csv",
                          "--config", "train={'meta_epochs': 9}")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert output.count("settings: preset demo\n") == 1
    assert "epochs     9 meta-epochs x 1 sub-epochs" in output  # --config over the file
    assert "flows      1 coupling layers" in output  # the file over the preset
    assert "precision  train bf16, evaluate bf16" in output  # the preset over the defaults
    assert "demo: 12 training / 12 test images" in output
