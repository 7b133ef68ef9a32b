"""The HGAD model: per level one conditional flow and one hierarchical prior."""

from __future__ import annotations

import torch
from torch import nn

from hgad.model.flow import build_flow, condition_period, flatten_positions, set_precision
from hgad.model.prior import HierarchicalPrior


class HGADModel(nn.Module):
    """``flows[l]`` and ``priors[l]`` for each level l; ``channels[l]`` is level l's D.

    ``class_names`` fixes the class index: class i is ``class_names[i]``.
    """

    def __init__(self, channels: list[int], class_names: list[str], coupling_layers: int,
                 clamp_alpha: float, pos_embed_dim: int, n_intra_centers: int):
        super().__init__()
        self.hparams = dict(channels=list(channels), class_names=list(class_names),
                            coupling_layers=coupling_layers, clamp_alpha=clamp_alpha,
                            pos_embed_dim=pos_embed_dim, n_intra_centers=n_intra_centers)
        self.class_names = list(class_names)
        self.pos_embed_dim = pos_embed_dim
        self.flows = nn.ModuleList(
            build_flow(dim, pos_embed_dim, coupling_layers, clamp_alpha) for dim in channels
        )
        self.priors = nn.ModuleList(
            HierarchicalPrior(len(class_names), dim, n_intra_centers) for dim in channels
        )

    @property
    def levels(self) -> int:
        return len(self.flows)

    def level_parameters(self, level: int) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(trainable flow parameters, prior parameters) of one level."""
        flow = [p for p in self.flows[level].parameters() if p.requires_grad]
        return flow, list(self.priors[level].parameters())

    def set_precision(self, precision: str) -> HGADModel:
        """Run the flows' coupling subnetworks in ``precision`` (fp32 | bf16); returns self."""
        set_precision(self.flows, precision)
        return self

    def encode(self, level: int, features: torch.Tensor,
               flow: nn.Module | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Features [B, D, H, W] of ``level`` -> (z [B*H*W, D], log|det J| [B*H*W]).

        ``flow`` runs in place of ``flows[level]``: its compiled wrapper, which shares its weights.
        """
        vectors, conditions = flatten_positions(features, self.pos_embed_dim)
        with condition_period(self.flows[level], features.shape[2] * features.shape[3]):
            z, logdet = (flow or self.flows[level])(vectors, c=[conditions])
        return z, logdet

    @classmethod
    def from_checkpoint(cls, state: dict) -> HGADModel:
        """Rebuild from a dict holding ``hparams`` and ``model`` (a state dict)."""
        model = cls(**state["hparams"])
        model.load_state_dict(state["model"])
        return model
