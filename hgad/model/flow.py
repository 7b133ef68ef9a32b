"""The conditional normalizing flow of one level and its positional condition.

Definition: docs/method.md#flow.

Precision: only the coupling subnetworks (the two GEMMs per block, nearly all of the flow's
FLOPs) may run under ``torch.autocast`` in bfloat16; their output is cast back to float32, so the
affine coupling, the soft permutation and the log-determinant accumulation stay in float32.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from functools import partial

import FrEIA.framework as Ff
import FrEIA.modules as Fm
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hgad.runtime.device import PRECISIONS


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




class Subnet(nn.Sequential):
    """Linear - ReLU - Linear, [N, dims_in] -> [N, dims_out] float32.

    The input is [passive half | condition], the condition being the last ``condition_dim``
    columns. ``compute_dtype`` (not saved: the state dict is that of the plain ``nn.Sequential``)
    runs it under autocast in that dtype; ``None`` is plain float32, the reference arithmetic.

    Under autocast with ``condition_period`` P set (by :func:`condition_period`: rows i and i + P
    hold the same condition, as for the positional encoding of every image of a batch),
    :class:`ConditionalCoupling` calls :meth:`shared_condition` instead: the same function with
    the condition's multiply-adds cut by the batch size, which is most of the flow's work when
    the condition is wider than the passive half (256 against 56 to 100).
    """

    compute_dtype: torch.dtype | None = None
    condition_period: int | None = None

    def __init__(self, first: nn.Linear, activation: nn.Module, second: nn.Linear,
                 condition_dim: int):
        super().__init__(first, activation, second)
        self.condition_dim = condition_dim

    @property
    def shares_condition(self) -> bool:
        """Whether :meth:`shared_condition` computes this subnetwork (reduced precision and a
        ``condition_period`` set)."""
        return self.compute_dtype is not None and self.condition_period is not None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.compute_dtype is None:
            return super().forward(x)
        with torch.autocast(x.device.type, dtype=self.compute_dtype):
            return super().forward(x).float()

    def shared_condition(self, passive: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """The subnetwork of [passive [N, D/2] | condition [N or P, condition_dim]] under
        autocast, float32 [N, dims_out]: the first layer's condition part is computed for the
        first P rows of ``condition`` only and added to every P-row block of the passive
        part. The sum and the ReLU are taken in place (no new [N, hidden] tensors: the same
        values)."""
        first, _, second = self  # Linear, ReLU, Linear
        split, period = passive.shape[1], self.condition_period
        with torch.autocast(passive.device.type, dtype=self.compute_dtype):
            hidden = F.linear(passive, first.weight[:, :split])  # [N, hidden]
            shared = F.linear(condition[:period], first.weight[:, split:], first.bias)
            hidden.view(-1, period, hidden.shape[1]).add_(shared)
            return second(torch.relu_(hidden)).float()


class ConditionalCoupling(Fm.AllInOneBlock):
    """FrEIA's ``AllInOneBlock`` (forward as there) whose :class:`Subnet`, when it
    :attr:`~Subnet.shares_condition`, takes the passive half and the condition apart instead of
    their concatenation [N, D/2 + condition_dim]: the same values, bit for bit, without writing
    that tensor in every block."""

    def forward(self, x, c=(), rev=False, jac=True):
        if rev or self.householder or self.reverse_pre_permute or not self.subnet.shares_condition:
            return super().forward(x, list(c), rev, jac)
        x1, x2 = torch.split(x[0], self.splits, dim=1)
        x2, log_jac_det = self._affine(x2, self.subnet.shared_condition(x1, c[0]))
        x_out, global_scaling_jac = self._permute(torch.cat((x1, x2), 1), rev=False)
        log_jac_det += x_out[0, :1].numel() * global_scaling_jac
        return (x_out,), log_jac_det


def set_precision(module: nn.Module, precision: str) -> None:
    """Run every :class:`Subnet` inside ``module`` in ``precision`` (a key of ``PRECISIONS``)."""
    for subnet in module.modules():
        if isinstance(subnet, Subnet):
            subnet.compute_dtype = PRECISIONS[precision]


@contextlib.contextmanager
def condition_period(module: nn.Module, period: int) -> Iterator[None]:
    """Within the block, the :class:`Subnet` s of ``module`` may take their condition as repeating
    every ``period`` input rows (see there)."""
    subnets = [m for m in module.modules() if isinstance(m, Subnet)]
    for subnet in subnets:
        subnet.condition_period = period
    try:
        yield
    finally:
        for subnet in subnets:
            subnet.condition_period = None


def _subnet(dims_in: int, dims_out: int, condition_dim: int) -> nn.Module:
    hidden = 2 * dims_in
    return Subnet(nn.Linear(dims_in, hidden), nn.ReLU(), nn.Linear(hidden, dims_out),
                  condition_dim)


def build_flow(dim: int, cond_dim: int, coupling_layers: int, clamp_alpha: float) -> Ff.SequenceINN:
    """FrEIA ``SequenceINN`` of ``coupling_layers`` :class:`ConditionalCoupling` blocks.

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
                ConditionalCoupling, cond=0, cond_shape=(cond_dim,),
                subnet_constructor=partial(_subnet, condition_dim=cond_dim),
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
