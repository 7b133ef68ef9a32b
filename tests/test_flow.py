"""The conditional flow (invertibility, log-determinant) and its positional condition."""

from __future__ import annotations

import math

import pytest
import torch

from hgad.model.flow import build_flow, flatten_positions, positional_encoding_2d
from hgad.model.network import HGADModel


def _tiny_flow(dtype=torch.float64, coupling_layers=2):
    torch.manual_seed(0)
    flow = build_flow(4, 4, coupling_layers, clamp_alpha=1.9)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():  # move away from the initialisation, so every part of the map matters
        for parameter in flow.parameters():
            if parameter.requires_grad:
                parameter.add_(0.5 * torch.randn(parameter.shape, generator=generator))
    return flow.to(dtype).eval()


def test_flow_is_invertible():
    flow = _tiny_flow()
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(16, 4, generator=generator, dtype=torch.float64)
    cond = torch.randn(16, 4, generator=generator, dtype=torch.float64)
    z, logdet = flow(x, c=[cond])
    assert z.shape == (16, 4) and logdet.shape == (16,)
    assert not torch.allclose(z, x, atol=1e-2)
    x_back, logdet_back = flow(z, c=[cond], rev=True)
    assert torch.allclose(x_back, x, atol=1e-4)
    assert torch.allclose(logdet_back, -logdet, atol=1e-4)


def test_flow_depends_on_condition():
    flow = _tiny_flow()
    x = torch.randn(3, 4, dtype=torch.float64)
    cond = torch.randn(3, 4, dtype=torch.float64)
    z1, _ = flow(x, c=[cond])
    z2, _ = flow(x, c=[cond + 1])
    assert not torch.allclose(z1, z2)


@pytest.mark.parametrize("sample", [0, 3])
def test_logdet_equals_log_abs_det_of_jacobian(sample):
    flow = _tiny_flow()
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(5, 4, generator=generator, dtype=torch.float64)
    cond = torch.randn(5, 4, generator=generator, dtype=torch.float64)
    _, logdet = flow(x, c=[cond])

    def one_sample(v):
        return flow(v[None], c=[cond[sample:sample + 1]])[0][0]

    jacobian = torch.autograd.functional.jacobian(one_sample, x[sample])
    assert jacobian.shape == (4, 4)
    _, log_abs_det = torch.linalg.slogdet(jacobian)
    assert abs(log_abs_det.item()) > 1e-2  # a non-trivial volume change
    assert logdet[sample].item() == pytest.approx(log_abs_det.item(), abs=1e-6)


def test_flow_structure():
    flow = build_flow(8, 4, coupling_layers=3, clamp_alpha=1.9)
    assert len(flow.module_list) == 3
    z, logdet = flow(torch.randn(2, 8), c=[torch.randn(2, 4)])
    assert z.shape == (2, 8) and logdet.shape == (2,)


def test_positional_encoding_values():
    dim, height, width = 8, 3, 5
    encoding = positional_encoding_2d(dim, height, width)
    assert encoding.shape == (dim, height, width)
    assert encoding.dtype == torch.float32
    half = dim // 2

    def freq(i):
        return math.exp(-(2 * i) * math.log(1e4) / half)

    def expected(channel, h, w):
        pos, c = (w, channel) if channel < half else (h, channel - half)  # x first, then y
        value = pos * freq(c // 2)
        return math.sin(value) if c % 2 == 0 else math.cos(value)

    for channel, h, w in [(0, 2, 3), (1, 2, 3), (2, 1, 4), (3, 0, 4), (4, 2, 1), (5, 2, 4),
                          (6, 2, 0), (7, 1, 3), (0, 0, 0), (5, 0, 0)]:
        assert encoding[channel, h, w].item() == pytest.approx(expected(channel, h, w), abs=1e-6)
    # by hand: f_0 = 1, f_1 = 1e4 ** -0.5 = 0.01 for dim 8
    assert encoding[0, 2, 3].item() == pytest.approx(math.sin(3.0), abs=1e-6)
    assert encoding[3, 0, 4].item() == pytest.approx(math.cos(0.04), abs=1e-6)
    assert encoding[4, 2, 1].item() == pytest.approx(math.sin(2.0), abs=1e-6)
    assert encoding[7, 1, 3].item() == pytest.approx(math.cos(0.01), abs=1e-6)
    # x channels do not vary along rows, y channels not along columns
    assert torch.equal(encoding[:half], encoding[:half, :1].expand(-1, height, -1))
    assert torch.equal(encoding[half:], encoding[half:, :, :1].expand(-1, -1, width))


def test_positional_encoding_needs_multiple_of_four():
    with pytest.raises(ValueError):
        positional_encoding_2d(6, 2, 2)


def test_flatten_positions_order():
    batch, channels, height, width = 2, 3, 2, 4
    features = torch.arange(batch * channels * height * width, dtype=torch.float32)
    features = features.reshape(batch, channels, height, width)
    vectors, conditions = flatten_positions(features, pos_embed_dim=8)
    assert vectors.shape == (batch * height * width, channels)
    assert conditions.shape == (batch * height * width, 8)
    encoding = positional_encoding_2d(8, height, width)
    row = 0
    for b in range(batch):
        for h in range(height):
            for w in range(width):
                assert torch.equal(vectors[row], features[b, :, h, w])
                assert torch.equal(conditions[row], encoding[:, h, w])
                row += 1
    assert torch.equal(vectors.reshape(batch, height, width, channels),
                       features.permute(0, 2, 3, 1))


def test_model_encode_shapes():
    torch.manual_seed(0)
    model = HGADModel([6, 4], ["a", "b"], coupling_layers=1, clamp_alpha=1.9, pos_embed_dim=8,
                      n_intra_centers=2)
    assert model.levels == 2
    z, logdet = model.encode(1, torch.randn(3, 4, 2, 5))
    assert z.shape == (3 * 2 * 5, 4) and logdet.shape == (30,)
    flow_params, prior_params = model.level_parameters(0)
    assert all(p.requires_grad for p in flow_params)
    assert {id(p) for p in prior_params} == {id(p) for p in model.priors[0].parameters()}
    level1 = {id(p) for p in model.flows[1].parameters()}
    assert not level1 & {id(p) for p in flow_params}
