"""Lipschitz constant of a network (ℓ2 in, ℓ2 out): a certified upper and an empirical lower bound.

``lower_bound(model, x) <= Lip(model) <= upper_bound(model, input_shape)``.

The upper bound is the composition bound ‖f‖_Lip <= ∏ ‖W_l‖₂ · ∏ Lip(φ_l) (e.g. Miyato et al.
2018, Eq. 7), with each ‖W_l‖₂ the *operator* norm of the layer at the shape it sees, not the σ of
its reshaped kernel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from sngan.spectral import LINEAR_TYPES, default_dim, matrix_sigma, operator_norm

__all__ = ["upper_bound", "layer_bounds", "lower_bound", "gradient_norms", "layer_input_shapes", "layer_sigmas",
           "LayerSigma"]

def _activation_constant(module: nn.Module) -> float | None:
    if isinstance(module, (nn.ReLU, nn.ReLU6, nn.Tanh, nn.Hardtanh, nn.Softplus, nn.Softsign)):
        return 1.0
    if isinstance(module, (nn.Flatten, nn.Unflatten, nn.Identity)):
        return 1.0
    if isinstance(module, nn.LeakyReLU):
        return max(1.0, abs(module.negative_slope))
    if isinstance(module, nn.ELU):
        return max(1.0, module.alpha)
    if isinstance(module, nn.Sigmoid):
        return 0.25
    if isinstance(module, nn.Dropout) or isinstance(module, nn.Dropout2d):
        # Dropout is the identity in eval mode; in training it rescales by 1/(1-p).
        return 1.0 if not module.training else 1.0 / (1.0 - module.p)
    return None


def _pool_constant(module: nn.Module, input_shape) -> float | None:
    """Max pooling: sqrt(max number of windows that share one input) (1 if they don't overlap)."""
    if isinstance(module, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)):
        nd = len(input_shape) - 1
        k = _tuple(module.kernel_size, nd)
        s = _tuple(module.stride or module.kernel_size, nd)
        d = _tuple(module.dilation, nd)
        overlap = 1
        for ki, si, di in zip(k, s, d):
            span = di * (ki - 1) + 1
            overlap *= min(ki, -(-span // si)) if si < span else 1
        return float(overlap) ** 0.5
    return None


def _tuple(value, n: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * n


def _linear_module_norm(module: nn.Module, input_shape) -> float:
    """Exact σ of a linear, parameter-free module (average pooling, ...) via its Jacobian."""
    import numpy as np
    from scipy.sparse.linalg import LinearOperator, eigsh

    n = int(np.prod(input_shape))

    def gram(a):
        x = torch.as_tensor(a.reshape(1, *input_shape), dtype=torch.float64).requires_grad_(True)
        y = module(x)
        (g,) = torch.autograd.grad(y, x, grad_outputs=y.detach())
        return g.reshape(-1).numpy()

    lam = eigsh(LinearOperator((n, n), matvec=gram, dtype=np.float64), k=1, which="LA",
                v0=np.ones(n), return_eigenvectors=False)
    return float(np.sqrt(max(lam[0], 0.0)))


def layer_bounds(model: nn.Module, input_shape: Sequence[int]) -> list[tuple[str, str, float]]:
    """The per-layer factors of :func:`upper_bound`: ``[(name, type, constant), ...]``.

    ``model`` must be an ``nn.Sequential`` (nested Sequentials allowed) of layers whose Lipschitz
    constant is known. Raises ``ValueError`` for a layer it cannot bound soundly (BatchNorm in
    training mode, residual blocks, attention, unknown modules) instead of guessing.
    """
    input_shape = tuple(int(s) for s in input_shape)
    factors: list[tuple[str, str, float]] = []
    shape = input_shape
    first = next(model.parameters(), None)
    dtype = first.dtype if first is not None else torch.float32
    device = first.device if first is not None else torch.device("cpu")

    def visit(module: nn.Module, prefix: str, shape):
        if isinstance(module, nn.Sequential):
            for name, child in module.named_children():
                shape = visit(child, f"{prefix}.{name}" if prefix else name, shape)
            return shape
        kind = type(module).__name__
        if isinstance(module, LINEAR_TYPES):
            factor = operator_norm(module, shape)
        elif (c := _activation_constant(module)) is not None:
            factor = c
        elif (c := _pool_constant(module, shape)) is not None:
            factor = c
        elif isinstance(module, (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.AdaptiveAvgPool1d,
                                 nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.Upsample)) and (
            not isinstance(module, nn.Upsample) or module.mode == "nearest"
        ):
            factor = _linear_module_norm(module.double(), shape)
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            if module.training:
                raise ValueError(
                    f"cannot bound {prefix} ({kind}) in training mode: its output depends on the "
                    "whole batch; call model.eval() or use a critic without BatchNorm"
                )
            scale = torch.ones_like(module.running_var) if module.weight is None else module.weight
            factor = float((scale.detach().abs() / torch.sqrt(module.running_var + module.eps)).max())
        else:
            raise ValueError(
                f"cannot bound layer {prefix!r} ({kind}): no sound Lipschitz constant is known for it "
                "(supported: Linear/Conv*/ConvTranspose*, ReLU/LeakyReLU/Tanh/Sigmoid/ELU, pooling, "
                "Flatten, Identity, Dropout, BatchNorm in eval mode, nested nn.Sequential)"
            )
        factors.append((prefix, kind, float(factor)))
        with torch.no_grad():
            out = module(torch.zeros((1, *shape), dtype=dtype, device=device))
        return tuple(out.shape[1:])

    if not isinstance(model, nn.Sequential):
        raise ValueError(
            f"upper_bound needs an nn.Sequential (nested allowed), got {type(model).__name__}: "
            "residual and branching models are not bounded by a layer product"
        )
    visit(model, "", shape)
    return factors


def upper_bound(model: nn.Module, input_shape: Sequence[int]) -> float:
    """Certified upper bound of ‖model‖_Lip (ℓ2 → ℓ2): the product of exact layer constants.

    Args:
        model: an ``nn.Sequential`` (nested allowed); see :func:`layer_bounds`.
        input_shape: the shape of one input, batch excluded, e.g. ``(1, 28, 28)``.
    """
    bound = 1.0
    for _, _, factor in layer_bounds(model, input_shape):
        bound *= factor
    return bound


def gradient_norms(model: nn.Module, x: Tensor) -> Tensor:
    """Per-sample ‖∇ₓ f(x)‖₂ of a scalar-output model, shape [N] (no graph kept)."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        out = model(x).reshape(x.shape[0], -1)
        if out.shape[1] != 1:
            raise ValueError(f"lower_bound needs a scalar-output model, got output shape {tuple(out.shape)}")
        (grad,) = torch.autograd.grad(out.sum(), x)
    return grad.flatten(1).norm(dim=1)


def lower_bound(
    model: nn.Module,
    x: Tensor,
    steps: int = 0,
    step_size: float = 0.01,
) -> float:
    """Empirical lower bound of ‖model‖_Lip: max over samples of ‖∇ₓ f(x)‖₂, then optionally
    ``steps`` of gradient ascent on pairs (x, y) of the ratio |f(x) - f(y)| / ‖x - y‖.

    Both quantities are at most the Lipschitz constant, so the result is a true lower bound. The
    pair ratio is used for the ascent because for piecewise-linear (ReLU) networks the gradient
    norm is piecewise constant and gradient ascent on it does not move.

    Args:
        model: scalar-output network, input ``x`` of shape [N, ...].
        x: starting points [N, ...].
        steps: ascent steps (0 = gradient norms only).
        step_size: Adam learning rate of the ascent, relative to the data scale.
    """
    was_training = model.training
    model.eval()
    try:
        norms = gradient_norms(model, x)
        best = float(norms.max())
        if steps > 0:
            with torch.no_grad():
                scale = float(x.detach().flatten(1).norm(dim=1).mean()) or 1.0
                direction = torch.randn_like(x)
                direction = direction / direction.flatten(1).norm(dim=1).view(-1, *[1] * (x.ndim - 1))
            a = x.detach().clone().requires_grad_(True)
            b = (x.detach() + 0.05 * scale * direction).requires_grad_(True)
            # fused on a GPU: its step counter lives there (the plain Adam keeps a CPU scalar and syncs)
            opt = torch.optim.Adam([a, b], lr=step_size * scale, fused=True if x.device.type == "cuda" else None)
            for _ in range(steps):
                with torch.enable_grad():
                    diff = (a - b).flatten(1).norm(dim=1).clamp_min(1e-12)
                    ratio = (model(a).reshape(-1) - model(b).reshape(-1)).abs() / diff
                    opt.zero_grad(set_to_none=True)
                    (-ratio.sum()).backward()
                opt.step()
                best = max(best, float(ratio.detach().max()))
            with torch.no_grad():
                diff = (a - b).flatten(1).norm(dim=1).clamp_min(1e-12)
                ratio = (model(a).reshape(-1) - model(b).reshape(-1)).abs() / diff
                best = max(best, float(ratio.max()), float(gradient_norms(model, a).max()))
    finally:
        model.train(was_training)
    return best


def layer_input_shapes(model: nn.Module, input_shape: Sequence[int]) -> dict[str, tuple[int, ...]]:
    """Input shape (batch excluded) of every Linear / Conv* layer of ``model``, by module name."""
    shapes: dict[str, tuple[int, ...]] = {}

    def record(name):
        def hook(module, args):
            shapes.setdefault(name, tuple(args[0].shape[1:]))
        return hook

    hooks = [m.register_forward_pre_hook(record(n)) for n, m in model.named_modules() if isinstance(m, LINEAR_TYPES)]
    first = next(model.parameters(), None)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros((1, *input_shape), dtype=first.dtype if first is not None else torch.float32,
                              device=first.device if first is not None else None))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return shapes


@dataclass(frozen=True)
class LayerSigma:
    name: str
    kind: str
    input_shape: tuple[int, ...]
    matrix_sigma: float     # σ of the reshaped kernel (exact SVD)
    operator_sigma: float   # σ of the layer's linear map at its input shape


def layer_sigmas(model: nn.Module, input_shape: Sequence[int],
                 shapes: dict[str, tuple[int, ...]] | None = None) -> list[LayerSigma]:
    """Reshaped-kernel σ and true operator σ of every Linear / Conv* layer's *current* weight
    (for a spectrally normalized layer: the normalized weight the network uses)."""
    shapes = shapes or layer_input_shapes(model, input_shape)
    rows = []
    for name, m in model.named_modules():
        if isinstance(m, LINEAR_TYPES) and name in shapes:
            w = m.weight.detach()
            rows.append(LayerSigma(
                name, type(m).__name__.removeprefix("Parametrized"), shapes[name],
                float(matrix_sigma(w.double(), default_dim(m))), operator_norm(m, shapes[name]),
            ))
    return rows
