import math

import pytest
import torch

from sngan.losses import critic_loss, generator_loss

REAL = torch.tensor([2.0, 0.5, -1.0])
FAKE = torch.tensor([-0.5, 1.5, 0.0])


def sp(x):
    return math.log1p(math.exp(x))


def test_wasserstein():
    assert critic_loss("wasserstein", REAL, FAKE).item() == pytest.approx((1.0 / 3) - (1.5 / 3))
    assert generator_loss("wasserstein", FAKE).item() == pytest.approx(-1.0 / 3)


def test_hinge():
    # relu(1 - real) = [0, 0.5, 2] -> 2.5/3 ; relu(1 + fake) = [0.5, 2.5, 1] -> 4/3
    assert critic_loss("hinge", REAL, FAKE).item() == pytest.approx(2.5 / 3 + 4.0 / 3)
    assert generator_loss("hinge", FAKE).item() == pytest.approx(-1.0 / 3)


def test_non_saturating_bce():
    expected = sum(sp(-r) for r in REAL.tolist()) / 3 + sum(sp(f) for f in FAKE.tolist()) / 3
    assert critic_loss("bce", REAL, FAKE).item() == pytest.approx(expected, rel=1e-6)
    assert generator_loss("bce", FAKE).item() == pytest.approx(sum(sp(-f) for f in FAKE.tolist()) / 3, rel=1e-6)
    # equals binary cross-entropy with logits
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    ref = bce(REAL, torch.ones(3)) + bce(FAKE, torch.zeros(3))
    torch.testing.assert_close(critic_loss("bce", REAL, FAKE), ref)


def test_unknown_loss():
    with pytest.raises(ValueError, match="'l2'"):
        critic_loss("l2", REAL, FAKE)
