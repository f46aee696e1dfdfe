"""Spectral maths: power iteration, exact σ of a matrix, and the true operator norm of a layer.

Two different numbers are both called "the spectral norm of a convolution" in the GAN literature:

* the *matrix* σ — the largest singular value of the kernel reshaped to ``(out, in * k * k)``
  (Miyato et al. 2018, "Spectral Normalization for GANs", Sec. 2.1 and Appendix), and
* the *operator* σ — the largest singular value of the linear map ``x -> conv(x, W)`` on the
  inputs the layer actually sees (Sedghi et al. 2019, "The Singular Values of Convolutional
  Layers"; Gouk et al. 2021).

Only the second bounds the layer's Lipschitz constant. Power iteration gives a *lower* bound on it
(this module); :func:`sngan.certified.certified_sigma` gives a guaranteed *upper* bound. The matrix and
operator σ differ by factors of 1.2 to 3 on the SN-GAN critic, in either direction in general.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "CONV_TYPES",
    "CONV_TRANSPOSE_TYPES",
    "LINEAR_TYPES",
    "reshape_weight_to_matrix",
    "default_dim",
    "power_iteration_",
    "lanczos_",
    "matrix_sigma",
    "layer_map",
    "layer_adjoint",
    "layer_weight_vjp",
    "operator_norm",
    "operator_norm_of_weight",
]

CONV_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
CONV_TRANSPOSE_TYPES = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
LINEAR_TYPES = (nn.Linear, *CONV_TYPES, *CONV_TRANSPOSE_TYPES)

_CONV_FN = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_T_FN = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def default_dim(module: nn.Module) -> int:
    """The output dimension of a layer's weight: 1 for ConvTranspose*, 0 otherwise (as torch)."""
    return 1 if issubclass(_layer_type(module), CONV_TRANSPOSE_TYPES) else 0


def reshape_weight_to_matrix(weight: Tensor, dim: int = 0) -> Tensor:
    """Reshape ``weight`` to a matrix ``(weight.shape[dim], -1)`` (Miyato et al. 2018)."""
    if weight.ndim < 2:
        raise ValueError(f"expected a weight with at least 2 dimensions, got shape {tuple(weight.shape)}")
    if dim != 0:
        weight = weight.movedim(dim, 0)
    return weight.flatten(1)


@torch.no_grad()
def power_iteration_(
    matvec: Callable[[Tensor], Tensor],
    rmatvec: Callable[[Tensor], Tensor],
    u: Tensor,
    v: Tensor,
    n_iter: int,
    eps: float = 1e-12,
) -> Tensor | None:
    """Run ``n_iter`` steps of u <- Av/|Av|, v <- Aᵀu/|Aᵀu| **in place** on ``u`` and ``v``.

    In place matters: u and v are module buffers, and a replicated or DDP module must update
    the storage it was given (see the note in torch/nn/utils/parametrizations.py).

    Returns ``|Aᵀu|`` of the last step, which equals ``uᵀAv`` for the new v (the σ estimate), or
    ``None`` when ``n_iter`` is 0.
    """
    norm = None
    for _ in range(n_iter):
        u.copy_(F.normalize(matvec(v), dim=0, eps=eps))
        w = rmatvec(u)
        norm = torch.linalg.vector_norm(w)
        v.copy_(w / norm.clamp_min(eps))
    return norm


def lanczos_(
    matvec: Callable[[Tensor], Tensor],
    rmatvec: Callable[[Tensor], Tensor],
    u: Tensor,
    v: Tensor,
    n_iter: int,
    eps: float = 1e-12,
) -> Tensor | None:
    """``n_iter`` steps of Golub–Kahan–Lanczos bidiagonalization started from ``v`` (full
    reorthogonalization), then u, v <- the top Ritz pair, **in place**; returns the Ritz value θ.

    After k steps, ``Aᵀ U_k = V_{k+1} C`` with orthonormal ``U_k``, ``V_{k+1}`` and C lower bidiagonal
    ((k+1) x k, diagonal α_j = |A v_j - β_{j-1} u_{j-1}|, subdiagonal β_j); with C z = θ w the new u = U_k z,
    v = V_{k+1} w satisfy ``uᵀ A v = θ`` exactly, so θ is used and differentiated the way a power
    iteration's estimate is. One step is one power iteration (u = Av/|Av|, v = Aᵀu/|Aᵀu|, θ = |Aᵀu|);
    each further step costs one more map and adjoint, but θ is the best estimate in the whole Krylov
    space, not its last vector: it converges much faster where the top of the spectrum is clustered, as
    a convolution's is. Still a lower bound on σ. Steps beyond ``min(len(u), len(v))`` are not taken.
    """
    if n_iter <= 0:
        return None
    n_iter = min(n_iter, u.numel(), v.numel())
    # the bases as rows of preallocated matrices, and C filled as the steps go: no restacking per step
    us = u.new_zeros(n_iter, u.numel())
    vs = v.new_zeros(n_iter + 1, v.numel())
    c = v.new_zeros(n_iter + 1, n_iter)
    vs[0] = v / torch.linalg.vector_norm(v).clamp_min(eps)
    for j in range(n_iter):
        p = matvec(vs[j])
        if j:
            p = p - c[j, j - 1] * us[j - 1]
            p = p - us[:j].t() @ (us[:j] @ p)
        alpha = torch.linalg.vector_norm(p).clamp_min(eps)
        us[j] = p / alpha
        q = rmatvec(us[j]) - alpha * vs[j]
        q = q - vs[: j + 1].t() @ (vs[: j + 1] @ q)
        beta = torch.linalg.vector_norm(q).clamp_min(eps)
        vs[j + 1] = q / beta
        c[j, j], c[j + 1, j] = alpha, beta
    left, values, right_t = torch.linalg.svd(c, full_matrices=False)
    u.copy_(F.normalize(right_t[0] @ us, dim=0, eps=eps))
    v.copy_(F.normalize(left[:, 0] @ vs, dim=0, eps=eps))
    return values[0]


def matrix_sigma(weight: Tensor, dim: int = 0) -> Tensor:
    """Exact largest singular value of ``weight`` reshaped to ``(shape[dim], -1)`` (full SVD)."""
    return torch.linalg.matrix_norm(reshape_weight_to_matrix(weight, dim), ord=2)


# ---------------------------------------------------------------------------------------------
# A layer as a linear map (bias ignored) and its adjoint.
# ---------------------------------------------------------------------------------------------


def _layer_type(module) -> type:
    # A module, or a light spec of one (sngan.nn keeps one instead of the module itself).
    return getattr(module, "layer_type", None) or type(module)


def _check_layer(module: nn.Module) -> None:
    if not issubclass(_layer_type(module), LINEAR_TYPES):
        raise ValueError(
            f"operator norm: unsupported module type {type(module).__name__}; "
            "expected Linear, Conv1d/2d/3d or ConvTranspose1d/2d/3d"
        )


def layer_map(module: nn.Module, weight: Tensor, x: Tensor) -> Tensor:
    """Apply the linear part of ``module`` (its map without bias) with ``weight`` to batch ``x``.

    Handles stride, padding (every padding mode), dilation, groups and output_padding.
    """
    _check_layer(module)
    if issubclass(_layer_type(module), nn.Linear):
        return F.linear(x, weight)
    if issubclass(_layer_type(module), CONV_TYPES):
        nd = weight.ndim - 2
        if module.padding_mode != "zeros":
            # Same as nn.ConvNd._conv_forward: pad explicitly, then convolve without padding.
            x = F.pad(x, module._reversed_padding_repeated_twice, mode=module.padding_mode)
            return _CONV_FN[nd](x, weight, None, module.stride, 0, module.dilation, module.groups)
        return _CONV_FN[nd](
            x, weight, None, module.stride, module.padding, module.dilation, module.groups
        )
    nd = weight.ndim - 2
    return _CONV_T_FN[nd](
        x,
        weight,
        None,
        module.stride,
        module.padding,
        module.output_padding,
        module.groups,
        module.dilation,
    )


def _conv_adjoint_output_padding(module: nn.Module, weight: Tensor, y_shape, x_shape) -> list[int]:
    kernel = weight.shape[2:]
    pads = []
    for i, (n_in, n_out) in enumerate(zip(x_shape, y_shape)):
        s, p, d = module.stride[i], module.padding[i], module.dilation[i]
        pads.append(n_in - ((n_out - 1) * s - 2 * p + d * (kernel[i] - 1) + 1))
    return pads


def layer_adjoint(module: nn.Module, weight: Tensor, y: Tensor, input_shape: Sequence[int]) -> Tensor:
    """Apply the adjoint (transpose) of :func:`layer_map` to batch ``y``.

    ``input_shape`` is the shape of one input (batch excluded). Zero-padded convolutions use
    ``conv_transpose`` and transposed convolutions use ``conv``; reflect / replicate / circular
    padding use the exact vector-Jacobian product of the map, so every padding mode is exact.
    """
    _check_layer(module)
    if issubclass(_layer_type(module), nn.Linear):
        return F.linear(y, weight.t())
    nd = weight.ndim - 2
    if issubclass(_layer_type(module), CONV_TRANSPOSE_TYPES):
        return _CONV_FN[nd](y, weight, None, module.stride, module.padding, module.dilation, module.groups)
    if module.padding_mode == "zeros" and not isinstance(module.padding, str):
        out_pad = _conv_adjoint_output_padding(module, weight, y.shape[2:], input_shape[1:])
        return _CONV_T_FN[nd](
            y, weight, None, module.stride, module.padding, out_pad, module.groups, module.dilation
        )
    # General case (reflect / replicate / circular padding, string padding): the map is linear,
    # so its adjoint applied to y is the gradient of <map(x), y> with respect to x.
    with torch.enable_grad():
        x = torch.zeros((y.shape[0], *input_shape), dtype=y.dtype, device=y.device, requires_grad=True)
        out = layer_map(module, weight.detach(), x)
        (grad,) = torch.autograd.grad(out, x, grad_outputs=y)
    return grad


def layer_weight_vjp(module: nn.Module, weight: Tensor, x: Tensor, g: Tensor) -> Tensor:
    """∂/∂W of ``<g, layer_map(module, W, x)>`` at ``weight``: the weight gradient of the layer's map at
    input batch ``x`` for output gradient ``g``, without running the map forward (the map is linear
    in W, so this is also ``Σ g ⊗ x`` through the layer's geometry).

    Operator-mode SN uses it for σ = uᵀA(W)v: its gradient is this with x = v, g = u.
    """
    _check_layer(module)
    kind = _layer_type(module)
    if issubclass(kind, nn.Linear):
        return g.reshape(-1, g.shape[-1]).t() @ x.reshape(-1, x.shape[-1])
    nd = weight.ndim - 2
    if isinstance(getattr(module, "padding", 0), str):  # 'same' / 'valid': let autograd find the padding
        with torch.enable_grad():
            w = weight.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(layer_map(module, w, x), w, grad_outputs=g)
        return grad
    transposed = issubclass(kind, CONV_TRANSPOSE_TYPES)
    padding = module.padding
    if not transposed and module.padding_mode != "zeros":  # as layer_map: pad explicitly, then no padding
        x = F.pad(x, module._reversed_padding_repeated_twice, mode=module.padding_mode)
        padding = (0,) * nd
    output_padding = module.output_padding if transposed else (0,) * nd
    return torch.ops.aten.convolution_backward(
        g, x, weight, None, module.stride, padding, module.dilation, transposed, output_padding, module.groups,
        [False, True, False])[1]


def operator_norm_of_weight(
    module: nn.Module,
    weight: Tensor,
    input_shape: Sequence[int],
    n_iter: int = 2000,
    tol: float = 1e-10,
    dtype: torch.dtype | None = torch.float64,
    method: str = "lanczos",
    seed: int = 0,
) -> float:
    """σ_max of the map ``x -> layer_map(module, weight, x)`` on inputs of shape ``input_shape``.

    See :func:`operator_norm`.
    """
    _check_layer(module)
    if method not in ("lanczos", "power"):
        raise ValueError(f"method must be 'lanczos' or 'power', got {method!r}")
    input_shape = tuple(int(s) for s in input_shape)
    weight = weight.detach()
    if dtype is not None:
        weight = weight.to(dtype)
    gen = torch.Generator().manual_seed(seed)
    v0 = torch.randn(input_shape, generator=gen, dtype=weight.dtype, device="cpu").to(weight.device)
    with torch.no_grad():
        out_shape = tuple(layer_map(module, weight, v0[None]).shape[1:])
    n_in, n_out = int(np.prod(input_shape)), int(np.prod(out_shape))

    def matvec(x: Tensor) -> Tensor:
        return layer_map(module, weight, x.reshape(1, *input_shape)).reshape(-1)

    def rmatvec(y: Tensor) -> Tensor:
        return layer_adjoint(module, weight, y.reshape(1, *out_shape), input_shape).reshape(-1)

    if method == "lanczos" and min(n_in, n_out) > 2:
        from scipy.sparse.linalg import LinearOperator, eigsh

        # Largest eigenvalue of AᵀA (or AAᵀ, whichever is smaller) by implicitly restarted
        # Lanczos (ARPACK): converges to machine precision even when the top of the spectrum
        # is clustered, where plain power iteration stalls.
        def to_t(a):
            return torch.as_tensor(np.ascontiguousarray(a).reshape(-1), dtype=weight.dtype, device=weight.device)

        if n_in <= n_out:
            gram = LinearOperator(
                (n_in, n_in), matvec=lambda a: rmatvec(matvec(to_t(a))).cpu().double().numpy(),
                dtype=np.float64,
            )
            start = v0.reshape(-1).cpu().double().numpy()
        else:
            gram = LinearOperator(
                (n_out, n_out), matvec=lambda a: matvec(rmatvec(to_t(a))).cpu().double().numpy(),
                dtype=np.float64,
            )
            start = matvec(v0.reshape(-1)).cpu().double().numpy()
        with torch.no_grad():
            lam = eigsh(gram, k=1, which="LA", v0=start, tol=tol, maxiter=n_iter, return_eigenvectors=False)
        return float(np.sqrt(max(float(lam[0]), 0.0)))

    # Power iteration on AᵀA from a seeded random start, stopped when σ changes by < tol (relative).
    with torch.no_grad():
        v = F.normalize(v0.reshape(-1), dim=0)
        sigma = 0.0
        for _ in range(n_iter):
            u = matvec(v)
            new_sigma = float(u.norm())
            v = F.normalize(rmatvec(u), dim=0)
            if abs(new_sigma - sigma) <= tol * max(new_sigma, 1e-30):
                sigma = new_sigma
                break
            sigma = new_sigma
    return sigma


def operator_norm(
    module: nn.Module,
    input_shape: Sequence[int],
    n_iter: int = 2000,
    tol: float = 1e-10,
    dtype: torch.dtype | None = torch.float64,
    method: str = "lanczos",
    seed: int = 0,
) -> float:
    """The true largest singular value of a Linear / Conv* / ConvTranspose* layer's linear map.

    Args:
        module: the layer; its *current* ``module.weight`` is used, so a spectrally normalized
            layer reports the operator norm of its normalized weight. The bias is ignored.
        input_shape: the shape of one input, batch excluded: ``(in_features,)`` for Linear,
            ``(C, H, W)`` for Conv2d, and so on. The norm of a convolution depends on it.
        n_iter: iteration limit (Lanczos restarts, or power steps).
        tol: relative tolerance on σ.
        dtype: computation dtype (float64 by default; ``None`` keeps the weight's dtype).
        method: ``"lanczos"`` (ARPACK on AᵀA, default) or ``"power"`` (plain power iteration).

    Returns:
        σ_max as a Python float. Verified against the SVD of the dense Jacobian and, for circular
        padding, against the FFT formula of Sedghi et al. 2019 (see tests/test_spectral.py).
    """
    _tell_operator_sn(module, input_shape)
    return operator_norm_of_weight(
        module, module.weight, input_shape, n_iter=n_iter, tol=tol, dtype=dtype, method=method, seed=seed
    )


def _tell_operator_sn(module: nn.Module, input_shape: Sequence[int]) -> None:
    """An operator-mode spectral norm that has not seen a forward yet learns its input shape here, as it
    would on its first forward (``module.weight`` needs it to be W/σ)."""
    plists = getattr(module, "parametrizations", None)
    for plist in (plists.values() if plists is not None else ()):
        for p in plist:
            if getattr(p, "mode", None) in ("operator", "certified") and not p.shape_known:
                p.set_input_shape(plist.original.detach(), input_shape)
