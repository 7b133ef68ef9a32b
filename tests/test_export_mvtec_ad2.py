"""The MVTec AD 2 export for the evaluation server: written from a model trained on the
miniature dataset, then checked the way the server's upload script checks it."""

from __future__ import annotations

import contextlib
import copy
import io
import re
import shutil

import numpy as np
import pytest
import tifffile
from miniature import MVTEC_AD2_CATEGORIES, write_mvtec_ad2
from PIL import Image
from tiny import CPU, TINY_CONFIG

from hgad.cli import main
from hgad.data.manifest import write_manifest
from hgad.data.mvtec_ad2 import mvtec_ad2_manifest
from hgad.evaluation.seg_f1 import validation_threshold
from hgad.export.mvtec_ad2 import check_mvtec_ad2_export, export_mvtec_ad2
from hgad.features.extract import extract_features
from hgad.prediction.predict import predict
from hgad.runtime.config import settings_from_config
from hgad.training.train import train


def _trained(folder, resize):
    """A tiny model trained on the miniature MVTec AD 2 with ``features.resize``."""
    config = copy.deepcopy(TINY_CONFIG)
    config["features"]["resize"] = resize
    config["train"]["meta_epochs"] = 2
    settings = settings_from_config(config)
    manifest = folder / "manifest.csv"
    write_manifest(mvtec_ad2_manifest(folder / "mvtec_ad_2", "mvtec_ad2"), manifest)
    cache = extract_features(manifest, "train", folder / "train", settings.features, CPU)
    model = folder / "model.pt"
    train(cache, manifest, model, folder / "log.csv", folder / "checkpoints", settings, 0, CPU)
    return model


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The miniature's folder and the export's, written by ``hgad export-mvtec-ad2``."""
    folder = tmp_path_factory.mktemp("ad2_export")
    write_mvtec_ad2(folder / "mvtec_ad_2")
    model = _trained(folder, "whole")
    out = folder / "submission"
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        main(["export-mvtec-ad2", "--model", str(model), "--root", str(folder), "--out",
              str(out), "--device", "cpu"])
    (folder / "printed.txt").write_text(printed.getvalue())
    return folder, out


def test_thresholds_are_the_segf1_rule_on_the_validation_maps(exported, tmp_path):
    """Each category's threshold, as the command prints it, is the SegF1 rule on the maps that
    ``hgad predict`` gives its validation images."""
    folder, _ = exported
    thresholds = {category: float(value) for category, value in re.findall(
        r"^(\w+): binarised above (\S+) ", (folder / "printed.txt").read_text(), re.M)}
    assert set(thresholds) == set(MVTEC_AD2_CATEGORIES)
    for category in MVTEC_AD2_CATEGORIES:
        predict(folder / "model.pt", str(folder / "mvtec_ad_2" / category / "validation"),
                tmp_path / category, CPU, category=category)
        maps = np.stack([np.load(path) for path in sorted((tmp_path / category).glob("maps/*"))])
        assert len(maps) == 2
        assert thresholds[category] == validation_threshold(maps)


def test_every_private_image_has_both_files_at_its_size(exported):
    folder, out = exported
    for category, (width, height) in MVTEC_AD2_CATEGORIES.items():
        for split, stems in (("test_private", ["000_regular", "001_regular"]),
                             ("test_private_mixed", ["000_mixed"])):
            for stem in stems:
                tiff = out / "anomaly_images" / category / split / f"{stem}.tiff"
                anomaly = tifffile.imread(tiff)
                assert anomaly.dtype == np.float16 and anomaly.shape == (height, width)
                png = out / "anomaly_images_thresholded" / category / split / f"{stem}.png"
                with Image.open(png) as opened:
                    binary = np.asarray(opened)
                assert binary.dtype == np.uint8 and binary.shape == (height, width)
                assert np.isin(binary, (0, 255)).all()
                # binarised at one threshold: no normal pixel scores above an anomalous one
                # (float16 rounding aside)
                above, below = anomaly[binary == 255], anomaly[binary == 0]
                if above.size and below.size:
                    assert below.max() <= above.min()
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []  # no staging left


@pytest.mark.parametrize("damage", ["float32", "resized", "missing", "extra", "grey_values"])
def test_the_check_finds_each_kind_of_damage(exported, tmp_path, damage):
    folder, out = exported
    copy_dir = tmp_path / "copy"
    shutil.copytree(out, copy_dir)
    tiff = copy_dir / "anomaly_images" / "can" / "test_private" / "000_regular.tiff"
    png = copy_dir / "anomaly_images_thresholded" / "rice" / "test_private_mixed" / "000_mixed.png"
    anomaly = tifffile.imread(tiff)
    if damage == "float32":
        tifffile.imwrite(tiff, anomaly.astype(np.float32))
    elif damage == "resized":
        tifffile.imwrite(tiff, anomaly[:, :-1])
    elif damage == "missing":
        png.unlink()
    elif damage == "extra":
        (copy_dir / "anomaly_images" / "can" / "test_private" / "notes.txt").write_text("x")
    else:
        Image.fromarray(np.full((20, 16), 128, np.uint8)).save(png)
    with pytest.raises(ValueError, match="problem") as error:
        check_mvtec_ad2_export(copy_dir, folder)
    assert str(tiff if damage in ("float32", "resized") else png if damage != "extra"
               else tiff.parent / "notes.txt") in str(error.value)


def test_check_command_passes_on_the_export(exported, capsys):
    folder, out = exported
    main(["check-mvtec-ad2-export", "--root", str(folder), str(out)])
    assert "the maps of 6 private test images" in capsys.readouterr().out


def test_a_cropping_model_is_refused(tmp_path):
    write_mvtec_ad2(tmp_path / "mvtec_ad_2")
    model = _trained(tmp_path, "crop")
    with pytest.raises(ValueError, match="features.resize 'crop'"):
        export_mvtec_ad2(model, tmp_path, tmp_path / "out", CPU)
    assert not (tmp_path / "out").exists()
