"""Manifest builders for each dataset layout, on miniature datasets in the real layouts."""

from __future__ import annotations

import shutil
import warnings
from collections import Counter
from pathlib import Path

import pytest
from miniature import (
    BTAD_CATEGORIES,
    MVTEC3D_CATEGORIES,
    VISA_CATEGORIES,
    write_btad,
    write_mvtec,
    write_mvtec3d,
    write_visa,
)

from hgad.data.layouts import (
    BTAD_FOLDER,
    MVTEC3D_FOLDER,
    PUBLISHED_COUNTS,
    btad_manifest,
    build_manifest,
    mvtec3d_manifest,
    union_manifest,
    visa_manifest,
)
from hgad.data.manifest import COLUMNS, ManifestError, class_names
from hgad.data.sources import dataset_manifest


def _counts(frame):
    return Counter(zip(frame["split"], frame["label"], strict=True))


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    """The four miniature datasets, unpacked, with their expected counts."""
    base = tmp_path_factory.mktemp("datasets")
    writers = {"mvtec": write_mvtec, "btad": write_btad, "mvtec3d": write_mvtec3d,
               "visa": write_visa}
    return {name: (base / name, writer(base / name)) for name, writer in writers.items()}


@pytest.fixture(scope="module")
def manifests(roots):
    return {name: build_manifest(name, root, name) for name, (root, _) in roots.items()}


def test_every_layout_gives_the_same_columns(manifests, roots):
    for name, frame in manifests.items():
        assert list(frame.columns) == COLUMNS
        assert _counts(frame) == roots[name][1]
        assert all(Path(p).is_file() for p in frame["image"])
        assert all(Path(p).is_file() for p in frame.loc[frame["label"] == 1, "mask"])
        assert (frame.loc[frame["label"] == 0, "mask"] == "").all()


def test_mvtec_keeps_greyscale_category(manifests):
    frame = manifests["mvtec"]
    assert class_names(frame) == ["bottle", "grid"]
    grid = frame[(frame["category"] == "grid") & (frame["label"] == 1)]
    assert set(grid["defect"]) == {"bent"}
    assert all(m.endswith("_mask.png") and "ground_truth/bent" in m for m in grid["mask"])


def test_btad_root_at_or_above_the_dataset_folder(roots, manifests):
    root, _ = roots["btad"]
    inside = btad_manifest(root / BTAD_FOLDER, "btad")
    assert inside.equals(manifests["btad"])


def test_btad_names_and_masks(manifests):
    frame = manifests["btad"]
    assert class_names(frame) == sorted(BTAD_CATEGORIES)
    assert set(frame["defect"]) == {"ok", "ko"}
    assert (frame["label"] == (frame["defect"] == "ko")).all()
    anomalous = frame[frame["label"] == 1]
    for category, (image_suffix, mask_suffix, _) in BTAD_CATEGORIES.items():
        rows = anomalous[anomalous["category"] == category]
        assert all(Path(p).suffix == image_suffix for p in rows["image"])
        assert all(Path(p).suffix == mask_suffix for p in rows["mask"])
        assert all(Path(i).stem == Path(m).stem for i, m in zip(rows["image"], rows["mask"],
                                                                strict=True))


def test_btad_missing_mask(tmp_path):
    write_btad(tmp_path)
    mask = tmp_path / BTAD_FOLDER / "03" / "ground_truth" / "ko" / "0001.bmp"
    mask.unlink()
    with pytest.raises(ManifestError, match="0001.bmp: anomalous image without a mask"):
        btad_manifest(tmp_path, "btad")


def test_mvtec3d_rgb_only(manifests):
    frame = manifests["mvtec3d"]
    assert class_names(frame) == sorted(MVTEC3D_CATEGORIES)
    assert set(frame["split"]) == {"train", "test"}
    assert not frame["image"].str.contains("/validation/").any()
    assert all(Path(p).parent.name == "rgb" and p.endswith(".png") for p in frame["image"])
    masks = frame.loc[frame["label"] == 1, "mask"]
    assert all(Path(p).parent.name == "gt" for p in masks)
    assert set(frame.loc[frame["label"] == 1, "defect"]) == set(MVTEC3D_CATEGORIES.values())


def test_mvtec3d_under_its_archive_folder(tmp_path):
    counts = write_mvtec3d(tmp_path, top=MVTEC3D_FOLDER)
    assert _counts(mvtec3d_manifest(tmp_path, "mvtec3d")) == counts


def test_visa_split_file(manifests, roots):
    frame = manifests["visa"]
    root, _ = roots["visa"]
    assert class_names(frame) == sorted(VISA_CATEGORIES)
    assert set(frame["defect"]) == {"normal", "anomaly"}
    assert all(p.startswith(str(root)) and p.endswith(".JPG") for p in frame["image"])
    assert all("/Data/Masks/Anomaly/" in p for p in frame.loc[frame["label"] == 1, "mask"])


def test_visa_bad_split_file(tmp_path):
    write_visa(tmp_path)
    split = tmp_path / "split_csv" / "1cls.csv"
    split.write_text(split.read_text().replace(",anomaly,", ",defect,", 1))
    with pytest.raises(ManifestError, match="1cls.csv: unknown label.*'defect'"):
        visa_manifest(tmp_path, "visa")
    split.unlink()
    with pytest.raises(ManifestError, match="1cls.csv: VisA split file not found"):
        visa_manifest(tmp_path, "visa")


@pytest.mark.parametrize("layout", ["mvtec", "btad", "mvtec3d", "visa"])
def test_category_filter(layout, roots):
    root, _ = roots[layout]
    full = build_manifest(layout, root, layout)
    first = class_names(full)[0]
    assert class_names(build_manifest(layout, root, layout, [first])) == [first]
    assert build_manifest(layout, root, layout, []).equals(full)
    with pytest.raises(ManifestError, match="categories not found: no_such_thing"):
        build_manifest(layout, root, layout, [first, "no_such_thing"])


def test_union_class_index_is_unique_and_stable(manifests):
    parts = list(manifests.items())
    union = union_manifest(parts)
    names = class_names(union)
    assert len(names) == len(set(names)) == sum(f["category"].nunique() for f in manifests.values())
    assert "mvtec/bottle" in names and "btad/01" in names and "visa/pcb1" in names
    assert set(union["dataset"]) == {"union"}
    assert len(union) == sum(len(f) for f in manifests.values())
    reordered = union_manifest(reversed(parts))
    assert class_names(reordered) == names
    assert reordered.equals(union)


def test_union_refuses_a_dataset_twice(manifests):
    with pytest.raises(ManifestError, match="more than once: mvtec"):
        union_manifest([("mvtec", manifests["mvtec"]), ("mvtec", manifests["mvtec"])])


def test_folder_with_arbitrary_category_names(tmp_path):
    categories = {"my widget": ("RGB", "dent"), "Part-7": ("L", "crack")}
    counts = write_mvtec(tmp_path, categories)
    frame = build_manifest("folder", tmp_path, "mine")
    assert class_names(frame) == sorted(categories)
    assert _counts(frame) == counts
    assert set(frame["dataset"]) == {"mine"}


def test_unknown_layout(tmp_path):
    with pytest.raises(ManifestError, match="unknown layout 'union'.*union_manifest"):
        build_manifest("union", tmp_path, "union")


def test_published_counts():
    assert PUBLISHED_COUNTS["mvtec"] == {"train": {"total": 3629}, "test": {"total": 1725}}
    assert PUBLISHED_COUNTS["visa"]["train"] == {"total": 8659}
    assert PUBLISHED_COUNTS["visa"]["test"] == {"normal": 962, "anomalous": 1200}


def test_categories_under_a_wrapper_folder_name_the_root_to_use(tmp_path):
    write_mvtec(tmp_path / "mvtec_anomaly_detection")
    (tmp_path / "readme.txt").write_text("downloaded by hand\n")
    wrapper = tmp_path / "mvtec_anomaly_detection"
    with pytest.raises(ManifestError) as error:
        build_manifest("mvtec", tmp_path, "mvtec")
    assert str(error.value) == (
        f"{tmp_path}: no categories found: found one folder 'mvtec_anomaly_detection' holding"
        f" {len(class_names(build_manifest('mvtec', wrapper, 'mvtec')))} category folder(s);"
        f" set root: {wrapper}")


def test_no_categories_says_what_the_top_level_holds(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "notes.txt").write_text("\n")
    with pytest.raises(ManifestError, match=(
            "no categories found: found 1 folder\\(s\\) \\('images'\\) and 1 file\\(s\\), none a"
            " category folder")):
        build_manifest("folder", tmp_path, "mine")


def _add_mac_companions(root: Path) -> None:
    """Beside every file a ``._<name>`` AppleDouble companion (no image), in every folder a
    ``.DS_Store``, and one hidden copy of a folder, as a Mac leaves a copied dataset."""
    folders = [root, *(p for p in root.rglob("*") if p.is_dir())]
    for path in [p for p in root.rglob("*") if p.is_file()]:
        path.with_name(f"._{path.name}").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    for folder in folders:
        (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    shutil.copytree(folders[1], folders[1].with_name(f".{folders[1].name}"))


@pytest.mark.parametrize("layout", ["mvtec", "btad", "mvtec3d"])
def test_hidden_files_and_folders_are_skipped(tmp_path, roots, layout):
    """A dataset copied from a Mac indexes (and passes the file checks) as without its ._*
    companions and .DS_Store files."""
    root = tmp_path / layout
    shutil.copytree(roots[layout][0], root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the published counts differ
        before, _ = dataset_manifest(layout, {"layout": layout}, root)
        _add_mac_companions(root)
        after, _ = dataset_manifest(layout, {"layout": layout}, root)
    assert after.equals(before)


def test_a_generated_dataset_is_not_compared_with_the_published_counts(tmp_path, roots):
    """The demo is generated in the MVTec AD layout: MVTec AD's image counts do not apply."""
    root = roots["mvtec"][0]
    with pytest.warns(UserWarning, match="published"):
        dataset_manifest("mvtec", {"layout": "mvtec"}, root)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dataset_manifest("demo", {"layout": "mvtec", "generate": "demo"}, root)
