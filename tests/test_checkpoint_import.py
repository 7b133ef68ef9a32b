"""Tests of hgad.model.checkpoint_import: a checkpoint in the reference code's layout, built here
from a tiny model's weights, imports into a model file that gives identical anomaly maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from hgad.cli import main
from hgad.model.checkpoint_import import CheckpointFormatError, import_checkpoint
from hgad.model.maps import level_maps
from hgad.model.model_file import load_model
from hgad.model.network import HGADModel
from hgad.model.normalization import anomaly_maps, fit_normalizer

CPU = torch.device("cpu")
HPARAMS = dict(channels=[6, 4], coupling_layers=2, clamp_alpha=1.9, pos_embed_dim=8,
               n_intra_centers=3)


def _trained_looking_model(class_names, seed=0) -> HGADModel:
    """A tiny model whose every weight is random (no parameter left at its initial value)."""
    torch.manual_seed(seed)
    model = HGADModel(class_names=class_names, **HPARAMS)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "w_perm" not in name:  # keep the permutations orthogonal
                param.add_(0.1 * torch.randn_like(param))
    return model.eval()


def save_original(model: HGADModel, path, drop=None):
    """``model``'s weights in the layout of the reference code's ``save_model``."""
    def plist(tensors):
        return nn.ParameterList([nn.Parameter(t.detach().clone()) for t in tensors]).state_dict()

    state = {"epoch": 24,
             "nfs": [flow.state_dict() for flow in model.flows],
             "phi_inters": plist(p.phi_inter for p in model.priors),
             "phi_intras": plist(p.phi_intra for p in model.priors),
             "mus": plist(p.mu for p in model.priors),
             "mu_deltas": plist(p.delta for p in model.priors)}
    if drop is not None:
        del state[drop]
    torch.save(state, path)
    return path


def _features(seed=1, count=3):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(count, dim, size, size)).astype(np.float32)
            for dim, size in zip(HPARAMS["channels"], (6, 3), strict=True)]


def _maps(model, arrays, classes):
    rows = np.arange(len(arrays[0]))
    levels = level_maps(model, arrays, rows, np.asarray(classes), batch_size=2, device=CPU)
    return levels, anomaly_maps(levels, fit_normalizer(levels, 12, clip=False), 12, sigma=1.0)


def test_imported_model_gives_identical_maps(tmp_path):
    names = ["bottle", "cable", "screw"]
    original = _trained_looking_model(names)
    src = save_original(original, tmp_path / "HGAD_mvtec_img.pt")
    dst = tmp_path / "imported" / "model.pt"
    import_checkpoint(src, dst, names, coupling_layers=2, pos_embed_dim=8)
    imported = load_model(dst, CPU)
    assert imported.hparams == original.hparams
    saved = torch.load(dst, weights_only=True)
    assert set(saved) == {"hparams", "model", "settings", "provenance"}
    assert saved["settings"] == {"imported_from": str(src)}
    assert list(dst.parent.iterdir()) == [dst]  # no temporary file left
    arrays = _features()
    for cls in range(len(names)):
        classes = [cls] * len(arrays[0])
        levels_a, final_a = _maps(original, arrays, classes)
        levels_b, final_b = _maps(imported, arrays, classes)
        for kind in levels_a:
            for a, b in zip(levels_a[kind], levels_b[kind], strict=True):
                assert torch.equal(a, b)
        assert np.array_equal(final_a, final_b)


def test_unsorted_class_names_are_stored_sorted(tmp_path):
    names = ["zipper", "bottle", "cable"]  # the reference code's index order
    original = _trained_looking_model(names, seed=2)
    src = save_original(original, tmp_path / "orig.pt")
    model = import_checkpoint(src, tmp_path / "model.pt", names, pos_embed_dim=8)
    assert model.class_names == ["bottle", "cable", "zipper"]
    arrays = _features(count=2)
    for name in names:  # the same function; sums over classes run in another order
        _, expected = _maps(original, arrays, [names.index(name)] * 2)
        _, got = _maps(model, arrays, [model.class_names.index(name)] * 2)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    kept = import_checkpoint(src, tmp_path / "kept.pt", names, pos_embed_dim=8,
                             sort_classes=False)
    assert kept.class_names == names


def test_wrong_class_count_and_settings(tmp_path):
    src = save_original(_trained_looking_model(["a", "b", "c"]), tmp_path / "orig.pt")
    with pytest.raises(CheckpointFormatError, match=r"has 3 classes.*but 2 class names"):
        import_checkpoint(src, tmp_path / "x.pt", ["a", "b"], pos_embed_dim=8)
    with pytest.raises(CheckpointFormatError, match="has 2 coupling layers.*is 12"):
        import_checkpoint(src, tmp_path / "x.pt", ["a", "b", "c"], coupling_layers=12,
                          pos_embed_dim=8)
    with pytest.raises(CheckpointFormatError, match="8-d positional condition.*is 256"):
        import_checkpoint(src, tmp_path / "x.pt", ["a", "b", "c"])
    with pytest.raises(CheckpointFormatError, match="distinct"):
        import_checkpoint(src, tmp_path / "x.pt", ["a", "a", "c"], pos_embed_dim=8)
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize("key", ["nfs", "mus", "mu_deltas", "phi_inters", "phi_intras"])
def test_missing_key_is_named(tmp_path, key):
    src = save_original(_trained_looking_model(["a", "b"]), tmp_path / "orig.pt", drop=key)
    with pytest.raises(CheckpointFormatError, match=rf"orig\.pt: missing key '{key}'"):
        import_checkpoint(src, tmp_path / "x.pt", ["a", "b"], pos_embed_dim=8)


def test_bad_shapes_are_named(tmp_path):
    model = _trained_looking_model(["a", "b"])
    src = save_original(model, tmp_path / "orig.pt")
    state = torch.load(src, weights_only=True)
    state["phi_intras"]["1"] = torch.zeros(2, 5)
    torch.save(state, src)
    with pytest.raises(CheckpointFormatError, match=r"phi_intras\[1\] has shape \(2, 5\)"):
        import_checkpoint(src, tmp_path / "x.pt", ["a", "b"], pos_embed_dim=8)


class Payload:
    """An instance of an arbitrary class: unpickling it means importing and running this module."""

    def __init__(self):
        self.value = 1


def test_a_flow_of_another_layout_is_named(tmp_path):
    src = tmp_path / "ref.pt"
    state = torch.load(save_original(_trained_looking_model(["a", "b"]), src), weights_only=True)
    flow = state["nfs"][0]
    flow[next(iter(flow)) + "_renamed"] = flow.pop(next(iter(flow)))
    torch.save(state, src)
    with pytest.raises(CheckpointFormatError, match=r"nfs\[0\] does not match a FrEIA 0.2"):
        import_checkpoint(src, tmp_path / "x.pt", ["a", "b"], pos_embed_dim=8)
    assert not (tmp_path / "x.pt").exists()


def test_arbitrary_pickle_is_refused(tmp_path):
    src = tmp_path / "evil.pt"
    state = torch.load(save_original(_trained_looking_model(["a", "b"]), src), weights_only=True)
    state["extra"] = Payload()
    torch.save(state, src)
    torch.save({"nfs": [], "payload": Payload()}, tmp_path / "evil2.pt")
    for path in (src, tmp_path / "evil2.pt"):
        with pytest.raises(CheckpointFormatError, match="refused to load"):
            import_checkpoint(path, tmp_path / "x.pt", ["a", "b"], pos_embed_dim=8)
    assert not (tmp_path / "x.pt").exists()


def test_cli_import_checkpoint(tmp_path, capsys):
    names = ["a", "b"]
    model = _trained_looking_model(names)
    src = save_original(model, tmp_path / "orig.pt")
    main(["import-checkpoint", str(src), str(tmp_path / "m.pt"), "--classes", *names,
          "--coupling-layers", "2", "--pos-embed-dim", "8", "--clamp-alpha", "1.9"])
    assert "2 coupling layers" in capsys.readouterr().out
    assert load_model(tmp_path / "m.pt", CPU).class_names == names
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("dataset,image,mask,category,split,label,defect\n"
                        "d,x/a.png,,b,train,0,good\nd,x/b.png,,a,train,0,good\n")
    main(["import-checkpoint", str(src), str(tmp_path / "m2.pt"), "--manifest", str(manifest),
          "--pos-embed-dim", "8"])
    assert load_model(tmp_path / "m2.pt", CPU).class_names == names
    with pytest.raises(SystemExit, match="import-checkpoint: error: .*3 class names"):
        main(["import-checkpoint", str(src), str(tmp_path / "m3.pt"), "--classes", "a", "b", "c",
              "--pos-embed-dim", "8"])
