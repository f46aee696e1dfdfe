import warnings

import pytest
import torch
from torch import nn

from conftest import dense_jacobian
from sngan.certified import (
    CERTIFIED_MARGIN,
    CHOLESKY_SLACK,
    _certify_below,
    _frequency_grams,
    _iterate_hermitian,
    _polyphase,
    certified_sigma,
    circular_conv2d_singular_values,
    frequency_matrices,
    gram_bound,
    spectrum_shape,
)
from sngan.spectral import (
    lanczos_,
    layer_adjoint,
    layer_map,
    layer_weight_vjp,
    matrix_sigma,
    operator_norm,
    power_iteration_,
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
def test_operator_norm_matches_dense_jacobian_svd(name, make, shape, device):
    layer = make().double().to(device)
    J = dense_jacobian(lambda x: layer_map(layer, layer.weight, x), shape, device=device)
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


@pytest.mark.parametrize("name,make,shape", CASES, ids=[c[0] for c in CASES])
def test_layer_weight_vjp_is_the_autograd_weight_gradient(name, make, shape, device):
    torch.manual_seed(0)
    layer = make().double().to(device)
    x = torch.randn(2, *shape, dtype=torch.float64, device=device)
    w = layer.weight.detach().clone().requires_grad_(True)
    y = layer_map(layer, w, x)
    g = torch.randn_like(y)
    (expected,) = torch.autograd.grad(y, w, grad_outputs=g)
    torch.testing.assert_close(layer_weight_vjp(layer, layer.weight.detach(), x, g), expected, rtol=1e-12, atol=1e-12)


def test_power_iteration_returns_u_transpose_a_v_of_the_new_vectors():
    torch.manual_seed(0)
    A = torch.randn(6, 9, dtype=torch.float64)
    u = torch.nn.functional.normalize(torch.randn(6, dtype=torch.float64), dim=0)
    v = torch.nn.functional.normalize(torch.randn(9, dtype=torch.float64), dim=0)
    estimate = power_iteration_(lambda x: A @ x, lambda y: A.t() @ y, u, v, 3)
    assert estimate.item() == pytest.approx(torch.dot(u, A @ v).item(), rel=1e-14)
    assert estimate.item() <= torch.linalg.matrix_norm(A, ord=2).item()
    assert power_iteration_(lambda x: A @ x, lambda y: A.t() @ y, u, v, 0) is None


def _matrix_with_singular_values(values, rows, cols, seed=0):
    gen = torch.Generator().manual_seed(seed)
    left, _ = torch.linalg.qr(torch.randn(rows, len(values), generator=gen, dtype=torch.float64))
    right, _ = torch.linalg.qr(torch.randn(cols, len(values), generator=gen, dtype=torch.float64))
    return left @ torch.diag(torch.tensor(values, dtype=torch.float64)) @ right.t()


def _unit(n, seed):
    gen = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(n, generator=gen, dtype=torch.float64), dim=0)


def test_one_lanczos_step_is_one_power_iteration():
    torch.manual_seed(0)
    A = torch.randn(6, 9, dtype=torch.float64)
    u1, v1, u2, v2 = _unit(6, 1), _unit(9, 2), _unit(6, 1), _unit(9, 2)
    a = power_iteration_(lambda x: A @ x, lambda y: A.t() @ y, u1, v1, 1)
    b = lanczos_(lambda x: A @ x, lambda y: A.t() @ y, u2, v2, 1)
    assert b.item() == pytest.approx(a.item(), rel=1e-13)
    torch.testing.assert_close(u2, u1, rtol=0, atol=1e-13)
    torch.testing.assert_close(v2, v1, rtol=0, atol=1e-13)
    assert lanczos_(lambda x: A @ x, lambda y: A.t() @ y, u2, v2, 0) is None


def test_lanczos_ritz_value_is_u_a_v_below_sigma_and_at_least_the_power_iterations_estimate():
    values = [1.0] + [0.97 - 0.02 * i for i in range(39)]  # a dense spectrum below the top
    A = _matrix_with_singular_values(values, 50, 60)
    previous = 0.0
    for steps in range(1, 11):
        u, v = _unit(50, 3), _unit(60, 4)
        theta = lanczos_(lambda x: A @ x, lambda y: A.t() @ y, u, v, steps).item()
        pu, pv = _unit(50, 3), _unit(60, 4)
        power = power_iteration_(lambda x: A @ x, lambda y: A.t() @ y, pu, pv, steps).item()
        assert u.norm().item() == pytest.approx(1.0, abs=1e-12) and v.norm().item() == pytest.approx(1.0, abs=1e-12)
        assert theta == pytest.approx(torch.dot(u, A @ v).item(), rel=1e-12)  # σ = uᵀAv for the new pair
        # the power iteration's u after k steps lies in the Krylov space A·K_k whose best |Aᵀu| θ is:
        # θ >= its estimate (equal for one step), grows with the steps, and stays below σ = 1
        assert power - 1e-12 <= theta <= 1.0 + 1e-12
        assert theta >= previous - 1e-12
        previous = theta
    assert 1.0 - theta < 0.2 * (1.0 - power)  # 10 steps: 0.0044 below σ against 0.034
    # a Krylov space as large as the matrix holds the top pair: σ and its vectors exactly
    theta = lanczos_(lambda x: A @ x, lambda y: A.t() @ y, u, v, 80)  # 80 > 50 rows: capped at 50 steps
    assert theta.item() == pytest.approx(1.0, rel=1e-10)
    assert torch.dot(u, A @ v).item() == pytest.approx(1.0, rel=1e-10)


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


# --- the certified upper bound (FFT of the circular embedding + Gram iteration) ---------------

CERTIFIABLE = [c for c in CASES if not c[0].startswith("convT") and c[0] not in ("reflect", "replicate")] + [
    ("stride3_k5", lambda: nn.Conv2d(2, 3, 5, stride=3, padding=2), (2, 9, 9)),
    ("circular_kernel_wraps", lambda: nn.Conv2d(2, 3, 5, padding=2, padding_mode="circular"), (2, 3, 3)),
    ("circular_stride2", lambda: nn.Conv2d(2, 3, 4, stride=2, padding=1, padding_mode="circular"), (2, 6, 6)),
    ("linear", lambda: nn.Linear(7, 5), (7,)),
]


@pytest.mark.parametrize("name,make,shape", CERTIFIABLE, ids=[c[0] for c in CERTIFIABLE])
def test_certified_sigma_is_an_upper_bound_on_the_dense_jacobian_norm(name, make, shape, device):
    torch.manual_seed(1)
    layer = make().double().to(device)
    J = dense_jacobian(lambda x: layer_map(layer, layer.weight, x), shape, device=device)
    true = torch.linalg.matrix_norm(J, ord=2).item()
    bound = certified_sigma(layer, layer.weight.detach(), shape).item()
    assert bound >= true * (1 - 1e-6)
    # circular padding (stride dividing the input) and Linear are exact, up to the rounding margin
    if name.startswith("circular") or name == "linear":
        assert bound == pytest.approx(true * CERTIFIED_MARGIN, rel=2e-6)
    else:
        assert bound <= true * 2.0


def test_certified_sigma_matches_the_sedghi_formula_for_circular_convolutions():
    torch.manual_seed(0)
    layer = nn.Conv2d(4, 6, 3, padding=1, padding_mode="circular")
    exact = circular_conv2d_singular_values(layer.weight.detach(), 10).max().item()
    assert certified_sigma(layer, layer.weight.detach(), (4, 10, 10)).item() == pytest.approx(
        exact * CERTIFIED_MARGIN, rel=1e-6)


def test_gram_bound_bounds_every_matrix_and_is_tight():
    torch.manual_seed(0)
    for mats in (torch.randn(6, 9, 4, dtype=torch.complex128), torch.randn(5, 3, 8, dtype=torch.float64)):
        sigma = torch.linalg.matrix_norm(mats, ord=2)
        bound = gram_bound(mats, n_iter=8)
        assert torch.all(bound >= sigma * (1 - 1e-12))
        assert torch.allclose(bound, sigma, rtol=1e-3)
    # a repeated top singular value is the worst case: the bound is rank^(1/2^(t+2)) loose at most
    eye = torch.eye(4, dtype=torch.float64)[None]
    assert gram_bound(eye, n_iter=3).item() == pytest.approx(4 ** (1 / 32), rel=1e-12)


@pytest.mark.parametrize("name,make,shape", [c for c in CERTIFIABLE if c[0] != "linear"],
                         ids=[c[0] for c in CERTIFIABLE if c[0] != "linear"])
def test_frequency_grams_from_the_tap_autocorrelation_equal_the_grams_of_the_frequency_matrices(
        name, make, shape, device):
    # strides (polyphase), dilation, groups, 1d/3d, and a kernel that wraps around a small circular grid
    torch.manual_seed(2)
    layer = make().double().to(device)
    mats = frequency_matrices(layer, layer.weight.detach(), shape, half=True)
    gram = mats @ mats.mH if mats.shape[-2] <= mats.shape[-1] else mats.mH @ mats
    poly, sizes = _polyphase(layer, layer.weight.detach(), shape)
    grams = _frequency_grams(poly, sizes, layer.groups, torch.float64)
    a, b = grams.real, grams.imag
    # the same Hermitian matrix, or its conjugate (the phases of MᴴM and MMᴴ run opposite ways)
    assert torch.allclose(torch.linalg.eigvalsh(torch.complex(a, b)), torch.linalg.eigvalsh(gram), atol=1e-12)
    assert torch.equal(a, a.mT) and torch.equal(b, -b.mT)


def test_pruned_gram_iteration_keeps_the_largest_bound_and_bounds_every_matrix():
    torch.manual_seed(0)
    scale = torch.linspace(0.2, 1.0, 50, dtype=torch.float64)[:, None, None]
    x = torch.randn(50, 12, 6, dtype=torch.complex128) * scale
    g = x.mH @ x
    sigma = torch.linalg.matrix_norm(x, ord=2)
    full = _iterate_hermitian(g.real, g.imag, 6)
    pruned = _iterate_hermitian(g.real, g.imag, 6, prune=True)
    assert torch.all(pruned >= sigma * (1 - 1e-12)) and torch.all(full >= sigma * (1 - 1e-12))
    assert pruned.max() == full.max()
    assert torch.all(pruned >= full)               # a pruned matrix keeps an earlier, looser bound
    assert bool((pruned > full * (1 + 1e-6)).any())  # and some were pruned
    # the Hermitian iteration is gram_bound's complex path: the same bounds as the real [[P, -Q], [Q, P]]
    doubled = torch.cat([torch.cat([x.real, -x.imag], -1), torch.cat([x.imag, x.real], -1)], -2)
    assert torch.allclose(gram_bound(x, 6), gram_bound(doubled, 6) / 2 ** (1 / 2 ** 8), rtol=1e-12)


def test_certified_sigma_gradient_is_the_top_frequencys_singular_value_gradient():
    # Circular padding: the bound is the exact norm (times the margin), so its gradient must equal the
    # autograd gradient of the exact largest singular value over the frequency matrices (float64 SVD).
    torch.manual_seed(0)
    for layer, shape in ((nn.Conv2d(3, 5, 4, stride=2, padding=1, padding_mode="circular"), (3, 8, 8)),
                         (nn.Conv2d(4, 6, 3, padding=1, groups=2, padding_mode="circular"), (4, 6, 6)),
                         (nn.Linear(6, 4), (6,))):
        w64 = layer.weight.detach().double().requires_grad_()
        exact = torch.linalg.matrix_norm(frequency_matrices(layer, w64, shape).to(torch.complex128), ord=2).max()
        (g_exact,) = torch.autograd.grad(exact, w64)
        w = layer.weight.detach().clone().requires_grad_()
        (g,) = torch.autograd.grad(certified_sigma(layer, w, shape), w)
        assert torch.allclose(g.double(), g_exact, atol=1e-5)


def _random_layer(gen: torch.Generator) -> tuple[nn.Module, tuple[int, ...]]:
    """A random convolution the certified bound supports, and an input shape it accepts."""
    def pick(*options):
        return options[int(torch.randint(len(options), (), generator=gen))]

    nd = pick(1, 2, 2, 2, 3)
    kernel, stride, dilation = pick(1, 2, 3, 4, 5), pick(1, 1, 2, 3), pick(1, 1, 1, 2)
    if nd == 3:  # dense Jacobians of 3-d inputs grow fast
        kernel, dilation = min(kernel, 3), 1
    groups = pick(1, 1, 2)
    c_in, c_out = groups * pick(1, 2, 3, 5), groups * pick(1, 2, 4)
    circular = nd < 3 and stride == 1 and pick(False, False, True)
    padding = pick(0, 1, 2, "same") if stride == 1 else pick(0, 1, 2)
    if circular and padding == "same":
        padding = 1
    conv = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[nd - 1]
    layer = conv(c_in, c_out, kernel, stride=stride, padding=padding, dilation=dilation, groups=groups,
                 padding_mode="circular" if circular else "zeros")
    span = dilation * (kernel - 1) + 1
    low = max(span - (0 if padding == "same" else 2 * padding), 1)
    size = [int(torch.randint(low, low + (3 if nd == 3 else 6), (), generator=gen)) for _ in range(nd)]
    return layer, (c_in, *size)


def test_certified_bound_is_never_below_the_true_norm_over_random_layers():
    # the training path (kept vectors, Cholesky certificate, float32 Grams) over random kernels, strides,
    # paddings, dilations, groups, 1-3d and input sizes; after a weight step the kept vectors lag
    gen = torch.Generator().manual_seed(0)
    tried = 0
    while tried < 60:
        layer, shape = _random_layer(gen)
        try:
            with warnings.catch_warnings():  # torch's note on "same" padding with an even kernel
                warnings.simplefilter("ignore", UserWarning)
                layer(torch.zeros(1, *shape))
            vectors = torch.zeros(*spectrum_shape(layer, layer.weight, shape), 2)
        except (RuntimeError, ValueError):  # an input the layer itself or the bound refuses (a kernel too big)
            continue
        tried += 1
        for step in range(3):
            w = layer.weight.detach()
            bound = certified_sigma(layer, w, shape, vectors=vectors).item()
            J = dense_jacobian(lambda x, layer=layer, w=w: layer_map(layer, w.double(), x), shape)
            true = torch.linalg.matrix_norm(J, ord=2).item()
            assert bound >= true, (layer, shape, step)
            exact = certified_sigma(layer, w.double(), shape).item() / CERTIFIED_MARGIN  # the Gram iteration
            assert bound <= exact * (1 + CHOLESKY_SLACK) * 1.01, (layer, shape, step)  # and tight
            with torch.no_grad():
                layer.weight.add_(0.05 * layer.weight.abs().mean() * torch.randn(w.shape, generator=gen))


def test_certified_bound_holds_when_the_kept_vectors_are_wrong(monkeypatch):
    # vectors that point nowhere near the top make the Cholesky certificate fail: the Gram iteration takes over
    import sngan.certified

    fallbacks = []
    iterate = sngan.certified._iterate_hermitian
    monkeypatch.setattr(sngan.certified, "_iterate_hermitian",
                        lambda a, *args, **kw: fallbacks.append(a.shape[0]) or iterate(a, *args, **kw))
    torch.manual_seed(3)
    layer, shape = nn.Conv2d(6, 8, 3, padding=1), (6, 9, 9)
    exact = torch.linalg.matrix_norm(frequency_matrices(layer, layer.weight.detach().double(), shape),
                                     ord=2).max().item()
    vectors = torch.zeros(*spectrum_shape(layer, layer.weight, shape), 2)
    vectors[..., -1, 0] = 1.0  # the last basis vector at every frequency
    bound = certified_sigma(layer, layer.weight.detach(), shape, vectors=vectors).item()
    assert exact <= bound <= exact * (1 + 1e-3)
    assert fallbacks  # the certificate failed somewhere and the Gram iteration bounded those Grams
    again = certified_sigma(layer, layer.weight.detach(), shape, vectors=vectors).item()  # from the mended vectors
    assert exact <= again <= exact * (1 + 1e-3)


def test_a_cholesky_certificate_separates_eigenvalues_just_above_and_below():
    torch.manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(5, 24, 24, dtype=torch.complex64))
    eig = torch.linspace(0.1, 2.0, 24).expand(5, 24).clone()
    eig[2, -1] = 2.004  # one Gram whose top is 0.2% above the rest's
    grams = q @ torch.diag_embed(eig.to(torch.complex64)) @ q.mH
    beta = torch.tensor(2.002, dtype=torch.float64)
    shifted = -grams
    shifted.diagonal(dim1=-2, dim2=-1).real.add_(2.002)
    ok, allowance = _certify_below(shifted, beta)
    assert ok.tolist() == [True, True, False, True, True]
    assert torch.all((allowance[ok] > 0) & (allowance[ok] < 1e-3))  # rounding allowances far below the 0.1% slack


def test_certified_sigma_refuses_what_it_cannot_bound():
    with pytest.raises(ValueError, match="padding"):
        certified_sigma(nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect"), torch.ones(3, 2, 3, 3), (2, 5, 5))
    with pytest.raises(ValueError, match="Conv1d/2d/3d"):
        certified_sigma(nn.ConvTranspose2d(2, 3, 3), torch.ones(2, 3, 3, 3), (2, 5, 5))
    with pytest.raises(ValueError, match="divide"):
        certified_sigma(nn.Conv2d(2, 3, 3, stride=2, padding=1, padding_mode="circular"), torch.ones(3, 2, 3, 3),
                        (2, 5, 5))
