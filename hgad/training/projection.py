"""Projected CPU time of training, scaled from a measured CPU training throughput.

Training's work is proportional to the number of feature positions it passes through the flows
(every position of every training image, at every level, every sub-epoch) times the
multiply-adds of one coupling layer per position. The throughput was measured at one shape;
another shape's time is scaled by the ratio of their multiply-adds.
"""

from __future__ import annotations

from collections.abc import Mapping

# Flow training on the CPU, positions per second through all coupling layers of a level:
# `bench/throughput.py bench` on 2026-11-29 at commit 487bc59, an AMD EPYC with AVX-512 BF16 (no
# AMX), 2 threads, nothing else running (docs/performance.md). A CPU without native bfloat16
# runs bf16 slower than fp32. bench/scale.py's paper-shape rehearsal (2026-11-29, the same 2
# cores under a load average of 9 to 20) ran about 20x slower per multiply-add.
MEASURED_POSITIONS_PER_S: Mapping[str, float] = {"fp32": 21_877, "bf16": 47_560}
# The shape it was measured at: tf_efficientnet_lite0 stage 3 (112 channels), the schema's
# pos_embed_dim, 4 coupling layers.
MEASURED_CHANNELS, MEASURED_POS_EMBED_DIM, MEASURED_COUPLING_LAYERS = 112, 256, 4


def coupling_multiply_adds(channels: int, pos_embed_dim: int) -> int:
    """Multiply-adds of one coupling layer (FrEIA ``AllInOneBlock``) per position, forward.

    Its subnetwork maps [passive half | condition] (channels - channels // 2 + pos_embed_dim)
    through a hidden layer twice that wide to 2 x (channels // 2); its soft permutation is a
    [channels, channels] matrix.
    """
    inputs = channels - channels // 2 + pos_embed_dim
    hidden = 2 * inputs
    return inputs * hidden + hidden * 2 * (channels // 2) + channels * channels


def positions_per_image(img_size: int, stride: int, levels: int) -> int:
    """Feature positions of one image over all levels (level l sees the image at 1/2**l)."""
    side = img_size // stride
    return sum((side >> level) ** 2 for level in range(levels))


def training_cpu_seconds(images: int, positions: int, channels: int, pos_embed_dim: int,
                         coupling_layers: int, sub_epochs_total: int, precision: str) -> float:
    """Projected CPU seconds to train one model on ``images`` training images of ``positions``
    feature positions each, for ``sub_epochs_total`` (meta-epochs x sub-epochs) passes."""
    work = (images * positions * sub_epochs_total * coupling_layers
            * coupling_multiply_adds(channels, pos_embed_dim))
    measured_work_per_s = (MEASURED_POSITIONS_PER_S[precision] * MEASURED_COUPLING_LAYERS
                           * coupling_multiply_adds(MEASURED_CHANNELS, MEASURED_POS_EMBED_DIM))
    return work / measured_work_per_s
