import pytest
import torch
from torch import nn

from conftest import dense_jacobian
from sngan.spectral import (
    circular_conv2d_singular_values,
    layer_adjoint,
    layer_map,
    matrix_sigma,
    operator_norm,
    reshape_weight_to_matrix,
)

CASES = [
    ("stride1_pad0", lambda: nn.Conv2d(3, 4, 3, stride=1, padding=0), (3, 7, 7)),
    ("stride1_pad1", lambda: nn.Conv2d(3, 4, 3, stride=1, padding=1), (3, 7, 7)),
    ("stride2_pad1", lambda: nn.Conv2d(3, 5, 4, stride=2, padding=1), (3, 8, 8)),
    ("stride2_odd", lambda: nn.Conv2d(2, 3, 3, stride=2, padding=1), (2, 7, 7)),
    ("dilation2", lambda: nn.Conv2d(2, 3, 3, padding=2, dilation=2), (2, 7, 7)),
    ("groups2", lambda: nn.Conv2d(4, 6, 3, padding=1, groups=2), (4, 6, 6)),
    ("reflect", lambda: nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect"), (2, 6, 6)),
    ("replicate", lambda: nn.Conv2d(2, 3, 3, padding=1, padding_mode="replicate"), (2, 6, 6)),
    ("circular", lambda: nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular"), (2, 6, 6)),
    ("same", lambda: nn.Conv2d(2, 3, 3, padding="same"), (2, 6, 6)),
    ("conv1d", lambda: nn.Conv1d(3, 4, 5, stride=2, padding=2), (3, 11)),
    ("conv3d", lambda: nn.Conv3d(2, 3, 3, stride=2, padding=1), (2, 5, 5, 5)),
    ("convT_s2", lambda: nn.ConvTranspose2d(4, 3, 4, stride=2, padding=1), (4, 5, 5)),
    ("convT_outpad", lambda: nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1), (3, 4, 4)),
    ("convT_groups", lambda: nn.ConvTranspose2d(4, 6, 3, stride=1, padding=1, groups=2), (4, 5, 5)),
    ("convT1d", lambda: nn.ConvTranspose1d(3, 2, 4, stride=2, padding=1), (3, 6)),
    ("linear", lambda: nn.Linear(7, 5), (7,)),
]


@pytest.mark.parametrize("name,make,shape", CASES, ids=[c[0] for c in CASES])
def test_operator_norm_matches_dense_jacobian_svd(name, make, shape):
    layer = make().double()
    J = dense_jacobian(lambda x: layer_map(layer, layer.weight, x), shape)
    exact = torch.linalg.matrix_norm(J, ord=2).item()
    assert operator_norm(layer, shape) == pytest.approx(exact, rel=1e-9)
    assert operator_norm(layer, shape, method="power", tol=1e-13, n_iter=20000) == pytest.approx(exact, rel=1e-5)


@pytest.mark.parametrize("name,make,shape", CASES, ids=[c[0] for c in CASES])
def test_adjoint_is_the_transpose(name, make, shape):
    layer = make().double()
    J = dense_jacobian(lambda x: layer_map(layer, layer.weight, x), shape)  # [n_in, n_out]
    out_shape = layer_map(layer, layer.weight, torch.zeros(1, *shape, dtype=torch.float64)).shape[1:]
    Jt = dense_jacobian(lambda y: layer_adjoint(layer, layer.weight, y, shape), out_shape)
    torch.testing.assert_close(Jt, J.t(), rtol=1e-12, atol=1e-12)


def test_layer_map_is_the_layer_without_bias():
    layer = nn.Conv2d(3, 4, 3, stride=2, padding=1, padding_mode="reflect")
    x = torch.randn(2, 3, 9, 9)
    torch.testing.assert_close(layer_map(layer, layer.weight, x), layer(x) - layer.bias.view(1, -1, 1, 1))


@pytest.mark.parametrize("n", [5, 8])
def test_circular_conv_matches_sedghi_fft_formula(n):
    layer = nn.Conv2d(3, 4, 3, padding=1, padding_mode="circular", bias=False).double()
    fft_sigmas = circular_conv2d_singular_values(layer.weight, n)
    J = dense_jacobian(lambda x: layer_map(layer, layer.weight, x), (3, n, n))
    all_sigmas = torch.linalg.svdvals(J)
    # the full spectrum, not only the top: sorted lists agree
    k = min(fft_sigmas.numel(), all_sigmas.numel())
    torch.testing.assert_close(fft_sigmas.sort(descending=True).values[:k], all_sigmas[:k], rtol=1e-9, atol=1e-9)
    assert operator_norm(layer, (3, n, n)) == pytest.approx(fft_sigmas.max().item(), rel=1e-9)


def test_diagonal_matrix_sigma_is_its_largest_entry():
    w = torch.diag(torch.tensor([0.5, -3.0, 2.0], dtype=torch.float64))
    assert matrix_sigma(w).item() == pytest.approx(3.0, abs=1e-12)
    layer = nn.Linear(3, 3, bias=False).double()
    layer.weight.data.copy_(w)
    assert operator_norm(layer, (3,)) == pytest.approx(3.0, rel=1e-12)


def test_reshape_weight_dim1_for_conv_transpose():
    w = torch.randn(4, 3, 2, 2)
    assert reshape_weight_to_matrix(w, 1).shape == (3, 16)
    torch.testing.assert_close(reshape_weight_to_matrix(w, 1)[1], w[:, 1].flatten())


def test_unsupported_module_is_a_value_error():
    with pytest.raises(ValueError, match="BatchNorm2d"):
        operator_norm(nn.BatchNorm2d(3), (3, 4, 4))
    with pytest.raises(ValueError, match="method"):
        operator_norm(nn.Linear(3, 3), (3,), method="svd")


def test_reshaped_kernel_sigma_is_not_the_conv_operator_norm():
    # The fact the field gets wrong: for a 3x3 conv on a 1-channel 28x28 image, the reshaped
    # kernel (out, 9) has a much smaller σ than the operator.
    torch.manual_seed(0)
    layer = nn.Conv2d(1, 64, 3, padding=1).double()
    ratio = operator_norm(layer, (1, 28, 28)) / matrix_sigma(layer.weight).item()
    assert 2.0 < ratio <= 3.0 + 1e-9  # bounded by sqrt(k*k)=3 for stride 1
