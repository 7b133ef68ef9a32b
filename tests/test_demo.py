"""The embedded demo dataset: deterministic, MVTec layout, binary non-empty masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hgad.data.demo import DEFECTS, generate_demo
from hgad.data.manifest import class_names
from hgad.data.mvtec import mvtec_manifest

SMALL = dict(categories=["gravel", "moon"], image_size=32, n_train=2, n_test_good=1,
             n_test_per_defect=1)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    """The same seed twice and another seed once."""
    base = tmp_path_factory.mktemp("demos")
    return (generate_demo(base / "a", seed=3, **SMALL), generate_demo(base / "b", seed=3, **SMALL),
            generate_demo(base / "c", seed=4, **SMALL))


def test_same_seed_gives_identical_files(three):
    a, b, _ = three
    files_a, files_b = _files(a), _files(b)
    assert files_a and files_a.keys() == files_b.keys()
    assert files_a == files_b


def test_other_seed_gives_other_images(three):
    a, _, c = three
    files_a, files_c = _files(a), _files(c)
    assert files_a.keys() == files_c.keys()
    differing = [name for name in files_a if files_a[name] != files_c[name]]
    assert len(differing) == len(files_a)


def test_mvtec_layout(three):
    root = three[0]
    assert sorted(p.name for p in root.iterdir()) == ["gravel", "moon"]
    for category in ("gravel", "moon"):
        base = root / category
        assert sorted(p.name for p in (base / "train").iterdir()) == ["good"]
        assert len(list((base / "train" / "good").glob("*.png"))) == 2
        assert sorted(p.name for p in (base / "test").iterdir()) == sorted(["good", *DEFECTS])
        assert sorted(p.name for p in (base / "ground_truth").iterdir()) == sorted(DEFECTS)
        for defect in DEFECTS:
            for image in (base / "test" / defect).glob("*.png"):
                assert (base / "ground_truth" / defect / f"{image.stem}_mask.png").is_file()
    assert not root.with_name(root.name + ".tmp").exists()
    assert not list(root.parent.glob("*.tmp"))


def test_images_and_masks(three):
    root = three[0]
    for path in root.rglob("*.png"):
        with Image.open(path) as image:
            assert image.size == (32, 32)
            pixels = np.asarray(image)
        if "ground_truth" in path.parts:
            assert set(np.unique(pixels)) <= {0, 255}
            assert (pixels == 255).any() and (pixels == 0).any()
        else:
            assert pixels.shape == (32, 32, 3)


def test_masks_cover_part_of_the_image_and_holes_are_dark(demo_root):
    for category in ("brick", "grass"):
        for defect in DEFECTS:
            mask = np.asarray(Image.open(demo_root / category / "ground_truth" / defect /
                                         "000_mask.png")) > 0
            assert 0 < mask.mean() < 0.5
        # a hole darkens the pixels under its mask to 15 % of their value
        mask = np.asarray(Image.open(demo_root / category / "ground_truth" / "hole" /
                                     "000_mask.png")) > 0
        image = np.asarray(Image.open(demo_root / category / "test" / "hole" / "000.png"))
        assert image[mask].max() <= round(0.15 * 255) + 1
        assert image[~mask].mean() > 2 * image[mask].mean()


def test_manifest_of_demo(demo_root):
    frame = mvtec_manifest(demo_root, "demo")
    assert class_names(frame) == ["brick", "grass"]
    train = frame[frame["split"] == "train"]
    test = frame[frame["split"] == "test"]
    assert len(train) == 8 and (train["label"] == 0).all()
    assert len(test) == 12
    assert (test["label"] == 1).sum() == 8
    assert (test.loc[test["label"] == 1, "mask"] != "").all()
    assert (test.loc[test["label"] == 0, "mask"] == "").all()


def test_regenerating_replaces_the_folder(tmp_path):
    dest = tmp_path / "demo"
    generate_demo(dest, seed=0, **SMALL)
    (dest / "stale.txt").write_text("left over")
    generate_demo(dest, seed=0, **{**SMALL, "categories": ["moon"]})
    assert sorted(p.name for p in dest.iterdir()) == ["moon"]
    assert not (tmp_path / "demo.tmp").exists()


def test_unknown_category(tmp_path):
    with pytest.raises(ValueError, match="marble"):
        generate_demo(tmp_path / "x", categories=["marble"], image_size=32)
    assert not (tmp_path / "x").exists()
