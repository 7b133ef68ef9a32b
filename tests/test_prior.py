"""The hierarchical prior and the HGAD losses against values computed by hand.

Definitions: docs/method.md#prior, docs/method.md#losses.
"""

from __future__ import annotations

import math

import pytest
import torch

from hgad.model.prior import (
    HierarchicalPrior,
    hgad_losses,
    initial_centres,
    log_likelihood,
    negative_entropy,
    squared_distances,
)

D, K = 4, 2
LAMBDA1, LAMBDA2, EPS = 1.0, 100.0, 0.02


def _prior(phi_inter=(0.3, -0.2), phi_intra=((0.1, -0.1), (0.4, 0.0))) -> HierarchicalPrior:
    """K=2, D=4, M=2 with hand-set parameters: mu0=[2.5,0,2.5,0], mu1=[0,2.5,0,2.5],
    intra centres mu0+[1,0,0,0] and mu1+[0,0,0,2]."""
    prior = HierarchicalPrior(K, D, n_intra_centers=2)
    with torch.no_grad():
        prior.delta.copy_(torch.tensor([[[1.0, 0, 0, 0]], [[0, 0, 0, 2.0]]]))
        prior.phi_inter.copy_(torch.tensor(phi_inter))
        prior.phi_intra.copy_(torch.tensor(phi_intra))
    return prior


def _losses(prior, z, logdet, classes, intra=False):
    return hgad_losses(prior, z, logdet, classes, lambda1=LAMBDA1, lambda2=LAMBDA2,
                       label_smoothing=EPS, intra=intra)


def test_initial_centres_small_cases():
    s = 5 / math.sqrt(2 * 4 // 2)  # 2.5
    expected = torch.tensor([[s, 0, s, 0], [0, s, 0, s]])
    assert torch.allclose(initial_centres(2, 4), expected)
    # D not a multiple of K: the last column stays zero; scale 5/sqrt(14 // 3) = 2.5
    s = 5 / math.sqrt(4)
    expected = torch.zeros(3, 7)
    expected[:, 0:3] = s * torch.eye(3)
    expected[:, 3:6] = s * torch.eye(3)
    assert torch.allclose(initial_centres(3, 7), expected)
    s = 5 / math.sqrt(2)
    assert torch.allclose(initial_centres(1, 1), torch.tensor([[s]]))


def test_initial_centres_dimension_smaller_than_classes():
    with pytest.raises(ValueError):
        initial_centres(5, 4)


def test_prior_initial_state():
    prior = HierarchicalPrior(3, 6, n_intra_centers=4)
    assert torch.equal(prior.mu.detach(), initial_centres(3, 6))
    assert prior.delta.shape == (3, 3, 6)
    assert torch.equal(prior.phi_inter.detach(), torch.zeros(3))
    assert torch.equal(prior.phi_intra.detach(), torch.zeros(3, 4))
    centres = prior.intra_centres()
    assert centres.shape == (3, 4, 6)
    assert torch.equal(centres[:, 0], prior.mu.detach())
    assert torch.allclose(centres[:, 1:], prior.mu.detach()[:, None] + prior.delta.detach())


def test_squared_distances_equal_cdist():
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(7, 5, generator=generator, dtype=torch.float64)
    centres = torch.randn(3, 5, generator=generator, dtype=torch.float64) * 3
    expected = torch.cdist(z, centres) ** 2
    assert torch.allclose(squared_distances(z, centres), expected, atol=1e-10)


def test_losses_latent_at_its_main_centre():
    prior = _prior()
    logdet_value = 0.3
    z = prior.mu.detach()[:1].clone()  # exactly at class 0's main centre
    terms = _losses(prior, z, torch.tensor([logdet_value]), torch.tensor([0]))

    d = [0.0, 4 * 2.5**2]  # ||mu0 - mu1||^2 = 25
    phi = [0.3, -0.2]
    pi = [math.exp(p) / sum(math.exp(q) for q in phi) for p in phi]
    # L_g = (-log sum_k pi_k exp(-d_k/2) - logdet) / D
    mixture = sum(pi[k] * math.exp(-d[k] / 2) for k in range(K))
    assert terms.g.item() == pytest.approx((-math.log(mixture) - logdet_value) / D, rel=1e-5)
    # L_e = entropy of p = softmax(-d/2)
    unnorm = [math.exp(-dk / 2) for dk in d]
    p = [u / sum(unnorm) for u in unnorm]
    entropy = -sum(pk * math.log(pk) for pk in p)
    assert terms.e.item() == pytest.approx(entropy, abs=1e-7)
    # L_mi = sum_k yhat_k (log posterior_k - log pi_k), yhat = [1-eps+eps/K, eps/K]
    posterior = [pi[k] * math.exp(-d[k] / 2) / mixture for k in range(K)]
    yhat = [1 - EPS + EPS / K, EPS / K]
    mi = sum(yhat[k] * (math.log(posterior[k]) - math.log(pi[k])) for k in range(K))
    assert terms.mi.item() == pytest.approx(mi, rel=1e-5)
    total = LAMBDA1 * terms.g.item() - LAMBDA2 * mi + entropy
    assert terms.total.item() == pytest.approx(total, rel=1e-5)
    assert terms.g_intra is None and terms.z is None


def test_intra_losses_by_hand():
    prior = _prior()
    logdet_value = -0.7
    z = prior.mu.detach()[:1].clone()
    terms = _losses(prior, z, torch.tensor([logdet_value]), torch.tensor([0]), intra=True)

    # class 0's intra centres: mu0 (distance 0) and mu0 + [1,0,0,0] (distance 1)
    d_intra = [0.0, 1.0]
    phi = [0.1, -0.1]
    w = [math.exp(p) / sum(math.exp(q) for q in phi) for p in phi]
    log_mixture = math.log(sum(w[m] * math.exp(-d_intra[m] / 2) for m in range(2)))
    g_intra = (-log_mixture - logdet_value) / D
    logp = (D * math.log(1 / math.sqrt(2 * math.pi)) + log_mixture + logdet_value) / D
    loss_z = -math.log(1 / (1 + math.exp(-logp)))
    assert terms.g_intra.item() == pytest.approx(g_intra, rel=1e-5)
    assert terms.z.item() == pytest.approx(loss_z, rel=1e-5)
    plain = _losses(prior, z, torch.tensor([logdet_value]), torch.tensor([0]))
    assert terms.total.item() == pytest.approx(plain.total.item() + g_intra + loss_z, rel=1e-5)
    assert log_likelihood(prior, z, torch.tensor([logdet_value]), torch.tensor([0])).item() == \
        pytest.approx(logp, rel=1e-5)


def _reference_losses(prior, z, logdet, classes):
    """docs/method.md#losses written with plain torch ops and loops, per sample, then averaged."""
    mu = prior.mu.detach()
    log_pi = torch.log(torch.exp(prior.phi_inter.detach()) /
                       torch.exp(prior.phi_inter.detach()).sum())
    centres = torch.cat([mu[:, None], mu[:, None] + prior.delta.detach()], dim=1)
    weights = torch.exp(prior.phi_intra.detach())
    log_w = torch.log(weights / weights.sum(1, keepdim=True))
    out = {name: [] for name in ("g", "e", "mi", "g_intra", "z")}
    for n in range(len(z)):
        d = torch.stack([((z[n] - mu[k]) ** 2).sum() for k in range(K)])
        a = -d / 2 + log_pi
        lse = a.max() + torch.log(torch.exp(a - a.max()).sum())
        out["g"].append((-lse - logdet[n]) / D)
        p = torch.exp(-d / 2) / torch.exp(-d / 2).sum()
        out["e"].append(-(p * torch.log(p)).sum())
        yhat = torch.full((K,), EPS / K)
        yhat[classes[n]] += 1 - EPS
        out["mi"].append((yhat * (a - lse - log_pi)).sum())
        c = classes[n]
        dm = torch.stack([((z[n] - centres[c, m]) ** 2).sum() for m in range(centres.shape[1])])
        b = -dm / 2 + log_w[c]
        lse_intra = b.max() + torch.log(torch.exp(b - b.max()).sum())
        out["g_intra"].append((-lse_intra - logdet[n]) / D)
        logp = (D * math.log(1 / math.sqrt(2 * math.pi)) + lse_intra + logdet[n]) / D
        out["z"].append(-torch.log(torch.sigmoid(logp)))
    return {name: torch.stack(values).mean() for name, values in out.items()}


def test_losses_match_reference_on_random_batch():
    generator = torch.Generator().manual_seed(1)
    prior = _prior()
    with torch.no_grad():
        prior.delta.copy_(torch.randn(K, 1, D, generator=generator))
    z = torch.randn(6, D, generator=generator) * 2
    logdet = torch.randn(6, generator=generator)
    classes = torch.tensor([0, 1, 1, 0, 1, 0])
    terms = _losses(prior, z, logdet, classes, intra=True)
    expected = _reference_losses(prior, z, logdet, classes)
    for name, value in expected.items():
        assert getattr(terms, name).item() == pytest.approx(value.item(), rel=1e-4, abs=1e-6), name
    total = (LAMBDA1 * expected["g"] - LAMBDA2 * expected["mi"] + expected["g_intra"]
             + expected["z"] + expected["e"])
    assert terms.total.item() == pytest.approx(total.item(), rel=1e-4)


def test_mutual_information_prefers_the_correct_class():
    prior = _prior(phi_inter=(0.0, 0.0))
    z = torch.stack([prior.mu.detach()[0], prior.mu.detach()[1]]) + 0.1
    logdet = torch.zeros(2)
    correct = _losses(prior, z, logdet, torch.tensor([0, 1]))
    swapped = _losses(prior, z, logdet, torch.tensor([1, 0]))
    assert correct.mi.item() > swapped.mi.item()
    assert correct.total.item() < swapped.total.item()
    # L_g and L_e do not depend on the labels
    assert correct.g.item() == pytest.approx(swapped.g.item())
    assert correct.e.item() == pytest.approx(swapped.e.item())


def test_mixture_weights_are_detached_in_mutual_information():
    prior = _prior()
    z = torch.randn(5, D, generator=torch.Generator().manual_seed(2))
    terms = _losses(prior, z, torch.zeros(5), torch.tensor([0, 1, 0, 1, 1]))
    (grad,) = torch.autograd.grad(terms.mi, prior.phi_inter, allow_unused=True)
    # log_softmax(-d/2 + log pi) - log pi with pi detached: no gradient to phi_inter
    assert grad is None or torch.count_nonzero(grad) == 0


def test_intra_terms_do_not_move_the_main_centres():
    prior = _prior()
    z = torch.randn(5, D, generator=torch.Generator().manual_seed(3))
    terms = _losses(prior, z, torch.zeros(5), torch.tensor([0, 1, 0, 1, 1]), intra=True)
    (grad,) = torch.autograd.grad(terms.g_intra + terms.z, prior.mu, allow_unused=True)
    assert grad is None or torch.count_nonzero(grad) == 0
    (grad,) = torch.autograd.grad(terms.g_intra, prior.delta)
    assert torch.count_nonzero(grad) > 0


def test_log_likelihood_standard_normal():
    prior = HierarchicalPrior(1, D, n_intra_centers=1)
    with torch.no_grad():
        prior.mu.zero_()
    zero = torch.zeros(1, D)
    logp = log_likelihood(prior, zero, torch.zeros(1), torch.tensor([0]))
    assert logp.item() == pytest.approx(-math.log(math.sqrt(2 * math.pi)), rel=1e-6)
    # per-dimension standard normal log-density plus logdet / D
    z = torch.tensor([[1.0, -2.0, 0.5, 0.0], [0.0, 0.0, 3.0, 1.0]])
    logdet = torch.tensor([0.4, -1.2])
    expected = (-0.5 * math.log(2 * math.pi) * D - (z**2).sum(1) / 2 + logdet) / D
    logp = log_likelihood(prior, z, logdet, torch.tensor([0, 0]))
    assert torch.allclose(logp, expected, atol=1e-6)


def test_log_likelihood_uses_the_given_class():
    prior = _prior()
    z = prior.mu.detach()[1:2].clone()  # at class 1's main centre
    own = log_likelihood(prior, z, torch.zeros(1), torch.tensor([1]))
    other = log_likelihood(prior, z, torch.zeros(1), torch.tensor([0]))
    assert own.item() > other.item()


def test_negative_entropy_is_sum_p_log_p():
    prior = _prior()
    z = torch.randn(6, D, generator=torch.Generator().manual_seed(4)) * 2
    d = torch.cdist(z, prior.mu.detach()) ** 2
    p = torch.exp(-d / 2) / torch.exp(-d / 2).sum(1, keepdim=True)
    expected = (p * torch.log(p)).sum(1)
    assert torch.allclose(negative_entropy(prior, z), expected, atol=1e-5)
    # at a main centre the posterior is almost certain: negative entropy close to 0 (its max)
    at_centre = negative_entropy(prior, prior.mu.detach())
    assert torch.all(at_centre <= 0) and torch.all(at_centre > -1e-3)
    # half-way between the two centres: p = (1/2, 1/2), negative entropy = log(1/2)
    middle = prior.mu.detach().mean(0, keepdim=True)
    assert negative_entropy(prior, middle).item() == pytest.approx(math.log(0.5), rel=1e-5)


def test_intra_loss_gradients_repeat_exactly_with_two_threads():
    """Demo-sized batch (8 images x 48 x 48 positions, 10 intra centres): the class-indexed
    mixture weights' gradient must not depend on how threads interleave their sums, so runs
    repeat to the last bit, and that gradient equals a single-threaded run's."""
    torch.manual_seed(0)
    num_classes, dim, n = 4, 16, 8 * 48 * 48
    prior = HierarchicalPrior(num_classes, dim, n_intra_centers=10)
    z, logdet = torch.randn(n, dim), torch.randn(n)
    classes = torch.randint(0, num_classes, (n,))

    def gradients(threads: int) -> list[torch.Tensor]:
        torch.set_num_threads(threads)
        prior.zero_grad(set_to_none=True)
        _losses(prior, z, logdet, classes, intra=True).total.backward()
        return [p.grad.clone() for p in prior.parameters()]

    before = torch.get_num_threads()
    try:
        first = gradients(2)
        for _ in range(5):
            for got, want in zip(gradients(2), first, strict=True):
                assert torch.equal(got, want)
        assert torch.equal(first[-1], gradients(1)[-1])  # phi_intra, summed in serial order
    finally:
        torch.set_num_threads(before)
