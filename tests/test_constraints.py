import pytest
import torch
from torch import nn

from sngan.constraints import (
    GradientPenalty,
    NoConstraint,
    SpectralNormalization,
    WeightClip,
    interpolate,
    make_constraint,
)
from sngan.models import MnistCritic, ToyCritic
from sngan.nn import SpectralNorm


def test_weight_clip_after_a_step():
    critic = ToyCritic(hidden=8)
    opt = torch.optim.SGD(critic.parameters(), lr=10.0)
    c = WeightClip(0.01)
    critic(torch.randn(4, 2)).sum().backward()
    opt.step()
    assert max(p.abs().max().item() for p in critic.parameters()) > 0.01
    before = [p.detach().clone() for p in critic.parameters()]
    c.after_step(critic)
    assert max(p.abs().max().item() for p in critic.parameters()) == pytest.approx(0.01)
    for p, b in zip(critic.parameters(), before):  # exactly the element-wise clamp, nothing else
        assert torch.equal(p, b.clamp(-0.01, 0.01))


class LinearCritic(nn.Module):
    """f(x) = <w, x> over all non-batch dims: ∇f = w everywhere."""

    def __init__(self, shape):
        super().__init__()
        self.w = nn.Parameter(torch.randn(shape))

    def forward(self, x):
        return (x * self.w).flatten(1).sum(1, keepdim=True)


@pytest.mark.parametrize("shape", [(2,), (3, 5, 5), (1, 4, 4)])
def test_gradient_penalty_exact_for_a_linear_critic(shape):
    critic = LinearCritic(shape)
    real, fake = torch.randn(6, *shape), torch.randn(6, *shape)
    norm = critic.w.detach().norm().item()
    gp = GradientPenalty(weight=10.0)
    assert gp.penalty(critic, real, fake).item() == pytest.approx(10 * (norm - 1) ** 2, rel=1e-5)
    one = GradientPenalty(weight=10.0, one_sided=True)
    assert one.penalty(critic, real, fake).item() == pytest.approx(10 * max(norm - 1, 0) ** 2, rel=1e-5)
    # it trains: the gradient wrt w is 10 * 2 (|w| - 1) w/|w| (create_graph=True)
    pen = gp.penalty(critic, real, fake)
    (grad,) = torch.autograd.grad(pen, critic.w)
    torch.testing.assert_close(grad, 20 * (norm - 1) * critic.w.detach() / norm, rtol=1e-4, atol=1e-6)


def test_one_sided_is_zero_below_the_centre():
    critic = LinearCritic((4,))
    with torch.no_grad():
        critic.w.mul_(0.1 / critic.w.norm())
    assert GradientPenalty(one_sided=True).penalty(critic, torch.randn(3, 4), torch.randn(3, 4)).item() == 0.0


def test_interpolate_one_alpha_per_sample():
    real, fake = torch.ones(5, 3, 2, 2), torch.zeros(5, 3, 2, 2)
    x = interpolate(real, fake)
    per_sample = x.flatten(1)
    assert torch.all(per_sample == per_sample[:, :1])  # same α over channels and pixels
    assert per_sample[:, 0].unique().numel() == 5


@pytest.mark.parametrize("mode", ["matrix", "operator"])
def test_spectral_normalization_prepares_every_layer(mode):
    critic = SpectralNormalization(mode=mode).prepare(MnistCritic(width=0.125))
    layers = [m for m in critic.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(layers) == 6
    assert all(isinstance(m.parametrizations.weight[0], SpectralNorm) for m in layers)
    critic(torch.randn(2, 1, 28, 28))


def test_describe_and_factory():
    assert "0.01" in WeightClip().describe()
    assert "λ=10" in GradientPenalty().describe()
    assert "operator" in SpectralNormalization(mode="operator").describe()
    assert NoConstraint().penalty(None, None, None) is None
    assert isinstance(make_constraint("gp", gp_weight=5), GradientPenalty)
    with pytest.raises(ValueError, match="'wgan'"):
        make_constraint("wgan")
    with pytest.raises(ValueError):
        WeightClip(0)
    sn = make_constraint("sn", n_power_iterations=4, sn_mode="operator", sn_solver="lanczos")
    assert sn.describe() == "spectral normalization, operator σ, 4 Lanczos step(s)/forward"
    critic = sn.prepare(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(18, 1)))
    layers = [p for m in critic.modules() if hasattr(m, "parametrizations") for p in m.parametrizations.weight]
    assert [(p.mode, p.solver, p.n_power_iterations) for p in layers] == [("operator", "lanczos", 4),
                                                                         ("matrix", "lanczos", 4)]
    with pytest.raises(ValueError, match="'krylov'"):
        SpectralNormalization(solver="krylov")
