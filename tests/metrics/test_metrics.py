import hashlib
import itertools
import json

import numpy as np
import pytest
import torch

from sngan.data import load_mnist, to_model_range, toy
from sngan.metrics import (
    METRICS,
    class_coverage,
    evaluate,
    fid,
    frechet_distance,
    high_quality,
    inception_score,
    kid,
    metrics_for,
    mnist_evaluator,
    modes_covered,
    prdc,
    wasserstein1_exact,
)
from sngan.metrics.evaluator import weights_meta
from sngan.metrics.kid import mmd2_unbiased

N = 2000


@pytest.fixture(scope="module")
def mnist_sets():
    tr, _ = load_mnist("train")
    te, te_y = load_mnist("test")
    rng = np.random.default_rng(0)
    train = to_model_range(tr[rng.permutation(len(tr))[:N]])
    # a random test subset: MNIST's test set is ordered (its first half is the cleaner SD-3 writers)
    test = to_model_range(te[np.sort(rng.permutation(len(te))[:N])])
    return train, test, te_y


def test_evaluator_accuracy_and_checksum(mnist_sets):
    meta = weights_meta()
    from importlib import resources

    data = resources.files("sngan.metrics").joinpath("weights", "mnist_evaluator.safetensors").read_bytes()
    assert hashlib.sha256(data).hexdigest() == meta["sha256"] and len(data) < 2_000_000
    model = mnist_evaluator()
    assert not model.training
    te, te_y = load_mnist("test")
    x = to_model_range(te)
    with torch.no_grad():
        pred = torch.cat([model(x[i:i + 2000]).argmax(1) for i in range(0, len(x), 2000)])
    acc = (pred.numpy() == te_y).mean()
    assert acc >= 0.990
    assert acc == pytest.approx(meta["test_accuracy"], abs=1e-4)
    assert model.features(x[:3]).shape == (3, 128)


def test_metrics_draw_nothing_from_the_callers_random_stream(mnist_sets):
    """A training loop that measures FID between steps keeps its noise: building the evaluator (a network
    whose random init the shipped weights overwrite) and computing the features leave the global
    generator's state as it was."""
    _, test, _ = mnist_sets
    state = torch.get_rng_state()
    fid(test[:100], test[100:200])
    mnist_evaluator()
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.slow  # 39 s (KID's 50 subsets and PRDC's pairwise distances, twice each)
def test_floor_and_ceiling(mnist_sets):
    train, test, _ = mnist_sets
    noise = torch.rand(N, 1, 28, 28) * 2 - 1
    floor, ceiling = fid(test, train), fid(test, noise)
    assert floor < 6.0 and ceiling > 200 * floor
    k_floor, k_std = kid(test, train)
    k_ceil, _ = kid(test, noise)
    assert abs(k_floor) < k_std and k_ceil > 100 * k_std  # unbiased: ~0 for the same distribution
    p_real, p_noise = prdc(test, train), prdc(test, noise)
    assert p_real["precision"] > 0.6 and p_real["recall"] > 0.6
    assert p_noise["precision"] < 0.05 and p_noise["coverage"] < 0.05
    is_real, _ = inception_score(test)
    assert 9.0 < is_real <= 10.0
    cov = class_coverage(test)
    assert cov["digits_under_1pct"] == 0 and cov["kl_to_uniform"] < 0.01


def test_fid_grows_with_blur_and_noise(mnist_sets):
    from sngan.metrics.features import features_and_logits
    from sngan.metrics.fid import fid_from_features

    _, test, _ = mnist_sets
    ref = test[:1000]
    x = test[1000:2000]
    ref_features = features_and_logits(ref)[0].numpy()  # once, for every comparison

    def fid_to_ref(images):
        return fid_from_features(ref_features, features_and_logits(images)[0].numpy())

    blurs = []
    for sigma in (0.5, 1.0, 2.0):
        k = torch.arange(-3, 4, dtype=torch.float32)
        g = torch.exp(-k ** 2 / (2 * sigma ** 2))
        g = (g / g.sum())
        kernel = (g[:, None] * g[None, :])[None, None]
        blurred = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (3,) * 4, mode="replicate"), kernel)
        blurs.append(fid_to_ref(blurred))
    noises = [fid_to_ref((x + s * torch.randn_like(x)).clamp(-1, 1)) for s in (0.1, 0.3, 0.6)]
    assert blurs == sorted(blurs) and noises == sorted(noises)
    clean = fid(ref, x)
    assert clean == fid_to_ref(x) and clean < blurs[0]


def test_kid_is_unbiased_near_zero_for_same_distribution():
    rng = np.random.default_rng(0)
    vals = [mmd2_unbiased(rng.standard_normal((200, 16)), rng.standard_normal((200, 16))) for _ in range(50)]
    assert abs(np.mean(vals)) < 3 * np.std(vals) / np.sqrt(50)
    shifted = mmd2_unbiased(rng.standard_normal((200, 16)), rng.standard_normal((200, 16)) + 0.5)
    assert shifted > 0.1


def test_frechet_distance_closed_form():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 5))
    s1, s2 = a @ a.T + np.eye(5), np.diag(np.arange(1.0, 6.0))
    mu1, mu2 = np.zeros(5), np.ones(5)
    # equal covariances: only the mean term remains; diagonal commuting case: sum (sqrt a - sqrt b)^2
    assert frechet_distance(mu1, s1, mu2, s1) == pytest.approx(5.0, abs=1e-9)
    d1, d2 = np.diag([1.0, 4.0]), np.diag([9.0, 16.0])
    assert frechet_distance(np.zeros(2), d1, np.zeros(2), d2) == pytest.approx((1 - 3) ** 2 + (2 - 4) ** 2)
    from scipy.linalg import sqrtm

    ref = np.trace(s1 + s2 - 2 * sqrtm(s1 @ s2).real) + 5.0
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(ref, rel=1e-9)


def test_wasserstein1_exact_matches_brute_force_and_closed_forms():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((6, 2)), rng.standard_normal((6, 2))
    cost = np.linalg.norm(a[:, None] - b[None], axis=2)
    brute = min(cost[range(6), list(p)].mean() for p in itertools.permutations(range(6)))
    assert wasserstein1_exact(a, b) == pytest.approx(brute, abs=1e-12)
    assert wasserstein1_exact([[0.0, 0.0]], [[3.0, 4.0]]) == pytest.approx(5.0)
    shift = np.array([0.3, -0.4])
    assert wasserstein1_exact(torch.tensor(a), torch.tensor(a + shift)) == pytest.approx(0.5, abs=1e-12)
    with pytest.raises(ValueError, match="equal-size"):
        wasserstein1_exact(a, b[:5])


@pytest.mark.parametrize("name,modes", [("ring8", 8), ("grid25", 25)])
def test_modes_and_high_quality_on_true_samples(name, modes):
    x = toy(name, 2500, seed=3)
    assert modes_covered(x, name) == modes
    assert high_quality(x, name) == pytest.approx(1 - np.exp(-4.5), abs=0.006)  # 0.9889
    collapsed = torch.zeros(100, 2) + torch.tensor([1.0, 0.0])
    assert modes_covered(collapsed, "ring8") == 1 and high_quality(collapsed, "ring8") == 1.0


def test_registry_and_evaluate(mnist_sets, device):
    assert {"fid", "kid", "inception_score", "prdc", "class_coverage", "modes", "wasserstein1",
            "lipschitz"} <= set(METRICS)
    assert "fid" in metrics_for("mnist") and "modes" in metrics_for("ring8") and "fid" not in metrics_for("ring8")
    critic = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1)).to(device)
    out = evaluate("ring8", toy("ring8", 500, seed=1).to(device), critic)
    assert out["modes_covered"] == 8 and 0 <= out["w1_exact"] < 0.15  # finite-sample W1 of two 500-point sets
    assert out["lipschitz_lower"] <= out["lipschitz_upper"]
    json.dumps(out)
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate("ring8", toy("ring8", 10, 0), names=["nope"])
    with pytest.raises(ValueError, match=r"\[N, 1, 28, 28\]"):
        fid(torch.zeros(4, 3, 28, 28), torch.zeros(4, 1, 28, 28))


def test_reference_features_are_cached_exactly(tmp_path, monkeypatch):
    import sngan.metrics as M
    from sngan.metrics.features import features_and_logits

    monkeypatch.setenv("SNGAN_CACHE", str(tmp_path))
    monkeypatch.setattr(M, "_FEATURES", {})
    real = torch.rand(40, 1, 28, 28) * 2 - 1
    want_f, want_l = features_and_logits(real)
    f, logits = M.reference_features(real)
    files = list((tmp_path / "features").glob("mnist-reference-*.npz"))
    assert len(files) == 1
    np.testing.assert_array_equal(f, want_f.numpy())
    np.testing.assert_array_equal(logits, want_l.numpy())
    monkeypatch.setattr(M, "_FEATURES", {})  # a new process: read back from disk, bit for bit
    f2, l2 = M.reference_features(real)
    np.testing.assert_array_equal(f2, want_f.numpy())
    np.testing.assert_array_equal(l2, want_l.numpy())
    files[0].write_bytes(b"corrupt")  # a torn or corrupt cache file is recomputed, never trusted
    monkeypatch.setattr(M, "_FEATURES", {})
    np.testing.assert_array_equal(M.reference_features(real)[0], want_f.numpy())
    other = real.flip(0)  # other images: another key
    M.reference_features(other)
    assert len(list((tmp_path / "features").glob("*.npz"))) == 2


def test_metrics_take_what_the_loaders_and_the_sample_command_give():
    from sngan.data import load_mnist, to_model_range
    from sngan.metrics import class_coverage, fid, kid

    images, _ = load_mnist("test")
    a, b = images[:200], images[200:400]  # uint8 [N, 28, 28], as load_mnist gives them
    expected = fid(to_model_range(a), to_model_range(b))  # the generator's form: float [N, 1, 28, 28]
    for form_a, form_b in [(a, b), (torch.tensor(a), b[..., None]), (a[:, None], torch.tensor(b)[..., None])]:
        assert fid(form_a, form_b) == expected
    assert kid(a, b)[0] == kid(to_model_range(a), to_model_range(b))[0]
    assert class_coverage(a) == class_coverage(to_model_range(a))
    for bad, needle in [(a.astype(np.float32), r"in \[-1, 1\] \(got values in \[0, 255\]\)"),
                        (to_model_range(a) / 2 + 0.5 + 1e-3, "must be finite and in"),
                        (a[:, :20], r"got uint8 \[200, 20, 28\]"), (a.astype(np.int32), "got dtype int32"),
                        (a[:, None].repeat(3, 1), r"\[N, 28, 28\], \[N, 1, 28, 28\] or \[N, 28, 28, 1\]"),
                        (a.tolist(), "got list")]:
        with pytest.raises(ValueError, match=needle):
            fid(bad, b)
