"""bench/scale.py, the paper-scale rehearsal, at its tiny size."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import scale  # noqa: E402


def test_tiny_rehearsal_measures_and_projects(tmp_path, capsys):
    work = tmp_path / "work"
    figures = scale.main(["--tiny", "--iterations", "1", "--workdir", str(work), "--keep",
                          "--json", str(tmp_path / "scale.json")])
    assert json.loads((tmp_path / "scale.json").read_text()) == json.loads(json.dumps(figures))
    settings = scale.load_settings("config/config.yaml", tiny=True)
    shapes = [tuple(shape) for shape in figures["shapes"]]
    assert shapes == scale.feature_shapes(settings.features)
    sizes = scale.dataset_sizes(tiny=True)

    # the caches are in the real format, their files as large as the projection says
    image_bytes = sum(int(np.prod(shape)) for shape in shapes) * 2
    for name, disk in figures["disk"].items():
        rows = sizes[name].train + sizes[name].test
        assert rows * image_bytes <= disk["train_cache_bytes"] + disk["test_cache_bytes"]
        assert disk["train_cache_bytes"] + disk["test_cache_bytes"] < rows * image_bytes + 8192

    # the real training step ran on every level, the real evaluation on every category
    train, evaluation = figures["train"], figures["evaluate"]
    assert len(train["levels"]) == len(shapes)
    assert all(level["seconds"] > 0 and level["flops"] > 0 for level in train["levels"])
    assert train["levels"][0]["flops"] > train["levels"][1]["flops"]  # larger map, more work
    assert train["peak_rss"] > 0 and evaluation["peak_rss"] > 0
    visa = sizes[scale.EVALUATED]
    assert evaluation["images"] == visa.test
    metrics = json.loads((work / scale.EVALUATED / "evaluation" / "metrics.json").read_text())
    assert len(metrics["categories"]) == visa.categories

    # the kNN baseline on the largest category's banks, kept in the cache's float16
    knn, (train_images, test_images) = figures["knn"], scale.knn_category(tiny=True)
    assert (knn["train_images"], knn["test_images"]) == (train_images, test_images)
    positions = sum(h * w for _, h, w in shapes) * train_images
    assert knn["bank_dtype"] == "float16"
    assert knn["bank_bytes"] == sum(math.ceil(settings.knn.coreset_fraction * h * w * train_images)
                                    * c * 2 for c, h, w in shapes) <= positions * shapes[0][0] * 2
    assert knn["peak_rss"] > 0 and knn["category_seconds"] >= knn["bank_seconds"] > 0

    projection = figures["projection"]["datasets"]
    assert set(projection) == set(sizes)
    tr = settings.train
    for name, row in projection.items():
        assert row["iterations"] == (tr.meta_epochs * tr.sub_epochs
                                     * math.ceil(sizes[name].train / tr.batch_size))
        assert row["train_cpu_hours"] > 0 and row["train_flops"] > 0
        assert row["snapshot_bytes"][1] == 8 * row["snapshot_bytes"][8]
    union = projection["union"]
    assert union["train_images"] == sum(sizes[n].train for n in scale.DATASETS)
    assert union["cache_bytes"] == 0  # an index into its members' caches
    assert "| visa |" in capsys.readouterr().out
