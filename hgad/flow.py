"""The conditional normalizing flow of one level and its positional condition.

Definition: docs/method.md#flow.
"""

from __future__ import annotations

import math

import FrEIA.framework as Ff
import FrEIA.modules as Fm
import numpy as np
import torch
from torch import nn


def positional_encoding_2d(dim: int, height: int, width: int) -> torch.Tensor:
    """2-D sinusoidal encoding, float32 [dim, height, width].

    The first half of the channels encodes x (the column), the second half y (the row): in each
    half channel 2i holds sin(pos * f_i) and channel 2i+1 cos(pos * f_i), with
    f_i = exp(-(2i) * ln(1e4) / (dim/2)).
    """
    if dim % 4:
        raise ValueError(f"positional encoding dimension must be a multiple of 4, got {dim}")
    half = dim // 2
    freqs = torch.exp(torch.arange(0, half, 2, dtype=torch.float32) * -(math.log(1e4) / half))
    x = torch.arange(width, dtype=torch.float32)[:, None] * freqs  # [W, half/2]
    y = torch.arange(height, dtype=torch.float32)[:, None] * freqs  # [H, half/2]
    encoding = torch.zeros(dim, height, width)
    encoding[0:half:2] = torch.sin(x).T[:, None, :].expand(-1, height, -1)
    encoding[1:half:2] = torch.cos(x).T[:, None, :].expand(-1, height, -1)
    encoding[half::2] = torch.sin(y).T[:, :, None].expand(-1, -1, width)
    encoding[half + 1::2] = torch.cos(y).T[:, :, None].expand(-1, -1, width)
    return encoding


def _subnet(dims_in: int, dims_out: int) -> nn.Module:
    hidden = 2 * dims_in
    return nn.Sequential(nn.Linear(dims_in, hidden), nn.ReLU(), nn.Linear(hidden, dims_out))


def build_flow(dim: int, cond_dim: int, coupling_layers: int, clamp_alpha: float) -> Ff.SequenceINN:
    """FrEIA ``SequenceINN`` of ``coupling_layers`` conditional ``AllInOneBlock``s.

    Called as ``flow(x, c=[cond])`` with x [N, dim] and cond [N, cond_dim]; returns
    (z [N, dim], log|det J| [N]). ``rev=True`` inverts it.
    """
    # FrEIA draws the soft permutations from numpy's global generator: seed it from torch's, so
    # that torch.manual_seed alone fixes the model, and leave numpy's state as it was.
    numpy_state = np.random.get_state()
    np.random.seed(int(torch.randint(2**31 - 1, ())))
    try:
        flow = Ff.SequenceINN(dim)
        for _ in range(coupling_layers):
            flow.append(
                Fm.AllInOneBlock, cond=0, cond_shape=(cond_dim,), subnet_constructor=_subnet,
                affine_clamping=clamp_alpha, global_affine_type="SOFTPLUS", permute_soft=True,
            )
    finally:
        np.random.set_state(numpy_state)
    return flow


def flatten_positions(features: torch.Tensor, pos_embed_dim: int) -> tuple[torch.Tensor,
                                                                             torch.Tensor]:
    """Feature maps [B, C, H, W] -> (vectors [B*H*W, C], conditions [B*H*W, pos_embed_dim]).

    Rows are ordered (image, row, column), so ``reshape(B, H, W)`` recovers the maps.
    """
    batch, channels, height, width = features.shape
    vectors = features.permute(0, 2, 3, 1).reshape(-1, channels)
    encoding = positional_encoding_2d(pos_embed_dim, height, width).to(features)
    conditions = encoding.permute(1, 2, 0).reshape(1, height * width, -1)
    return vectors, conditions.expand(batch, -1, -1).reshape(-1, pos_embed_dim)
