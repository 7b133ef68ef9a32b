"""Import a checkpoint of the authors' reference code into this project's model-file format.

The reference code (``save_model`` in its ``utils``) saves one ``.pt`` dict holding

* ``nfs``: a list with one FrEIA ``SequenceINN`` state dict per level (keys
  ``module_list.<i>.<...>``, one index per ``AllInOneBlock``);
* ``mus``, ``mu_deltas``, ``phi_inters``, ``phi_intras``: ``nn.ParameterList`` state dicts, keys
  ``"0"``, ``"1"``, ... (one tensor per level) of shapes [K, D], [K, M-1, D], [K] and [K, M] for
  K categories, M intra-class centres and D channels;
* ``epoch`` (ignored).

Those are exactly our :class:`hgad.model.prior.HierarchicalPrior`'s ``mu``, ``delta``, ``phi_inter``
and ``phi_intra``, and our flows are built with the same FrEIA 0.2 blocks (docs/method.md#flow), so
the weights load unchanged. What a state dict does not record is taken from the caller: the class
names (in the reference code's class-index order), ``clamp_alpha`` and the flow's fixed options
(SOFTPLUS global affine, soft permutation, subnet Linear-ReLU-Linear of width 2x), which must be
those of docs/method.md#flow. ``coupling_layers``, the channels per level, K, M and the condition's
dimension are read from the tensors and checked.

The file is read with ``torch.load(weights_only=True)``: a checkpoint never runs code, and a file
that holds anything but tensors and plain containers is refused.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence

import torch

from hgad.model.model_file import load_plain, save_model_file
from hgad.model.network import HGADModel

PRIOR_KEYS = {"mus": "mu", "mu_deltas": "delta", "phi_inters": "phi_inter",
              "phi_intras": "phi_intra"}  # reference-code key -> HierarchicalPrior attribute
REQUIRED_KEYS = ("nfs", *PRIOR_KEYS)
_BLOCK_KEY = re.compile(r"module_list\.(\d+)\.")


class CheckpointFormatError(ValueError):
    """The file is not a checkpoint of the reference code's layout (or is unsafe to load)."""


def read_original(src: str | os.PathLike) -> dict:
    """The reference-code checkpoint ``src`` as a dict, loaded safely (``weights_only``)."""
    state = load_plain(src, "a checkpoint of the reference code", error=CheckpointFormatError)
    if not isinstance(state, Mapping):
        raise CheckpointFormatError(f"{src}: expected a dict, found {type(state).__name__}")
    for key in REQUIRED_KEYS:
        if key not in state:
            raise CheckpointFormatError(f"{src}: missing key {key!r} (a reference-code checkpoint "
                                        f"holds {', '.join(REQUIRED_KEYS)})")
    return dict(state)


def _per_level(state: Mapping, key: str, levels: int, src) -> list[torch.Tensor]:
    """The tensors of ParameterList state dict ``state[key]`` for levels 0..levels-1."""
    entry = state[key]
    if not isinstance(entry, Mapping):
        raise CheckpointFormatError(f"{src}: {key!r} should be a ParameterList state dict, found "
                                    f"{type(entry).__name__}")
    expected = [str(level) for level in range(levels)]
    if sorted(entry, key=str) != sorted(expected):
        raise CheckpointFormatError(f"{src}: {key!r} holds keys {sorted(entry, key=str)}, expected "
                                    f"{expected} (one per level of 'nfs')")
    tensors = [entry[name] for name in expected]
    for name, tensor in zip(expected, tensors, strict=True):
        if not isinstance(tensor, torch.Tensor):
            raise CheckpointFormatError(f"{src}: {key}[{name}] is not a tensor")
    return tensors


def _coupling_layers(flow_state: Mapping, level: int, src) -> int:
    blocks = set()
    for name in flow_state:
        match = _BLOCK_KEY.match(str(name))
        if match is None:
            raise CheckpointFormatError(f"{src}: nfs[{level}] has key {name!r}, not a SequenceINN "
                                        "state dict (keys module_list.<i>.<...>)")
        blocks.add(int(match.group(1)))
    if not blocks or blocks != set(range(len(blocks))):
        raise CheckpointFormatError(f"{src}: nfs[{level}] has blocks {sorted(blocks)}, expected "
                                    "0..n-1")
    return len(blocks)


def _check_shape(tensor: torch.Tensor, shape: tuple[int, ...], what: str, src) -> None:
    if tuple(tensor.shape) != shape:
        raise CheckpointFormatError(f"{src}: {what} has shape {tuple(tensor.shape)}, expected "
                                    f"{shape}")


def _inspect(state: Mapping, src, pos_embed_dim: int) -> dict:
    """``channels``, ``coupling_layers``, ``n_intra_centers``, K and the prior ``tensors`` per
    level, read from the checkpoint.

    Checks every prior tensor's shape against ``mus`` and the flows' condition dimension against
    ``pos_embed_dim``.
    """
    flows = state["nfs"]
    if not isinstance(flows, Sequence) or not flows or not all(
            isinstance(f, Mapping) for f in flows):
        raise CheckpointFormatError(f"{src}: 'nfs' should be a non-empty list of SequenceINN "
                                    "state dicts")
    levels = len(flows)
    tensors = {key: _per_level(state, key, levels, src) for key in PRIOR_KEYS}
    mus = tensors["mus"]
    if mus[0].ndim != 2:
        raise CheckpointFormatError(f"{src}: mus[0] has shape {tuple(mus[0].shape)}, expected "
                                    "[K, D]")
    num_classes = mus[0].shape[0]
    if tensors["mu_deltas"][0].ndim != 3:
        raise CheckpointFormatError(f"{src}: mu_deltas[0] has shape "
                                    f"{tuple(tensors['mu_deltas'][0].shape)}, expected [K, M-1, D]")
    n_intra = tensors["mu_deltas"][0].shape[1] + 1
    channels, layers = [], []
    for level in range(levels):
        if mus[level].ndim != 2:
            raise CheckpointFormatError(f"{src}: mus[{level}] has shape "
                                        f"{tuple(mus[level].shape)}, expected [K, D]")
        dim = mus[level].shape[1]
        _check_shape(mus[level], (num_classes, dim), f"mus[{level}]", src)
        _check_shape(tensors["mu_deltas"][level], (num_classes, n_intra - 1, dim),
                     f"mu_deltas[{level}]", src)
        _check_shape(tensors["phi_inters"][level], (num_classes,), f"phi_inters[{level}]", src)
        _check_shape(tensors["phi_intras"][level], (num_classes, n_intra),
                     f"phi_intras[{level}]", src)
        layers.append(_coupling_layers(flows[level], level, src))
        first = "module_list.0.subnet.0.weight"
        if first not in flows[level]:
            raise CheckpointFormatError(f"{src}: nfs[{level}] is missing key {first!r}")
        condition = flows[level][first].shape[1] - (dim - dim // 2)
        if condition == 0:
            raise CheckpointFormatError(
                f"{src}: nfs[{level}] is an unconditional flow (flow_arch 'flow_model'); only the "
                "conditional flow ('conditional_flow_model', the paper's) is supported")
        if condition != pos_embed_dim:
            raise CheckpointFormatError(f"{src}: nfs[{level}] was trained with a {condition}-d "
                                        f"positional condition, pos_embed_dim is {pos_embed_dim}")
        channels.append(dim)
    if len(set(layers)) != 1:
        raise CheckpointFormatError(f"{src}: the levels have different numbers of coupling layers "
                                    f"{layers}")
    return dict(channels=channels, coupling_layers=layers[0], n_intra_centers=n_intra,
                num_classes=num_classes, tensors=tensors)


def import_checkpoint(src: str | os.PathLike, dst: str | os.PathLike, class_names: Sequence[str],
                      coupling_layers: int | None = None, clamp_alpha: float = 1.9,
                      pos_embed_dim: int = 256, sort_classes: bool = True) -> HGADModel:
    """Convert the reference code's checkpoint ``src`` into our model file ``dst``.

    ``class_names[i]`` names the reference code's class index i; their number must be K, the
    number of main centres. ``coupling_layers`` (None: as found) is checked against the flows.
    ``dst`` is a model file (:mod:`hgad.model.model_file`) with ``settings`` = {"imported_from":
    src}, written atomically. With ``sort_classes`` the classes are stored in sorted order,
    the class index of our manifests (:func:`hgad.data.manifest.class_names`), with the prior's
    rows permuted to match: the model is the same function of (features, class name). Returns the
    imported model (CPU, eval mode).
    """
    state = read_original(src)
    found = _inspect(state, src, pos_embed_dim)
    names = [str(name) for name in class_names]
    if len(names) != found["num_classes"]:
        raise CheckpointFormatError(f"{src} has {found['num_classes']} classes (main centres), "
                                    f"but {len(names)} class names were given: {names}")
    if len(set(names)) != len(names):
        raise CheckpointFormatError(f"class names must be distinct, got {names}")
    if coupling_layers is not None and coupling_layers != found["coupling_layers"]:
        raise CheckpointFormatError(f"{src} has {found['coupling_layers']} coupling layers per "
                                    f"flow, coupling_layers is {coupling_layers}")
    order = sorted(range(len(names)), key=names.__getitem__) if sort_classes else list(
        range(len(names)))
    model = HGADModel(found["channels"], [names[i] for i in order],
                      coupling_layers=found["coupling_layers"], clamp_alpha=clamp_alpha,
                      pos_embed_dim=pos_embed_dim, n_intra_centers=found["n_intra_centers"])
    index = torch.tensor(order)
    for level in range(model.levels):
        try:
            model.flows[level].load_state_dict(state["nfs"][level], strict=True)
        except RuntimeError as error:
            raise CheckpointFormatError(f"{src}: nfs[{level}] does not match a FrEIA 0.2 "
                                        f"SequenceINN of AllInOneBlocks: {error}") from error
        model.priors[level].load_state_dict(
            {attr: found["tensors"][key][level][index] for key, attr in PRIOR_KEYS.items()},
            strict=True)
    model.eval()
    save_model_file(dst, model, {"imported_from": str(src)})
    return model
