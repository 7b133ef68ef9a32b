"""Class conditioning at test time: oracle, predicted and agnostic (docs/method.md)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from tiny import CATEGORIES, CPU

from hgad.evaluation.conditioning import VARIANTS, conditioned_level_maps
from hgad.evaluation.evaluate import category_maps, evaluate, load_test_set, map_metrics
from hgad.features.cache import open_cache
from hgad.model.maps import KINDS, level_maps
from hgad.model.model_file import load_model
from hgad.model.network import HGADModel

# Two classes in 2-D with one centre each (no intra offsets): mu_a = (-2, 0), mu_b = (2, 0).
CENTRES = [[-2.0, 0.0], [2.0, 0.0]]
LOG_PI = np.log([0.25, 0.75])


class IdentityFlowModel(HGADModel):
    """z = the feature vector itself, log|det J| = 0: the likelihoods can be checked by hand."""

    def encode(self, level, features):
        return features.permute(0, 2, 3, 1).reshape(-1, features.shape[1]), \
            torch.zeros(features.shape[0] * features.shape[2] * features.shape[3])


def _hand_model() -> HGADModel:
    model = IdentityFlowModel([2, 2], ["a", "b"], coupling_layers=1, clamp_alpha=1.9,
                              pos_embed_dim=4, n_intra_centers=1)
    with torch.no_grad():
        for prior in model.priors:
            prior.mu.copy_(torch.tensor(CENTRES))
            prior.phi_inter.copy_(torch.tensor(LOG_PI))
    return model


def _hand_arrays() -> list[np.ndarray]:
    """Image 0: two positions just on a's side but one far on b's: the sum over positions picks
    b (a per-position vote would pick a). Image 1: level 0 leans to a, level 1 far more to b: the
    sum over levels picks b. Image 2: clearly a."""
    level0 = np.array([[[-0.1, -0.1, 3.0]], [[-0.2, -0.2, -0.2]], [[-2.0, -1.0, -2.5]]])
    level1 = np.array([[[0.5]], [[3.0]], [[-1.5]]])  # x coordinates, [3, 1, W]
    return [np.stack([x, np.full_like(x, 0.5)], axis=1).astype(np.float32)  # [N, D=2, H, W]
            for x in (level0, level1)]


def _log_gauss(z: np.ndarray, centre: list[float]) -> np.ndarray:
    """Per-dimension log N(z; centre, I) of positions z [P, 2]."""
    return (-np.log(2 * np.pi) - ((z - centre) ** 2).sum(1) / 2) / 2


def _positions(array: np.ndarray, image: int) -> np.ndarray:
    return array[image].reshape(2, -1).T  # [H*W, 2]


def test_predicted_picks_the_category_of_highest_summed_likelihood():
    model, arrays = _hand_model(), _hand_arrays()
    maps = conditioned_level_maps(model, arrays, np.arange(3), np.zeros(3, int), VARIANTS, 2, CPU)
    # the case is what it claims: a per-position vote (image 0) or level 0 alone (image 1)
    # would pick a
    assert (_positions(arrays[0], 0)[:, 0] < 0).sum() == 2
    assert (_log_gauss(_positions(arrays[0], 1), CENTRES[0]).sum()
            > _log_gauss(_positions(arrays[0], 1), CENTRES[1]).sum())
    sums = [[sum(_log_gauss(_positions(a, image), centre).sum() for a in arrays)
             for centre in CENTRES] for image in range(3)]
    assert np.argmax(sums, axis=1).tolist() == [1, 1, 0]
    assert maps.predicted.tolist() == [1, 1, 0]
    for level, array in enumerate(arrays):
        for image, chosen in enumerate([1, 1, 0]):
            z = _positions(array, image)
            expected = _log_gauss(z, CENTRES[chosen])
            assert maps.logp["predicted"][level][image].numpy().ravel() == pytest.approx(
                expected, rel=1e-6)
            # oracle is told class a for both images
            assert maps.logp["oracle"][level][image].numpy().ravel() == pytest.approx(
                _log_gauss(z, CENTRES[0]), rel=1e-6)


def test_agnostic_is_the_log_sum_exp_over_the_weighted_categories():
    model, arrays = _hand_model(), _hand_arrays()
    maps = conditioned_level_maps(model, arrays, np.arange(3), np.array([0, 1, 0]), VARIANTS, 1,
                                  CPU)
    for level, array in enumerate(arrays):
        for image in range(3):
            z = _positions(array, image)
            # log p(z) = log sum_k pi_k N(z; mu_k, I), then per dimension (D = 2)
            log_mixture = np.logaddexp(*[LOG_PI[k] - ((z - CENTRES[k]) ** 2).sum(1) / 2
                                         for k in range(2)])
            expected = (-np.log(2 * np.pi) + log_mixture) / 2
            assert maps.logp["agnostic"][level][image].numpy().ravel() == pytest.approx(
                expected, rel=1e-6)


def test_oracle_maps_equal_level_maps_bit_for_bit(trained, caches):
    model = load_model(trained.model, CPU)
    arrays = open_cache(caches.test)
    rows, classes = np.arange(12), np.repeat([0, 1], 6)
    reference = level_maps(model, arrays, rows, classes, 4, CPU)
    maps = conditioned_level_maps(model, arrays, rows, classes, VARIANTS, 4, CPU)
    for kind in KINDS:
        for ours, theirs in zip(maps.kinds("oracle")[kind], reference[kind], strict=True):
            assert torch.equal(ours, theirs)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, trained, caches, manifest_path, tiny_settings):
    """Metrics of the trained model and of the same model with its two categories' priors
    swapped."""
    out = tmp_path_factory.mktemp("conditioning")
    state = torch.load(trained.model, weights_only=True)
    for name, value in state["model"].items():
        if name.startswith("priors."):  # mu, delta, phi_inter, phi_intra: class first
            state["model"][name] = value.flip(0)
    torch.save(state, out / "swapped.pt")
    results = {}
    for name, path in (("trained", trained.model), ("swapped", out / "swapped.pt")):
        results[name] = evaluate(path, manifest_path, caches.test, out / f"{name}.json",
                                 out / f"{name}.csv", out / f"{name}_maps", tiny_settings, CPU)
    return {**results, "swapped_path": out / "swapped.pt"}


def test_oracle_numbers_are_todays(evaluated, trained, caches, manifest_path, tiny_settings):
    model = load_model(trained.model, CPU)
    test = load_test_set(manifest_path, caches.test, tiny_settings)
    for category in CATEGORIES:
        today = map_metrics(category_maps(model, test, category, tiny_settings, CPU),
                            test.labels(category), test.masks(category), category)
        ours = evaluated["trained"]["categories"][category]
        assert {name: ours[name] for name in today} == today


def test_every_variant_has_every_metric(evaluated):
    metrics = evaluated["trained"]["categories"][CATEGORIES[0]]
    oracle = [name for name in metrics if "_" in name and name.split("_")[0] in
              ("image", "pixel")]
    for variant in ("predicted", "agnostic"):
        assert all(0 <= metrics[f"{variant}_{name}"] <= 1 for name in oracle)
    assert 0 <= metrics["predicted_class_accuracy"] <= 1


def test_swapped_categories_split_oracle_and_predicted(evaluated):
    trained, swapped = (evaluated[name]["categories"] for name in ("trained", "swapped"))
    for category in CATEGORIES:
        # predicted follows the priors, so its accuracy flips with the swap
        assert swapped[category]["predicted_class_accuracy"] == pytest.approx(
            1 - trained[category]["predicted_class_accuracy"])
    for category in CATEGORIES:
        for name in ("image_auroc", "pixel_auroc"):
            # predicted and agnostic do not depend on which prior carries which name
            for variant in ("predicted", "agnostic"):
                assert swapped[category][f"{variant}_{name}"] == pytest.approx(
                    trained[category][f"{variant}_{name}"], abs=1e-6)


def test_swapped_categories_split_oracle_and_predicted_maps(evaluated, trained, caches):
    arrays = open_cache(caches.test)
    rows, true = np.arange(12), np.repeat([0, 1], 6)
    ours, swapped = (conditioned_level_maps(load_model(path, CPU), arrays, rows, true, VARIANTS,
                                            4, CPU)
                     for path in (trained.model, evaluated["swapped_path"]))
    told_other = conditioned_level_maps(load_model(trained.model, CPU), arrays, rows, 1 - true,
                                        ("oracle",), 4, CPU)
    assert swapped.predicted.tolist() == (1 - ours.predicted).tolist()
    for level in range(len(arrays)):
        # oracle now scores each image under the other category's prior ...
        assert torch.allclose(swapped.logp["oracle"][level], told_other.logp["oracle"][level])
        assert not torch.allclose(swapped.logp["oracle"][level], ours.logp["oracle"][level])
        # ... while predicted (and agnostic) find the same prior as before
        for variant in ("predicted", "agnostic"):
            assert torch.allclose(swapped.logp[variant][level], ours.logp[variant][level])


def test_variants_are_configurable(tmp_path, trained, caches, manifest_path, tiny_settings):
    settings = dataclasses.replace(tiny_settings, evaluate=dataclasses.replace(
        tiny_settings.evaluate, class_conditioning=("oracle",), normalization="train_max"))
    result = evaluate(trained.model, manifest_path, caches.test, tmp_path / "m.json",
                      tmp_path / "m.csv", tmp_path / "maps", settings, CPU,
                      train_cache=caches.train)
    assert not [name for name in result["mean"] if name.startswith(("predicted", "agnostic"))]
    assert math.isfinite(result["mean"]["image_auroc"])
