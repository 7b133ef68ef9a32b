"""``hgad predict`` end to end on the tiny demo: outputs, refusals, and the evaluation's scores."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from tiny import CATEGORIES, CPU, TINY_CONFIG

import hgad.prediction.predict
from hgad.cli import main
from hgad.data.manifest import read_manifest, select_split
from hgad.evaluation.conditioning import variant_anomaly_maps
from hgad.evaluation.evaluate import category_maps, conditioned_maps, load_test_set
from hgad.model.model_file import load_model
from hgad.model.normalization import image_scores
from hgad.prediction.predict import COLUMNS, predict


def _train_max_scores(trained, manifest_path, caches, settings) -> dict[str, float]:
    """{test image path: the evaluation's train_max image score under its true category}."""
    settings = dataclasses.replace(
        settings, evaluate=dataclasses.replace(settings.evaluate, normalization="train_max"))
    test = load_test_set(manifest_path, caches.test, settings, caches.train)
    model = load_model(trained.model, CPU)
    scores = {}
    for category in CATEGORIES:
        maps = category_maps(model, test, category, settings, CPU)
        paths = test.rows["image"].to_numpy()[test.indices(category)]
        scores.update(zip(paths, maps.reshape(len(maps), -1).max(1), strict=True))
    return scores


@pytest.fixture(scope="module")
def reference(trained, manifest_path, caches, tiny_settings) -> dict[str, float]:
    return _train_max_scores(trained, manifest_path, caches, tiny_settings)


@pytest.fixture(scope="module")
def predicted(tmp_path_factory, trained, demo_root) -> tuple[pd.DataFrame, object]:
    """``hgad predict`` (predicted category) on every test image, through the command line."""
    out = tmp_path_factory.mktemp("predict")
    main(["predict", "--model", str(trained.model), "--images", str(demo_root / "*/test/*/*.png"),
          "--out", str(out), "--device", "cpu", "--batch-size", "5"])
    return pd.read_csv(out / "scores.csv"), out


def test_outputs_per_image(predicted, manifest_path):
    table, out = predicted
    test_images = select_split(read_manifest(manifest_path), "test")["image"]
    assert list(table.columns) == COLUMNS
    assert sorted(table["image"]) == sorted(test_images)
    maps, overlays = sorted((out / "maps").iterdir()), sorted((out / "overlays").iterdir())
    assert len(maps) == len(overlays) == len(table)
    assert [p.stem for p in maps] == [p.stem for p in overlays]
    for path, score in zip(maps, table.sort_values("image")["score"], strict=True):
        anomaly = np.load(path)
        assert anomaly.shape == (TINY_CONFIG["evaluate"]["msk_size"],) * 2
        assert float(anomaly.max()) == pytest.approx(score, rel=1e-6)
    assert set(table["category"]) <= set(CATEGORIES)
    assert (table["category"] == table["predicted_category"]).all()
    assert ((table["confidence"] >= 1 / len(CATEGORIES)) & (table["confidence"] <= 1)).all()
    assert (table["anomalous"] == (table["score"] > table["threshold"])).all()
    assert not list(out.rglob("*.tmp"))


def _assert_evaluation_scores(table, trained, manifest_path, caches, settings, reference):
    """Every image's score is the evaluation's ``train_max`` score under the category used for
    it (the true one's where they agree)."""
    settings = dataclasses.replace(
        settings, evaluate=dataclasses.replace(settings.evaluate, normalization="train_max"))
    test = load_test_set(manifest_path, caches.test, settings, caches.train)
    model = load_model(trained.model, CPU)
    row_of = {image: row for row, image in enumerate(test.rows["image"])}
    truth = test.rows["category"].to_numpy()
    for category in CATEGORIES:
        chosen = table[table["category"] == category]
        if chosen.empty:
            continue
        rows = np.array([row_of[image] for image in chosen["image"]], dtype=int)
        # these test rows relabelled: category_maps scores them under `category`
        relabelled = dataclasses.replace(test, rows=test.rows.iloc[rows].assign(category=category),
                                         arrays=[array[rows] for array in test.arrays])
        maps = category_maps(model, relabelled, category, settings, CPU)
        np.testing.assert_allclose(chosen["score"], maps.reshape(len(maps), -1).max(1),
                                   rtol=1e-5)
        agree = truth[rows] == category
        np.testing.assert_allclose(chosen["score"][agree],
                                   [reference[i] for i in chosen["image"][agree]], rtol=1e-5)


def test_predicted_category_scores_equal_the_evaluation(predicted, trained, manifest_path, caches,
                                                        tiny_settings, reference):
    """The scores and categories of the workflow's ``predicted`` variant with ``train_max``."""
    table, _ = predicted
    _assert_evaluation_scores(table, trained, manifest_path, caches, tiny_settings, reference)
    settings = dataclasses.replace(
        tiny_settings, evaluate=dataclasses.replace(tiny_settings.evaluate,
                                                    normalization="train_max"))
    test = load_test_set(manifest_path, caches.test, settings, caches.train)
    model = load_model(trained.model, CPU)
    test_maps = conditioned_maps(model, test, ("predicted",), settings, CPU, train=False)
    training = conditioned_maps(model, test, ("oracle",), settings, CPU, train=True)
    workflow = variant_anomaly_maps(test_maps, training, CATEGORIES, ("predicted",),
                                    settings.evaluate.msk_size, settings.evaluate.gaussian_sigma)
    by_image = table.set_index("image")
    for category in CATEGORIES:
        images = test.rows["image"].to_numpy()[test.indices(category)]
        np.testing.assert_allclose(by_image.loc[images, "score"],
                                   image_scores(workflow[category]["predicted"]), rtol=1e-5)
        assert list(by_image.loc[images, "category"]) == [
            CATEGORIES[i] for i in test_maps[category].predicted]


def test_mixed_categories_in_a_batch(tmp_path, monkeypatch, trained, demo_root, manifest_path,
                                     caches, tiny_settings, reference):
    """Images of one batch predicted as different categories are each scored under their own."""
    def alternating(model, encoded):
        size = encoded[0][0][0]
        return torch.stack([torch.arange(size) % 2, 1 - torch.arange(size) % 2], 1).float()

    monkeypatch.setattr(hgad.prediction.predict, "class_scores", alternating)
    table = predict(trained.model, str(demo_root / "*/test/*/*.png"), tmp_path, CPU,
                    batch_size=4)
    assert table["category"].tolist()[:4] == ["grass", "brick", "grass", "brick"]
    _assert_evaluation_scores(table, trained, manifest_path, caches, tiny_settings, reference)


@pytest.mark.parametrize("category", CATEGORIES)
def test_given_category_scores_equal_train_max_evaluation(tmp_path, trained, demo_root,
                                                          reference, category):
    table = predict(trained.model, str(demo_root / category / "test"), tmp_path, CPU,
                    category=category)
    assert (table["category"] == category).all()
    assert len(table) == sum(f"/{category}/test/" in image for image in reference)
    for image, score in zip(table["image"], table["score"], strict=True):
        assert score == pytest.approx(reference[image], rel=1e-5)


def test_thresholds(tmp_path, trained, demo_root):
    state = torch.load(trained.model, map_location="cpu", weights_only=True)
    train_scores = state["inference"]["categories"]["brick"]["train_scores"]
    images = str(demo_root / "brick" / "test")
    table = predict(trained.model, images, tmp_path / "fpr", CPU, category="brick", fpr=0.0)
    assert (table["threshold"] == max(train_scores)).all()
    table = predict(trained.model, images, tmp_path / "t", CPU, category="brick", threshold=0.0)
    assert (table["anomalous"] == 1).all()


def test_mismatched_feature_settings_are_refused(tmp_path, trained, demo_root):
    config = {**TINY_CONFIG, "features": {**TINY_CONFIG["features"], "img_size": 96},
              "datasets": {"demo": {"layout": "folder", "root": str(demo_root)}}}
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(SystemExit, match=r"img_size=64.*other\.yaml has features\.img_size=96"):
        main(["predict", "--model", str(trained.model), "--images", str(demo_root),
              "--out", str(tmp_path / "out"), "--device", "cpu",
              "--config", str(tmp_path / "other.yaml")])
    assert not (tmp_path / "out").exists()


def test_other_backbone_weights_are_refused(tmp_path, trained, demo_root):
    state = torch.load(trained.model, map_location="cpu", weights_only=True)
    state["inference"]["features"]["weights_digest"] = "0" * 64
    torch.save(state, tmp_path / "model.pt")
    with pytest.raises(ValueError, match="weights_digest"):
        predict(tmp_path / "model.pt", str(demo_root), tmp_path / "out", CPU)


def test_unknown_category_and_no_images_are_refused(tmp_path, trained, demo_root):
    with pytest.raises(ValueError, match=r"'gravel'.*\['brick', 'grass'\]"):
        predict(trained.model, str(demo_root), tmp_path, CPU, category="gravel")
    with pytest.raises(FileNotFoundError, match="no image files"):
        predict(trained.model, str(tmp_path / "*.png"), tmp_path, CPU)


def _refused(argv: list[str]) -> str:
    """The message of ``hgad`` refusing ``argv`` with exit code 1, which must be one line."""
    with pytest.raises(SystemExit) as refusal:
        main(argv)
    message = refusal.value.code
    assert isinstance(message, str), message  # a message exits with code 1
    assert "\n" not in message and "Traceback" not in message
    return message


@pytest.fixture
def images_with_a_truncated_one(tmp_path, demo_root) -> tuple[object, object]:
    """(a folder of good test images and, sorted last, a truncated PNG, that PNG)."""
    folder = tmp_path / "images"
    folder.mkdir()
    for path in sorted((demo_root / "brick" / "test" / "good").iterdir())[:3]:
        (folder / path.name).write_bytes(path.read_bytes())
    good = sorted(folder.iterdir())[0].read_bytes()
    truncated = folder / "zz_truncated.png"
    truncated.write_bytes(good[:len(good) // 2])  # opens (lazily), fails when decoded
    return folder, truncated


def _predict_argv(model, images, out) -> list[str]:
    return ["predict", "--model", str(model), "--images", str(images), "--out", str(out),
            "--device", "cpu", "--batch-size", "1"]


def test_a_truncated_image_is_named_before_anything_is_written(tmp_path, trained,
                                                               images_with_a_truncated_one):
    images, truncated = images_with_a_truncated_one
    out = tmp_path / "out"
    message = _refused(_predict_argv(trained.model, images, out))
    assert message.startswith(f"hgad predict: error: {truncated}: unreadable or truncated image")
    assert not out.exists() or not any(out.iterdir())


def test_a_file_that_is_not_a_model_is_named(tmp_path, trained, demo_root):
    out = tmp_path / "out"
    not_pickled = tmp_path / "notes.pt"
    not_pickled.write_bytes(b"\x00 not a pickle \xff" * 8)
    other_dict = tmp_path / "dict.pt"
    torch.save({"model": {}}, other_dict)
    for path, why in ((not_pickled, "torch.load(weights_only=True) refused to load it "
                                     "(UnpicklingError)"),
                      (other_dict, "it holds a dict without 'hparams'")):
        message = _refused(_predict_argv(path, demo_root / "brick" / "test", out))
        assert message == f"hgad predict: error: {path}: not a model file of `hgad train`: {why}"
        assert not out.exists()


def test_an_out_that_is_a_file_is_named(tmp_path, trained, demo_root):
    out = tmp_path / "scores.csv"
    out.write_text("mine\n")
    message = _refused(_predict_argv(trained.model, demo_root / "brick" / "test", out))
    assert message == f"hgad predict: error: {out}: --out names a file; give a folder for the " \
                      "predictions"
    assert out.read_text() == "mine\n"


def test_a_failure_while_scoring_leaves_nothing(tmp_path, monkeypatch, trained, demo_root):
    """Maps and overlays appear only once every image is scored, then scores.csv."""
    calls = []

    def failing_on_the_second_batch(*args):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("out of memory")
        return real(*args)

    real = hgad.prediction.predict.batch_level_maps
    monkeypatch.setattr(hgad.prediction.predict, "batch_level_maps", failing_on_the_second_batch)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="out of memory"):
        predict(trained.model, str(demo_root / "brick" / "test"), out, CPU, batch_size=2)
    assert list(out.iterdir()) == []


def test_hidden_files_and_folders_are_not_images(tmp_path, trained, demo_root):
    """A Mac's ._name companions (not images at all) and hidden folders are skipped."""
    folder = tmp_path / "images"
    (folder / ".thumbnails").mkdir(parents=True)
    good = sorted((demo_root / "brick" / "test" / "good").iterdir())[0]
    (folder / good.name).write_bytes(good.read_bytes())
    (folder / f"._{good.name}").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (folder / ".thumbnails" / good.name).write_bytes(good.read_bytes())
    table = predict(trained.model, str(folder), tmp_path / "out", CPU)
    assert table["image"].tolist() == [str(folder / good.name)]
