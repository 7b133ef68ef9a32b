"""bench/precision_demo.py's comparison, on metrics files written here."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import precision_demo  # noqa: E402


def test_seed_means_in_points_and_bf16_minus_fp32(tmp_path):
    image = {"fp32": [0.95, 0.97], "bf16": [0.96, 0.97]}
    pixel = {"fp32": [0.90, 0.92], "bf16": [0.89, 0.91]}
    for precision in precision_demo.PRECISIONS:
        for seed in (0, 1):
            path = tmp_path / precision / "results" / "demo" / f"seed{seed}" / "metrics.json"
            path.parent.mkdir(parents=True)
            path.write_text(json.dumps({"mean": {"image_auroc": image[precision][seed],
                                                 "pixel_auroc": pixel[precision][seed]}}))
    result = precision_demo.comparison({p: precision_demo.seed_means(tmp_path / p, [0, 1])
                                        for p in precision_demo.PRECISIONS})
    assert result["seeds"]["bf16"]["image_auroc"] == pytest.approx([96, 97])
    assert result["mean"]["fp32"] == pytest.approx({"image_auroc": 96, "pixel_auroc": 91})
    assert result["difference"] == pytest.approx({"image_auroc": 0.5, "pixel_auroc": -1})
