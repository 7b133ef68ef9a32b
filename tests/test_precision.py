"""Mixed precision: bf16 coupling subnetworks give the fp32 losses within a stated tolerance."""

from __future__ import annotations

import FrEIA.modules as Fm
import torch
import torch.nn.functional as F
from torch import nn

from hgad.model.flow import Subnet, condition_period, flatten_positions
from hgad.model.network import HGADModel
from hgad.model.prior import hgad_losses

# bf16 keeps 8 bits of mantissa (~0.4 % per rounding), but only in the subnetworks: the loss
# terms and the gradient norm move by ~1e-4 here. The tolerance, relative to max(1, |fp32|):
TOLERANCE = 2e-3


def _losses(model: HGADModel, features: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """The six loss terms of level 0 [6], with their gradient's norm appended [7]."""
    model.zero_grad()
    z, logdet = model.encode(0, features)
    height, width = features.shape[2:]
    terms = hgad_losses(model.priors[0], z, logdet, classes.repeat_interleave(height * width),
                        lambda1=1.0, lambda2=100.0, label_smoothing=0.02, intra=True)
    terms.total.backward()
    grad = torch.cat([p.grad.flatten() for p in model.level_parameters(0)[0]]).norm()
    return torch.cat([terms.stacked(), grad[None]])


def test_bf16_losses_match_fp32_within_tolerance():
    torch.manual_seed(0)
    model = HGADModel([64], ["a", "b", "c"], coupling_layers=2, clamp_alpha=1.9, pos_embed_dim=16,
                      n_intra_centers=3)
    generator = torch.Generator().manual_seed(1)
    features = torch.randn(4, 64, 6, 6, generator=generator)
    classes = torch.tensor([0, 1, 2, 1])
    fp32 = _losses(model.set_precision("fp32"), features, classes)
    bf16 = _losses(model.set_precision("bf16"), features, classes)
    assert torch.isfinite(bf16).all()
    assert not torch.equal(bf16, fp32)  # the subnetworks did run in bfloat16
    relative = ((bf16 - fp32).abs() / fp32.abs().clamp_min(1)).max().item()
    assert relative <= TOLERANCE, f"bf16 losses differ from fp32 by {relative:.4f} (relative)"
    # back to fp32 is exactly fp32 again (the precision is a setting, not a state of the weights)
    assert torch.equal(_losses(model.set_precision("fp32"), features, classes), fp32)


def test_precision_is_not_saved_with_the_weights():
    torch.manual_seed(0)
    model = HGADModel([8], ["a", "b"], coupling_layers=1, clamp_alpha=1.9, pos_embed_dim=8,
                      n_intra_centers=2)
    keys = set(model.state_dict())
    model.set_precision("bf16")
    assert set(model.state_dict()) == keys
    subnets = [m for m in model.modules() if isinstance(m, Subnet)]
    assert subnets and all(m.compute_dtype == torch.bfloat16 for m in subnets)
    z, logdet = model.encode(0, torch.randn(1, 8, 2, 2))
    assert z.dtype == logdet.dtype == torch.float32  # the coupling and log-det stay float32


def test_shared_condition_is_computed_once_per_position_with_the_same_result():
    """Under bf16 the subnetworks compute the positional condition's part of their first layer
    once per position and add it to every image (hgad.model.flow.Subnet). Same function: equal
    to the plain bf16 computation within bfloat16 rounding, for outputs and gradients, including
    a last batch of another size; fp32 never takes that path."""
    torch.manual_seed(0)
    model = HGADModel([64], ["a", "b", "c"], coupling_layers=2, clamp_alpha=1.9, pos_embed_dim=32,
                      n_intra_centers=3)
    generator = torch.Generator().manual_seed(1)
    for batch in (4, 3):
        features = torch.randn(batch, 64, 6, 5, generator=generator)
        classes = torch.tensor([0, 1, 2, 1])[:batch]
        shared = _losses(model.set_precision("bf16"), features, classes)
        vectors, conditions = flatten_positions(features, 32)
        model.zero_grad()
        plain_z, plain_logdet = model.flows[0](vectors, c=[conditions])  # no period: plain
        with torch.no_grad():
            z, logdet = model.encode(0, features)
        assert torch.allclose(z, plain_z, rtol=0, atol=1e-2)  # measured 8e-4
        assert torch.allclose(logdet, plain_logdet, rtol=0, atol=1e-2)  # measured 3e-3
        fp32 = _losses(model.set_precision("fp32"), features, classes)
        relative = ((shared - fp32).abs() / fp32.abs().clamp_min(1)).max().item()
        assert relative <= TOLERANCE


class _Concatenated(nn.Module):
    """A :class:`Subnet`'s shared-condition function, written out of place, fed FrEIA's
    concatenation [passive | condition]."""

    def __init__(self, subnet: Subnet):
        super().__init__()
        self.subnet = subnet

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, activation, second = self.subnet
        split = x.shape[1] - self.subnet.condition_dim
        period = self.subnet.condition_period
        with torch.autocast(x.device.type, dtype=torch.bfloat16):
            hidden = F.linear(x[:, :split], first.weight[:, :split])
            shared = F.linear(x[:period, split:], first.weight[:, split:], first.bias)
            hidden = (hidden.view(-1, period, hidden.shape[1]) + shared).view(hidden.shape)
            return second(activation(hidden)).float()


def test_coupling_without_the_concatenation_is_bit_for_bit_freias():
    """hgad.model.flow.ConditionalCoupling hands its subnetwork the passive half and the
    condition apart, which sums and rectifies in place: outputs, log-determinants and gradients
    equal, bit for bit, those of FrEIA's own forward through the concatenated tensor and the
    same function out of place."""
    torch.manual_seed(0)
    model = HGADModel([64], ["a", "b"], coupling_layers=1, clamp_alpha=1.9, pos_embed_dim=32,
                      n_intra_centers=2).set_precision("bf16")
    block = model.flows[0].module_list[0]
    features = torch.randn(3, 64, 6, 5, generator=torch.Generator().manual_seed(1))
    vectors, conditions = flatten_positions(features, 32)

    def run(forward) -> list[torch.Tensor]:
        model.zero_grad()
        x = vectors.clone().requires_grad_()
        with condition_period(model.flows[0], 6 * 5):
            (z,), logdet = forward(x)
        (z.square().sum() + logdet.sum()).backward()
        return [z, logdet, x.grad, *(p.grad for p in block.parameters() if p.grad is not None)]

    apart = run(lambda x: block((x,), c=[conditions]))
    subnet = block.subnet
    block.subnet = _Concatenated(subnet)
    try:
        concatenated = run(lambda x: Fm.AllInOneBlock.forward(block, (x,), c=[conditions]))
    finally:
        block.subnet = subnet
    assert len(apart) == len(concatenated) > 3
    assert all(torch.equal(a, b) for a, b in zip(apart, concatenated, strict=True))
