import numpy as np
import pytest
import torch

import sngan.data
from sngan.data import toy, toy_spec
from sngan.errors import DataError


@pytest.mark.parametrize("name,n_modes,std", [("ring8", 8, 0.01), ("grid25", 25, 0.05)])
def test_mixture_means_and_stds(name, n_modes, std):
    spec = toy_spec(name)
    pts = toy(name, 50000, seed=0).numpy().astype(np.float64)
    d = ((pts[:, None, :] - spec.modes[None]) ** 2).sum(-1)
    nearest = d.argmin(1)
    assert len(np.unique(nearest)) == n_modes
    for k in range(n_modes):
        cluster = pts[nearest == k]
        np.testing.assert_allclose(cluster.mean(0), spec.modes[k], atol=5 * std / np.sqrt(len(cluster)))
        np.testing.assert_allclose(cluster.std(0), std, rtol=0.1)
    counts = np.bincount(nearest) / len(pts)
    np.testing.assert_allclose(counts, 1 / n_modes, atol=0.01)


def test_ring8_modes_are_on_the_unit_circle():
    modes = toy_spec("ring8").modes
    np.testing.assert_allclose(np.linalg.norm(modes, axis=1), 1.0, atol=1e-15)
    np.testing.assert_allclose(modes[2], [0.0, 1.0], atol=1e-15)
    assert sorted(set(toy_spec("grid25").modes[:, 0])) == [-4, -2, 0, 2, 4]


def test_swissroll_shape_and_scale():
    pts = toy("swissroll", 20000, seed=1).numpy()
    r = np.linalg.norm(pts, axis=1) * 7.5  # ≈ t, in [1.5π, 4.5π] plus noise
    assert np.percentile(r, 1) > 1.5 * np.pi - 1.0 and np.percentile(r, 99) < 4.5 * np.pi + 1.0
    assert toy_spec("swissroll").modes is None


def test_deterministic_in_seed():
    assert torch.equal(toy("ring8", 100, 3), toy("ring8", 100, 3))
    assert not torch.equal(toy("ring8", 100, 3), toy("ring8", 100, 4))
    assert toy("grid25", 7, 0).dtype == torch.float32 and toy("grid25", 7, 0).shape == (7, 2)


def test_unknown_toy_is_a_data_error():
    with pytest.raises(DataError, match="ring9"):
        toy("ring9", 10)


def test_public_name_is_the_function():
    assert callable(sngan.data.toy)
