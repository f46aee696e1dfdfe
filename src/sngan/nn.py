"""Spectral normalization as a ``torch.nn.utils.parametrize`` parametrization.

``spectral_norm(layer)`` replaces ``layer.weight`` by ``W / σ`` where σ is, by ``mode``:

* ``"matrix"``   — σ of W reshaped to ``(out, -1)`` estimated by power iteration with a kept u
  (Miyato et al. 2018, Algorithm 1). Given the same u and v this is numerically the same as
  ``torch.nn.utils.parametrizations.spectral_norm``.
* ``"operator"`` — σ of the layer's actual linear map (stride, padding, dilation, groups) at the
  input shape seen on the first forward, by power iteration through the layer and its adjoint
  with a kept u. This is the σ that bounds the layer's Lipschitz constant.
* ``"exact"``    — σ of the reshaped matrix from a full SVD on every forward (a slow reference).
* ``"certified"`` — a guaranteed *upper* bound on the layer's operator norm at its input shape
  (the circular convolution containing the layer, block-diagonalised by the FFT: one small Gram
  matrix per frequency, :func:`sngan.certified.certified_sigma`), recomputed from the weight on every
  training forward. ``u`` keeps each frequency's top eigenvector between steps, as power iteration
  keeps its u: one power step gives a lower bound, and one Cholesky factorisation per frequency
  certifies every frequency below 1.001 times it, rounding included. The vectors only make the bound
  cheap and tight; it holds whatever they are (a frequency that fails gets its own Gram-iteration
  bound). The normalized layer's operator norm is <= 1 by construction at every step, however fast the
  weights move; it is below 1 by the bound's slack (zero padding: 0.1-4% on the SN-GAN critic at
  28x28, more on tiny feature maps; the rounding allowances: up to 0.5% more).

Which guarantees what: power iteration (``matrix``, ``operator``) gives a *lower* bound on σ, so a
normalized layer's norm is >= 1 whenever the estimate lags the weights (early training: the
operator norm drifts to 1.05-1.17 on the MNIST critic, benchmarks/bench_sn_drift.py) and equals 1
once it has converged; ``matrix`` σ is moreover not the convolution's operator norm. ``solver="lanczos"``
(Golub–Kahan–Lanczos steps instead of power iterations, one map and adjoint per step as well) keeps
the estimate much closer (at most 1.045 there with 4 steps, against 1.17) but is still a lower
bound. ``certified`` is the mode whose ``σ <= 1`` holds at every step.

The layer, the loss and the loop do not know the parametrization exists. u, v, σ and (operator
mode) the input shape are buffers: eval is deterministic and ``state_dict`` carries them.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize

from sngan.certified import certified_sigma, spectrum_shape
from sngan.choices import SN_MODES, SN_SOLVERS
from sngan.spectral import (
    CONV_TYPES,
    LINEAR_TYPES,
    default_dim,
    lanczos_,
    layer_adjoint,
    layer_map,
    layer_weight_vjp,
    power_iteration_,
    reshape_weight_to_matrix,
)

__all__ = ["SpectralNorm", "spectral_norm", "remove_spectral_norm", "spectral_sigma", "MODES", "SOLVERS"]

MODES = SN_MODES      # matrix | operator | exact | certified
SOLVERS = SN_SOLVERS  # how matrix and operator modes estimate σ from the kept vectors: power | lanczos
# modes that need the layer's input shape (a convolution's operator norm depends on it)
SHAPED_MODES = ("operator", "certified")
# Power iterations run when u is (re)initialised: at registration (as torch does) and, in
# operator mode, when the input shape becomes known or changes.
INIT_ITERATIONS = 15
RESHAPE_ITERATIONS = 50


class SpectralNorm(nn.Module):
    """Parametrization ``W -> W / σ(W)``. Construct it through :func:`spectral_norm`.

    Buffers: ``u`` (left singular vector estimate), ``v`` (right), ``sigma`` (the σ used by the
    latest forward, a scalar), and in operator and certified modes ``input_shape`` (int64, batch
    excluded; empty until the first forward). A certified convolution's ``u`` holds its frequencies'
    top eigenvectors instead (``[B, n, 2]``, :func:`sngan.certified.spectrum_shape`; ``v`` is empty).
    """

    def __init__(
        self,
        weight: Tensor,
        module: nn.Module,
        n_power_iterations: int = 1,
        eps: float = 1e-12,
        dim: int = 0,
        mode: str = "matrix",
        input_shape: Sequence[int] | None = None,
        solver: str = "power",
    ) -> None:
        super().__init__()
        self.n_power_iterations = n_power_iterations
        self.solver = solver
        self.eps = eps
        self.dim = dim
        self.mode = mode
        # The layer is needed in operator mode to know its stride, padding, ... Keep it out of
        # the module tree (no recursion in state_dict / deepcopy / .to()): store a plain view of
        # the hyper-parameters instead of the module itself.
        self._layer = _LayerSpec.from_module(module) if mode in SHAPED_MODES else None
        # certified convolutions keep their frequencies' top eigenvectors in u: the warm bound (certified.py)
        self._warm = mode == "certified" and not isinstance(module, nn.Linear)
        self._eval_key: tuple | None = None  # (certified, eval) the weight version self.sigma belongs to
        self._shape_cache: tuple = (None, -1, ())  # (input_shape buffer, its version, as a tuple): no .tolist()
        self.register_buffer("sigma", torch.ones((), dtype=weight.dtype, device=weight.device))
        if mode in SHAPED_MODES:
            self.register_buffer("input_shape", torch.zeros(0, dtype=torch.int64, device=weight.device))
            self.register_buffer("u", weight.new_zeros(0))
            self.register_buffer("v", weight.new_zeros(0))
            if input_shape is not None:
                self.set_input_shape(weight, input_shape)
        else:
            mat = reshape_weight_to_matrix(weight.detach(), dim)
            h, w = mat.shape
            self.register_buffer("u", F.normalize(weight.new_empty(h).normal_(0, 1), dim=0, eps=eps))
            self.register_buffer("v", F.normalize(weight.new_empty(w).normal_(0, 1), dim=0, eps=eps))
            if mode == "matrix":
                self._power_method(weight.detach(), INIT_ITERATIONS)
            with torch.no_grad():
                self.sigma.copy_(self._sigma(weight.detach()))

    # -- operator-mode plumbing --------------------------------------------------------------

    @property
    def shape_known(self) -> bool:
        return self.mode not in SHAPED_MODES or self.input_shape.numel() > 0

    def set_input_shape(self, weight: Tensor, input_shape: Sequence[int]) -> None:
        """(Operator mode) fix the input shape, re-initialise u and v for it and converge them.
        (Certified mode) fix the input shape the bound is computed for."""
        input_shape = tuple(int(s) for s in input_shape)
        if self.mode == "certified":
            self.input_shape = torch.tensor(input_shape, dtype=torch.int64, device=weight.device)
            self._eval_key = None
            if self._warm:  # the frequencies' top eigenvectors, found by the first bound (all zeros until then)
                self.u = weight.new_zeros(*spectrum_shape(self._layer, weight, input_shape), 2)
            with torch.no_grad():
                self.sigma.copy_(self._sigma(weight.detach()))
            return
        with torch.no_grad():
            v = torch.randn(input_shape, dtype=weight.dtype, device=weight.device)
            u = layer_map(self._layer, weight.detach(), v[None])[0]
        self.input_shape = torch.tensor(input_shape, dtype=torch.int64, device=weight.device)
        self.u = F.normalize(u.reshape(-1), dim=0, eps=self.eps)
        self.v = F.normalize(v.reshape(-1), dim=0, eps=self.eps)
        self._power_method(weight.detach(), RESHAPE_ITERATIONS)

    # -- the power method and σ ----------------------------------------------------------------

    def _in_shape(self) -> tuple[int, ...]:
        buf, version, shape = self._shape_cache
        if buf is not self.input_shape or version != buf._version:
            shape = tuple(int(s) for s in self.input_shape.tolist())
            self._shape_cache = (self.input_shape, self.input_shape._version, shape)
        return shape

    def _shapes(self, weight: Tensor) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(Operator mode) the layer's input and output shapes, batch excluded."""
        in_shape = self._in_shape()
        return in_shape, _output_shape(self._layer, weight, in_shape)

    def _rmatvec(self, weight: Tensor, y: Tensor) -> Tensor:
        """(Operator mode) the layer's adjoint applied to a flat output vector, flat."""
        in_shape, out_shape = self._shapes(weight)
        return layer_adjoint(self._layer, weight, y.reshape(1, *out_shape), in_shape).reshape(-1)

    @torch.no_grad()
    def _power_method(self, weight: Tensor, n_iter: int) -> Tensor | None:
        """n_iter power iterations (or Lanczos steps, by ``solver``) on u, v in place; returns the σ
        estimate uᵀWv of the new u, v (for a power iteration its last |Wᵀu|)."""
        iterate = lanczos_ if self.solver == "lanczos" and n_iter > 1 else power_iteration_
        if self.mode == "operator":
            in_shape = self._in_shape()

            def matvec(x):
                return layer_map(self._layer, weight, x.reshape(1, *in_shape)).reshape(-1)

            return iterate(matvec, lambda y: self._rmatvec(weight, y), self.u, self.v, n_iter, self.eps)
        mat = weight if weight.ndim == 2 and self.dim == 0 else reshape_weight_to_matrix(weight, self.dim)
        matt = mat.t()
        return iterate(lambda x: torch.mv(mat, x), lambda y: torch.mv(matt, y), self.u, self.v, n_iter, self.eps)

    def _sigma(self, weight: Tensor, estimate: Tensor | None = None) -> Tensor:
        """σ(W) with its gradient; ``estimate`` is the |Wᵀu| the power iteration just computed, if it ran."""
        if self.mode == "certified":
            in_shape = self._in_shape()
            vectors = self.u if self._warm else None
            return certified_sigma(self._layer, weight, in_shape, vectors=vectors).to(weight.dtype)
        if self.mode == "exact":
            return torch.linalg.matrix_norm(reshape_weight_to_matrix(weight, self.dim), ord=2)
        # NB: u and v were updated in place; clone them before they enter the graph so that
        # backward through two forwards (D(real) - D(fake)) does not see them modified.
        u = self.u.clone(memory_format=torch.contiguous_format)
        if self.mode == "operator":
            # σ = uᵀA(W)v with v = Aᵀu/|Aᵀu|, i.e. |Aᵀu|: after a power step that is its last norm, so no
            # extra pass of the layer is needed, only σ's gradient u ⊗ v (through the layer's geometry)
            # in the backward. In eval (no power step) it is half a step, v not kept: the same value as
            # the last training forward while the weight is unchanged, a better estimate after it moved.
            if estimate is None:
                with torch.no_grad():
                    w = self._rmatvec(weight.detach(), u)
                    estimate = torch.linalg.vector_norm(w)
                    v = w / estimate.clamp_min(self.eps)
            else:
                v = self.v.clone(memory_format=torch.contiguous_format)
            return _OperatorSigma.apply(weight, estimate, u, v, self._layer, self._shapes(weight))
        v = self.v.clone(memory_format=torch.contiguous_format)
        return torch.vdot(u, torch.mv(reshape_weight_to_matrix(weight, self.dim), v))

    def forward(self, weight: Tensor) -> Tensor:
        if not self.shape_known:
            raise RuntimeError(
                f"{self.mode}-mode spectral norm does not know the layer's input shape yet: run one "
                "forward pass first, or pass input_shape= to spectral_norm()"
            )
        # σ and the power iteration stay in fp32 even under bf16 autocast (only the layer's own
        # matmul / conv runs in low precision).
        with torch.autocast(device_type=weight.device.type, enabled=False):
            needs_graph = torch.is_grad_enabled() and weight.requires_grad
            if self.mode == "certified" and not self.training and not needs_graph:
                # eval forwards (the generator's step, sampling) of an unchanged weight reuse the bound
                key = (weight.data_ptr(), weight._version)
                if key != self._eval_key:
                    self.sigma.copy_(self._sigma(weight))
                    self._eval_key = key
                return weight / self.sigma
            estimate = None
            if self.training and self.mode in ("matrix", "operator"):
                estimate = self._power_method(weight.detach(), self.n_power_iterations)
            sigma = self._sigma(weight, estimate)
        with torch.no_grad():
            self.sigma.copy_(sigma.detach())
        self._eval_key = None
        return weight / sigma

    def right_inverse(self, value: Tensor) -> Tensor:
        # Assigning to the parametrized weight stores the value as is (same as torch): we cannot
        # invert W / σ(W) since σ is scale-invariant.
        return value

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Operator-mode buffers change size with the input shape: resize before copying.
        self._eval_key = None
        if self.mode in SHAPED_MODES:
            for name in ("u", "v", "input_shape"):
                key = prefix + name
                if key in state_dict and state_dict[key].shape != getattr(self, name).shape:
                    setattr(self, name, torch.empty_like(state_dict[key], device=getattr(self, name).device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        shape = "" if self.mode not in SHAPED_MODES else f", input_shape={tuple(self.input_shape.tolist())}"
        solver = f", solver={self.solver!r}" if self.solver != "power" else ""
        return f"mode={self.mode!r}, n_power_iterations={self.n_power_iterations}{solver}, dim={self.dim}{shape}"


class _OperatorSigma(torch.autograd.Function):
    """σ(W) = uᵀA(W)v for fixed u, v (as in Miyato et al.: the vectors are constants), given its value."""

    @staticmethod
    def forward(ctx, weight: Tensor, value: Tensor, u: Tensor, v: Tensor, layer, shapes):
        ctx.save_for_backward(weight, u, v)
        ctx.layer, ctx.shapes = layer, shapes
        return value.detach().clone()

    @staticmethod
    def backward(ctx, grad: Tensor):
        weight, u, v = ctx.saved_tensors
        in_shape, out_shape = ctx.shapes
        dsigma = layer_weight_vjp(ctx.layer, weight, v.reshape(1, *in_shape), u.reshape(1, *out_shape))
        return grad * dsigma, None, None, None, None, None


def _output_shape(layer, weight: Tensor, in_shape: tuple[int, ...]) -> tuple[int, ...]:
    key = (in_shape, tuple(weight.shape))
    cache = layer.out_shapes
    if key not in cache:
        with torch.no_grad():
            x = torch.zeros((1, *in_shape), dtype=weight.dtype, device=weight.device)
            cache[key] = tuple(layer_map(layer, weight, x).shape[1:])
    return cache[key]


class _LayerSpec:
    """The hyper-parameters of a Linear / Conv / ConvTranspose layer, duck-typed for layer_map."""

    def __init__(self, module: nn.Module) -> None:
        self.layer_type = type(module)
        for attr in ("stride", "padding", "dilation", "groups", "output_padding", "padding_mode",
                     "_reversed_padding_repeated_twice"):
            if hasattr(module, attr):
                setattr(self, attr, getattr(module, attr))
        self.out_shapes: dict = {}

    @classmethod
    def from_module(cls, module: nn.Module) -> _LayerSpec:
        return cls(module)

    def __deepcopy__(self, memo):
        new = object.__new__(_LayerSpec)
        new.__dict__.update(self.__dict__)
        new.out_shapes = dict(self.out_shapes)
        return new


def _input_shape_hook(module: nn.Module, args) -> None:
    """Forward pre-hook (operator mode): record the input shape on first forward, follow changes."""
    if not args or not torch.is_tensor(args[0]):
        return
    x = args[0]
    for name, plist in module.parametrizations.items():
        for p in plist:
            if isinstance(p, SpectralNorm) and p.mode in SHAPED_MODES:
                shape = tuple(x.shape[1:])
                known = p._in_shape()
                if known == shape:
                    continue
                if known and p.mode == "operator":
                    warnings.warn(
                        f"operator-mode spectral norm of {type(module).__name__}.{name}: input shape "
                        f"changed from {known} to {shape}; σ is re-estimated for the new shape "
                        f"({RESHAPE_ITERATIONS} power iterations from a fresh u)",
                        stacklevel=3,
                    )
                p.set_input_shape(plist.original.detach(), shape)


def spectral_norm(
    module: nn.Module,
    name: str = "weight",
    n_power_iterations: int = 1,
    eps: float = 1e-12,
    dim: int | None = None,
    *,
    mode: str = "matrix",
    input_shape: Sequence[int] | None = None,
    solver: str = "power",
) -> nn.Module:
    """Spectrally normalize ``module.<name>`` in place and return ``module``.

    Args:
        module: the layer (any module for ``matrix``/``exact``; Linear, Conv1d/2d/3d or
            ConvTranspose1d/2d/3d for ``operator``; Linear or Conv1d/2d/3d with zeros or circular
            padding for ``certified``).
        name: the parameter to normalize.
        n_power_iterations: power iterations per training forward (Miyato et al. use 1).
        eps: added to norms in the power iteration (numerical safety).
        dim: the output dimension of the weight; ``None`` = 1 for ConvTranspose*, else 0.
        mode: ``"matrix"`` | ``"operator"`` | ``"exact"`` | ``"certified"`` (see the module docstring;
            ``n_power_iterations`` does not apply to ``certified``, which has no iteration state).
        input_shape: (operator and certified modes) the shape of one input, batch excluded; ``None`` = take it
            from the first forward. A later forward with another shape warns and re-estimates σ
            for the new shape (50 power iterations from a fresh u), so σ always belongs to the
            input the layer is seeing.
        solver: (matrix and operator modes) ``"power"``: ``n_power_iterations`` power iterations per
            training forward, as Miyato et al.; ``"lanczos"``: that many Golub–Kahan–Lanczos steps from
            the kept v instead (:func:`sngan.spectral.lanczos_`; 1 step is a power iteration, each step
            one map and one adjoint as well), whose estimate is the best in the Krylov space: it follows
            weights that move fast much more closely (the operator norm of the MNIST critic's normalized
            layers reached 1.045 in 40 steps with 4 Lanczos steps where one power iteration lets it reach
            1.17, benchmarks/bench_sn_drift.py). The initial and re-shape iterations use it too.

    Padding in operator mode: zeros, circular, reflect and replicate are all exact — the adjoint of
    a non-zero padding is taken as the exact vector-Jacobian product of the padded convolution.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if not isinstance(n_power_iterations, int) or isinstance(n_power_iterations, bool) or n_power_iterations < 1:
        raise ValueError(f"n_power_iterations must be an integer >= 1, got {n_power_iterations!r}")
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a finite number > 0, got {eps!r}")
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"module {type(module).__name__} has no parameter or buffer named {name!r}")
    if parametrize.is_parametrized(module, name) and any(
        isinstance(p, SpectralNorm) for p in module.parametrizations[name]
    ):
        raise ValueError(f"spectral_norm is already registered on {type(module).__name__}.{name}")
    if weight.ndim < 2:
        raise ValueError(f"{type(module).__name__}.{name} has shape {tuple(weight.shape)}: need >= 2 dims")
    if dim is None:
        dim = default_dim(module)
    if not -weight.ndim <= dim < weight.ndim:
        raise ValueError(f"dim={dim} out of range for a weight of {weight.ndim} dimensions")
    dim = dim % weight.ndim
    if mode == "operator":
        if not isinstance(module, LINEAR_TYPES):
            raise ValueError(
                f"mode='operator' supports Linear, Conv1d/2d/3d and ConvTranspose1d/2d/3d, "
                f"not {type(module).__name__}"
            )
    if mode == "certified":
        if not isinstance(module, (nn.Linear, *CONV_TYPES)):
            raise ValueError(f"mode='certified' supports Linear and Conv1d/2d/3d, not {type(module).__name__}")
        if isinstance(module, CONV_TYPES) and module.padding_mode not in ("zeros", "circular"):
            raise ValueError(f"mode='certified' needs zeros or circular padding, not {module.padding_mode!r}")
    if mode in SHAPED_MODES and name != "weight":
        raise ValueError(f"mode={mode!r} normalizes the layer's 'weight', not {name!r}")
    if isinstance(module, nn.Linear) and mode == "operator":
        mode = "matrix"  # for a dense layer the operator norm *is* the matrix norm: the cheaper path
    if isinstance(module, nn.Linear) and mode == "certified":
        input_shape = (module.in_features,)  # a dense layer's input shape is its width
    sn = SpectralNorm(weight.detach(), module, n_power_iterations, eps, dim, mode, input_shape, solver)
    parametrize.register_parametrization(module, name, sn, unsafe=True)
    if mode in SHAPED_MODES:
        module.register_forward_pre_hook(_input_shape_hook)
    return module


def _find(module: nn.Module, name: str) -> SpectralNorm:
    if parametrize.is_parametrized(module, name):
        for p in module.parametrizations[name]:
            if isinstance(p, SpectralNorm):
                return p
    raise ValueError(f"spectral_norm is not registered on {type(module).__name__}.{name}")


def spectral_sigma(module: nn.Module, name: str = "weight") -> Tensor:
    """The σ that the latest forward of ``module.<name>`` divided by (a detached scalar tensor)."""
    return _find(module, name).sigma.detach().clone()


def remove_spectral_norm(module: nn.Module, name: str = "weight") -> nn.Module:
    """Bake ``W / σ`` into a plain parameter ``module.<name>`` and remove the parametrization."""
    sn = _find(module, name)
    if sn.mode in SHAPED_MODES:
        for key, hook in list(module._forward_pre_hooks.items()):
            if hook is _input_shape_hook:
                del module._forward_pre_hooks[key]
    training = sn.training
    sn.eval()  # bake the current σ without another power step
    try:
        parametrize.remove_parametrizations(module, name, leave_parametrized=True)
    finally:
        sn.train(training)
    return module
