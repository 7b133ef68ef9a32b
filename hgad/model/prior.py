"""The hierarchical Gaussian-mixture prior of one level and the HGAD losses.

Definitions: docs/method.md#prior, docs/method.md#losses and docs/method.md#scoring.

Shapes: K categories, M intra-class centres per category, D feature dimensions, N samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def squared_distances(z: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """||z_n - c_j||^2 for z [N, D] and centres [J, D] -> [N, J], as one matmul."""
    return (z * z).sum(1, keepdim=True) - 2 * z @ centres.T + (centres * centres).sum(1)


def initial_centres(num_classes: int, dim: int) -> torch.Tensor:
    """Main centres [K, D]: a scaled identity repeated along D, scale 5 / sqrt(2*D // K)."""
    centres = torch.zeros(num_classes, dim)
    blocks = dim // num_classes
    if blocks == 0:
        raise ValueError(f"feature dimension {dim} is smaller than the {num_classes} categories")
    scale = 5 / math.sqrt(2 * dim // num_classes)
    for k in range(blocks):
        centres[:, num_classes * k:num_classes * (k + 1)] = scale * torch.eye(num_classes)
    return centres


class HierarchicalPrior(nn.Module):
    """Main centres ``mu`` [K, D], intra offsets ``delta`` [K, M-1, D], mixture logits
    ``phi_inter`` [K] and ``phi_intra`` [K, M]."""

    def __init__(self, num_classes: int, dim: int, n_intra_centers: int):
        super().__init__()
        self.mu = nn.Parameter(initial_centres(num_classes, dim))
        self.delta = nn.Parameter(torch.randn(num_classes, n_intra_centers - 1, dim))
        self.phi_inter = nn.Parameter(torch.zeros(num_classes))
        self.phi_intra = nn.Parameter(torch.zeros(num_classes, n_intra_centers))

    def intra_centres(self) -> torch.Tensor:
        """[K, M, D]: each class's main centre (detached) followed by centre + delta."""
        main = self.mu.detach()[:, None, :]
        return torch.cat([main, main + self.delta], dim=1)

    def inter_distances(self, z: torch.Tensor) -> torch.Tensor:
        """d_k(z) [N, K]."""
        return squared_distances(z, self.mu)

    def intra_distances(self, z: torch.Tensor) -> torch.Tensor:
        """d_{k,m}(z) [N, K, M] to every intra centre of every class."""
        num_classes, num_intra, dim = self.delta.shape[0], self.delta.shape[1] + 1, z.shape[1]
        distances = squared_distances(z, self.intra_centres().reshape(-1, dim))
        return distances.view(-1, num_classes, num_intra)

    def class_log_mixtures(self, z: torch.Tensor) -> torch.Tensor:
        """logsumexp_m(-d_{k,m}/2 + log pi_{k,m}) [N, K] for every class k."""
        log_weights = F.log_softmax(self.phi_intra, dim=1)  # [K, M]
        return torch.logsumexp(-self.intra_distances(z) / 2 + log_weights, dim=2)

    def intra_log_mixture(self, z: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """logsumexp_m(-d_{y,m}/2 + log pi_{y,m}) [N] for the class y of each sample."""
        distances = self.intra_distances(z)
        own = distances[torch.arange(len(z), device=z.device), classes]  # [N, M]
        # index_select, not [classes]: the backward of advanced indexing accumulates the N rows
        # with parallel atomic adds on a multi-threaded CPU (order-dependent float sums, so runs
        # differ); index_select's backward adds them serially, in the order a single thread would.
        log_weights = F.log_softmax(self.phi_intra, dim=1).index_select(0, classes)  # [N, M]
        return torch.logsumexp(-own / 2 + log_weights, dim=1)


@dataclass
class LossTerms:
    """Per-batch means of each loss term and the total that is minimised."""

    total: torch.Tensor
    g: torch.Tensor
    mi: torch.Tensor
    e: torch.Tensor
    g_intra: torch.Tensor | None = None
    z: torch.Tensor | None = None

    def stacked(self) -> torch.Tensor:
        """The terms in field order as one detached tensor [6] (NaN where absent), on the terms'
        device: no host synchronisation."""
        total = self.total.detach()
        return torch.stack([torch.full_like(total, math.nan) if value is None else value.detach()
                            for value in vars(self).values()])


def log_likelihood(prior: HierarchicalPrior, z: torch.Tensor, logdet: torch.Tensor,
                   classes: torch.Tensor) -> torch.Tensor:
    """Per-dimension log-likelihood under the class's intra mixture, ``logp`` [N].

    Definition: docs/method.md#losses.
    """
    return _per_dimension_logp(prior.intra_log_mixture(z, classes), logdet, z.shape[1])


def class_log_likelihoods(prior: HierarchicalPrior, z: torch.Tensor,
                          logdet: torch.Tensor) -> torch.Tensor:
    """:func:`log_likelihood` under every class's intra mixture at once, [N, K]."""
    return _per_dimension_logp(prior.class_log_mixtures(z), logdet[:, None], z.shape[1])


def mixture_log_likelihood(prior: HierarchicalPrior, z: torch.Tensor,
                           logdet: torch.Tensor) -> torch.Tensor:
    """Per-dimension log-likelihood under the whole hierarchical mixture, no class given, [N]:
    the mixture term is logsumexp_k(log pi_k + logsumexp_m(-d_{k,m}/2 + log pi_{k,m}))."""
    log_pi = F.log_softmax(prior.phi_inter, dim=0)
    log_mixture = torch.logsumexp(prior.class_log_mixtures(z) + log_pi, dim=1)
    return _per_dimension_logp(log_mixture, logdet, z.shape[1])


def _per_dimension_logp(log_mixture: torch.Tensor, logdet: torch.Tensor, dim: int) -> torch.Tensor:
    return (-dim * LOG_SQRT_2PI + log_mixture + logdet) / dim


def hgad_losses(prior: HierarchicalPrior, z: torch.Tensor, logdet: torch.Tensor,
                classes: torch.Tensor, *, lambda1: float, lambda2: float,
                label_smoothing: float, intra: bool) -> LossTerms:
    """The HGAD objective for latents z [N, D], log-determinants [N] and class indices [N]."""
    num_classes, dim = prior.mu.shape
    distances = prior.inter_distances(z)  # [N, K]
    log_pi = F.log_softmax(prior.phi_inter, dim=0)
    loss_g = ((-torch.logsumexp(-distances / 2 + log_pi, dim=1) - logdet) / dim).mean()
    p = F.softmax(-distances / 2, dim=1)
    loss_e = -(p * F.log_softmax(-distances / 2, dim=1)).sum(1).mean()
    log_pi_fixed = log_pi.detach()
    one_hot = F.one_hot(classes, num_classes).to(z.dtype)
    smoothed = one_hot * (1 - label_smoothing) + label_smoothing / num_classes
    posterior = F.log_softmax(-distances / 2 + log_pi_fixed, dim=1)
    loss_mi = (smoothed * (posterior - log_pi_fixed)).sum(1).mean()
    total = lambda1 * loss_g - lambda2 * loss_mi + loss_e
    if not intra:
        return LossTerms(total=total, g=loss_g, mi=loss_mi, e=loss_e)
    log_mixture = prior.intra_log_mixture(z, classes)
    loss_g_intra = ((-log_mixture - logdet) / dim).mean()
    logp = _per_dimension_logp(log_mixture, logdet, dim)
    loss_z = F.softplus(-logp).mean()  # -log(sigmoid(logp))
    return LossTerms(total=total + loss_g_intra + loss_z, g=loss_g, mi=loss_mi, e=loss_e,
                     g_intra=loss_g_intra, z=loss_z)


def negative_entropy(prior: HierarchicalPrior, z: torch.Tensor) -> torch.Tensor:
    """sum_k p_k log p_k with p = softmax_k(-d_k/2), [N] (higher = more confidently normal)."""
    logits = -prior.inter_distances(z) / 2
    return (F.softmax(logits, dim=1) * F.log_softmax(logits, dim=1)).sum(1)
