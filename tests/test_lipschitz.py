import pytest
import torch
from torch import nn

import sngan
from conftest import dense_jacobian
from sngan.lipschitz import gradient_norms, layer_bounds, lower_bound, upper_bound
from sngan.models import MnistCritic, ResNetCritic32
from sngan.spectral import layer_map


def test_linear_model_bounds_are_tight():
    model = nn.Sequential(nn.Linear(6, 4), nn.Linear(4, 1)).double()
    w = model[1].weight @ model[0].weight
    true = torch.linalg.vector_norm(w).item()
    x = torch.randn(5, 6, dtype=torch.float64)
    assert lower_bound(model, x) == pytest.approx(true, rel=1e-12)
    assert upper_bound(model, (6,)) >= true - 1e-12
    assert upper_bound(model, (6,)) == pytest.approx(
        torch.linalg.matrix_norm(model[0].weight, 2).item() * torch.linalg.matrix_norm(model[1].weight, 2).item(),
        rel=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_bracket_on_small_mlp_and_cnn(seed):
    torch.manual_seed(seed)
    mlp = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1)).double()
    cnn = nn.Sequential(
        nn.Conv2d(1, 4, 3, 1, 1), nn.LeakyReLU(0.1), nn.Conv2d(4, 4, 4, 2, 1), nn.ReLU(),
        nn.Sequential(nn.Flatten(), nn.Linear(4 * 3 * 3, 1)),
    ).double()
    for model, shape in ((mlp, (3,)), (cnn, (1, 6, 6))):
        x = torch.randn(64, *shape, dtype=torch.float64)
        lo = lower_bound(model, x, steps=30)
        hi = upper_bound(model, shape)
        assert 0 < lo <= hi
        # the product of exact per-layer dense-Jacobian norms equals the certified bound
        prod = 1.0
        for name, kind, factor in layer_bounds(model, shape):
            if kind in ("Linear", "Conv2d"):
                layer = dict(model.named_modules())[name]
                in_shape = _in_shape(model, name, shape)
                Jl = dense_jacobian(lambda z, layer=layer: layer_map(layer, layer.weight, z), in_shape)
                assert factor == pytest.approx(torch.linalg.matrix_norm(Jl, 2).item(), rel=1e-8)
            prod *= factor
        assert hi == pytest.approx(prod, rel=1e-12)


def _in_shape(model, name, shape):
    shapes = {}
    target = dict(model.named_modules())[name]

    def hook(module, args):
        shapes.setdefault("s", tuple(args[0].shape[1:]))

    h = target.register_forward_pre_hook(hook)
    model(torch.zeros(1, *shape, dtype=torch.float64))
    h.remove()
    return shapes["s"]


def test_ascent_raises_the_lower_bound_towards_the_truth():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 1)).double()
    x = torch.randn(8, 2, dtype=torch.float64) * 0.01
    assert lower_bound(model, x, steps=100) >= lower_bound(model, x) - 1e-12


def test_operator_sn_critic_is_certified_1_lipschitz_and_matrix_sn_is_not():
    torch.manual_seed(0)
    certified = {}
    for mode in ("matrix", "operator"):
        critic = MnistCritic(width=0.125)
        for m in critic:
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                sngan.spectral_norm(m, mode=mode)
        with torch.no_grad():
            for _ in range(200):
                critic(torch.randn(1, 1, 28, 28))
        critic.eval()
        certified[mode] = upper_bound(critic, (1, 28, 28))
    assert certified["operator"] <= 1.01
    assert certified["matrix"] > 2.0


def test_activation_and_pool_constants():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sigmoid(), nn.Linear(2, 1))
    factors = [f for _, _, f in layer_bounds(model, (2,))]
    assert factors[1] == 0.25
    pool = nn.Sequential(nn.MaxPool2d(3, stride=1), nn.Flatten(), nn.Linear(4, 1))
    assert layer_bounds(pool, (1, 4, 4))[0][2] == pytest.approx(3.0)  # 9 overlapping windows
    avg = nn.Sequential(nn.AvgPool2d(2), nn.Flatten(), nn.Linear(4, 1))
    assert layer_bounds(avg, (1, 4, 4))[0][2] == pytest.approx(0.5, rel=1e-9)  # 1/sqrt(4)


def test_unboundable_layers_raise_instead_of_guessing():
    with pytest.raises(ValueError, match="training mode"):
        upper_bound(nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2), nn.Linear(2, 1)), (2,))
    with pytest.raises(ValueError, match="GELU"):
        upper_bound(nn.Sequential(nn.Linear(2, 2), nn.GELU(), nn.Linear(2, 1)), (2,))
    with pytest.raises(ValueError, match="nn.Sequential"):
        upper_bound(ResNetCritic32(ch=8), (3, 32, 32))


def test_batchnorm_in_eval_mode_is_bounded_exactly():
    bn = nn.BatchNorm1d(3).eval()
    bn.running_var.copy_(torch.tensor([4.0, 1.0, 0.25]))
    bn.weight.data.copy_(torch.tensor([1.0, 0.5, 1.0]))
    factor = layer_bounds(nn.Sequential(bn), (3,))[0][2]
    assert factor == pytest.approx(1.0 / (0.25 + 1e-5) ** 0.5)


def test_gradient_norms_of_a_linear_critic():
    model = nn.Linear(4, 1, bias=False)
    model.weight.data = torch.tensor([[3.0, 0.0, 4.0, 0.0]])
    torch.testing.assert_close(gradient_norms(model, torch.randn(7, 4)), torch.full((7,), 5.0))
    with pytest.raises(ValueError, match="scalar-output"):
        gradient_norms(nn.Linear(4, 2), torch.randn(3, 4))
