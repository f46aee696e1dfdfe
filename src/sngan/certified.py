"""A guaranteed upper bound on a convolution's operator norm (``mode="certified"`` spectral norm).

The layer is embedded in the circular convolution that contains it (zero padding is a restriction of
a circular map on a larger grid, so its norm can only be smaller); the FFT block-diagonalises the
circular map into one small matrix per frequency (Sedghi et al. 2019, "The Singular Values of
Convolutional Layers"), whose Gram matrices come from the kernel taps' autocorrelation. Each Gram's
largest eigenvalue is bounded from above in one of two ways:

* Gram iteration (Delattre et al. 2023, "Efficient Bound of Lipschitz Constant for Convolutional Layers
  by Gram Iteration"): stateless and tightest; what :func:`certified_sigma` does without ``vectors``.
* A Cholesky certificate (the training path): from each frequency's top eigenvector kept between steps,
  one power step gives a lower bound ``L``, and a Cholesky factorisation of ``β I − G`` with
  ``β = (1 + 1e-3) L`` proves every Gram's eigenvalues below ``β`` (Rump's verified positive definiteness,
  with rigorous allowances for rounding). One factorisation per frequency costs less than one squaring
  of the Gram iteration, which needs four to six.

Power iteration (``sngan.spectral``) gives lower bounds; this module gives the upper one.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sngan.spectral import CONV_TYPES, _check_layer, _layer_type

__all__ = ["circular_conv2d_singular_values", "frequency_matrices", "gram_bound", "certified_sigma", "spectrum_shape",
           "CERTIFIED_MARGIN", "GRAM_ITERATIONS"]


def circular_conv2d_singular_values(weight: Tensor, n: int) -> Tensor:
    """All singular values of a stride-1 2-D convolution with circular padding on n x n inputs.

    Sedghi, Gupta and Long 2019, Theorem 6: the singular values are the union, over the n² 2-D
    frequencies, of the singular values of the (out x in) matrices of the kernel's 2-D DFT.
    """
    c_out, c_in, kh, kw = weight.shape
    if kh > n or kw > n:
        raise ValueError(f"kernel {kh}x{kw} larger than the input {n}x{n}")
    transform = torch.fft.fft2(weight.to(torch.float64), s=(n, n))  # (out, in, n, n)
    mats = transform.permute(2, 3, 0, 1).reshape(n * n, c_out, c_in)
    return torch.linalg.svdvals(mats).reshape(-1)


# ---------------------------------------------------------------------------------------------
# A certified upper bound: circular embedding + FFT + Gram iteration.
# ---------------------------------------------------------------------------------------------


def _conv_padding(module, kernel: Sequence[int]) -> list[int]:
    """Total padding (both sides) per spatial dimension of a zero-padded convolution."""
    if isinstance(module.padding, str):
        if module.padding == "valid":
            return [0] * len(kernel)
        return [k - 1 for k in kernel]  # "same" (stride 1): total d(k-1), split as torch does
    return [2 * p for p in module.padding]


def _polyphase(module: nn.Module, weight: Tensor, input_shape: Sequence[int]) -> tuple[Tensor, list[int]]:
    """The stride-1 circular kernel ``[out, in * s^d, *taps]`` and the grid ``N/s`` of the circular
    convolution that contains the layer (see :func:`frequency_matrices`); differentiable."""
    kind = _layer_type(module)
    if not issubclass(kind, CONV_TYPES):
        raise ValueError("a certified bound is implemented for Linear and Conv1d/2d/3d layers, "
                         f"not {kind.__name__}")
    if module.padding_mode not in ("zeros", "circular"):
        raise ValueError(f"a certified bound needs zeros or circular padding, not {module.padding_mode!r}")
    nd = weight.ndim - 2
    spatial = [int(n) for n in input_shape[1:]]
    stride, dilation = list(module.stride), list(module.dilation)
    if any(d > 1 for d in dilation):  # a dilated kernel is a kernel with zeros between its taps
        size = [d * (k - 1) + 1 for d, k in zip(dilation, weight.shape[2:])]
        dilated = weight.new_zeros((*weight.shape[:2], *size))
        dilated[(..., *[slice(None, None, d) for d in dilation])] = weight
        weight = dilated
    kernel = list(weight.shape[2:])
    if module.padding_mode == "circular":
        if any(n % s for n, s in zip(spatial, stride)):
            raise ValueError(f"a certified bound for circular padding needs the stride {tuple(stride)} to divide "
                             f"the input size {tuple(spatial)}")
        grid = spatial
    else:
        pads = _conv_padding(module, kernel)
        grid = [-(-(n + p) // s) * s for n, p, s in zip(spatial, pads, stride)]
    # polyphase: kernel tap a = s * a' + r  ->  input channel (c, r), tap a'
    taps = [-(-k // s) for k, s in zip(kernel, stride)]
    padded = F.pad(weight, [x for i in reversed(range(nd)) for x in (0, taps[i] * stride[i] - kernel[i])])
    out, cin = padded.shape[:2]
    shape = [out, cin]
    for t, s in zip(taps, stride):
        shape += [t, s]
    perm = [0, 1] + [3 + 2 * i for i in range(nd)] + [2 + 2 * i for i in range(nd)]
    poly = padded.reshape(shape).permute(perm).reshape(out, cin * math.prod(stride), *taps)
    sizes = [g // s for g, s in zip(grid, stride)]
    # a kernel longer than the grid wraps around (an FFT of size m would truncate it): fold it first
    for i, (t, m) in enumerate(zip(taps, sizes)):
        if t > m:
            poly = F.pad(poly.movedim(2 + i, -1), (0, -t % m)).unflatten(-1, (-1, m)).sum(-2).movedim(-1, 2 + i)
    return poly, sizes


def _wrap_factor(module: nn.Module, kernel: Sequence[int], input_shape: Sequence[int]) -> float:
    """How much a circular-padded layer's output repeats itself: sqrt of the largest number of output
    positions that hold the same value (1 unless the padding is wider than "same").

    With circular padding the output samples the circular convolution (stride ``s``, period ``n/s``) over
    ``L = (n + 2p - span) // s + 1`` positions per dimension; where ``L`` exceeds the period, positions ``n/s``
    apart repeat, ``ceil(L / (n/s))`` times at most, which multiplies the norm by at most the square root
    of their product."""
    if module.padding_mode != "circular" or isinstance(module.padding, str):
        return 1.0
    count = 1
    for n, p, k, d, s in zip(input_shape[1:], module.padding, kernel, module.dilation, module.stride):
        count *= -(-((n + 2 * p - d * (k - 1) - 1) // s + 1) // (n // s))
    return math.sqrt(count)


def _spectrum(poly: Tensor, sizes: list[int], half: bool) -> Tensor:
    """``[B, out, in']`` frequency matrices of a polyphase kernel; ``half``: only one of each conjugate
    pair (a real kernel's matrices at f and -f are conjugate: same singular values)."""
    dims = list(range(2, poly.ndim))
    spectrum = (torch.fft.rfftn if half else torch.fft.fftn)(poly, s=sizes, dim=dims)
    return spectrum.flatten(2).permute(2, 0, 1)


def _group_blocks(mats: Tensor, groups: int) -> Tensor:
    """A grouped convolution's frequency matrix is block-diagonal: group g's rows of the ``[out, in/g * s^d]``
    matrix act on group g's inputs alone. The blocks join the batch (group-major)."""
    if groups == 1:
        return mats
    f, o, c = mats.shape
    return mats.reshape(f, groups, o // groups, c).transpose(0, 1).reshape(groups * f, o // groups, c)


def frequency_matrices(module: nn.Module, weight: Tensor, input_shape: Sequence[int], half: bool = False) -> Tensor:
    """Complex matrices whose largest singular value bounds the layer's operator norm from above.

    A zero-padded convolution on an ``n``-sized input is a crop of a circular convolution on
    ``N >= n + padding`` (the padded input, rounded up to a multiple of the stride) applied to a
    zero-extended input: an isometry, the circular map, then a coordinate projection, so
    ``‖conv‖ <= ‖circular conv‖``. A circular convolution with stride ``s`` is a stride-1 circular
    convolution of the input's ``s^d`` polyphase components on an ``N/s`` grid, and the FFT
    block-diagonalises that into one ``(out, in * s^d)`` matrix per frequency (Sedghi et al. 2019,
    Theorem 6, with the polyphase decomposition for strides). The largest singular value over those
    matrices is the circular map's norm exactly. Circular padding with a stride that divides the
    input is exact (a padding wider than "same" repeats outputs: :func:`_wrap_factor`); zero padding is
    an upper bound (1.00-1.04x the true norm on the SN-GAN critic, largest on small feature maps). A Linear
    layer is its own single matrix; groups give block-diagonal maps, so each group's matrices join the batch.

    Returns ``[B, rows, cols]`` (complex for convolutions); differentiable in ``weight``. ``half``: only one
    frequency of each conjugate pair (the same singular values), as :func:`certified_sigma` uses them.
    """
    _check_layer(module)
    if issubclass(_layer_type(module), nn.Linear):
        return weight[None]
    poly, sizes = _polyphase(module, weight, input_shape)
    return _group_blocks(_spectrum(poly, sizes, half), module.groups)


def gram_bound(mats: Tensor, n_iter: int = 6, dtype: torch.dtype = torch.float64) -> Tensor:
    """Upper bounds on the largest singular value of each matrix of ``mats`` ``[B, m, n]``, by Gram iteration.

    Delattre, Barthélemy, Araujo and Allauzen 2023 ("Efficient Bound of Lipschitz Constant for
    Convolutional Layers by Gram Iteration"): with ``G_0 = MᴴM`` (the smaller side) and
    ``G_{t+1} = G_t²``, ``σ_max(M)^(2^(t+1)) <= ‖G_t‖_F``, and the ratio of bound to σ falls
    doubly exponentially (at most ``rank^(1/2^(t+2))``). Each step is rescaled by its Frobenius norm
    (kept as a logarithm) so nothing overflows. ``dtype``: the real precision of the iteration.
    Differentiable.

    A complex ``M = P + iQ`` is iterated as the pair of real matrices of its Hermitian Gram
    ``G = A + iB`` (A symmetric, B antisymmetric): ``A = [P Q]ᵀ[P Q]``'s diagonal blocks summed,
    ``B`` = its off-diagonal block minus its transpose, and ``G² = (AᵀA + BᵀB) + i(AB − (AB)ᵀ)``,
    ``‖G‖_F² = ‖A‖_F² + ‖B‖_F²``. Two real matmuls a step, 3n³ multiply-adds against 8n³ for the
    equivalent real matrix ``[[P, −Q], [Q, P]]`` and fewer than complex matmuls take on the CPU.
    """
    if mats.is_complex():
        return _hermitian_gram_bound(mats, n_iter, dtype)
    m = mats.to(dtype)
    g = m.mT @ m if m.shape[-1] <= m.shape[-2] else m @ m.mT
    log_scale = torch.zeros(g.shape[0], dtype=dtype, device=g.device)
    for _ in range(n_iter):
        norm = torch.linalg.matrix_norm(g).clamp_min(torch.finfo(dtype).tiny)
        log_scale = 2 * (log_scale + norm.log())
        g = g / norm[:, None, None]
        g = g @ g
    log_norm = torch.linalg.matrix_norm(g).clamp_min(torch.finfo(dtype).tiny).log()
    return ((log_scale + log_norm) / 2 ** (n_iter + 1)).exp()


def _hermitian_gram_bound(mats: Tensor, n_iter: int, dtype: torch.dtype) -> Tensor:
    """:func:`gram_bound` of complex matrices, on the real and imaginary parts of their Gram."""
    if mats.shape[-1] > mats.shape[-2]:
        mats = mats.mT  # same singular values; the Gram of the smaller side
    n = mats.shape[-1]
    pq = torch.cat([mats.real, mats.imag], -1).to(dtype)  # [B, m, 2n], contiguous
    s = pq.mT @ pq                                        # [[PᵀP, PᵀQ], [QᵀP, QᵀQ]]
    return _iterate_hermitian(s[:, :n, :n] + s[:, n:, n:], s[:, :n, n:] - s[:, n:, :n], n_iter)


def _iterate_hermitian(a: Tensor, b: Tensor, n_iter: int, prune: bool = False) -> Tensor:
    """Gram iteration on Hermitian matrices ``A + iB`` (``[B, n, n]`` each): upper bounds on the square
    root of each one's largest eigenvalue (the largest singular value of the matrix they are the Gram of).

    ``prune``: only the largest bound needs to be tight. ``‖G‖_F² / tr G`` is a lower bound on G's largest
    eigenvalue; a matrix whose upper bound falls below the largest lower bound (less a 1e-5 rounding
    allowance, which :data:`CERTIFIED_MARGIN` covers) cannot hold the maximum, so it stops iterating and
    keeps its last bound: still an upper bound on its own σ, only a looser one.
    """
    n = a.shape[-1]
    tiny = torch.finfo(a.dtype).tiny
    ab = torch.cat([a, b], -2)  # [A; B]: ‖G‖_F = ‖[A; B]‖_F, and Re G² = [A; B]ᵀ[A; B] (A symmetric)
    bounds = a.new_empty(a.shape[0])
    active = torch.arange(a.shape[0], device=a.device)
    log_scale = a.new_zeros(a.shape[0])
    for t in range(n_iter + 1):  # the bound σ^(2^(t+1)) <= ‖G_t‖_F after t squarings; the last one is returned
        norm = torch.linalg.vector_norm(ab, dim=(-2, -1)).clamp_min(tiny)
        if prune or t == n_iter:
            upper = ((log_scale + norm.log()) / 2 ** (t + 1)).exp()
        if t == n_iter:
            break
        if prune:
            trace = torch.diagonal(ab[:, :n], dim1=-2, dim2=-1).sum(-1).clamp_min(tiny)
            lower = ((log_scale + 2 * norm.log() - trace.log()) / 2 ** (t + 1)).exp()
            bounds[active] = upper
            keep = upper >= lower.max() * (1 - 1e-5)
            if not bool(keep.all()):
                (keep,) = keep.nonzero(as_tuple=True)
                active, ab, norm, log_scale = active[keep], ab[keep], norm[keep], log_scale[keep]
        log_scale = 2 * (log_scale + norm.log())
        ab = ab / norm[:, None, None]
        imag = ab[:, :n] @ ab[:, n:]                       # AB; Im G² = AB + BA = AB - (AB)ᵀ
        ab = torch.cat([ab.mT @ ab, imag - imag.mT], -2)
    if not prune:
        return upper
    bounds[active] = upper
    return bounds


@functools.lru_cache(maxsize=64)
def _lag_dft(taps: tuple[int, ...], sizes: tuple[int, ...], device: torch.device,
             dtype: torch.dtype) -> tuple[Tensor, Tensor, int]:
    """For a kernel of ``taps`` on a circular grid of ``sizes``: the lag index of every tap pair ``(a, b)``
    (``a - b``, raveled over the ``2 taps - 1`` lags per dimension), the ``[2F, H]`` matrix of the cosines
    over sines of the first ``H`` lags (the negative half and the zero lag, whose cosine is halved) at the
    half-spectrum frequencies (``-2π f·d / N``), and ``H``. Cached: a layer's geometry is fixed, and the
    sines cost more than the matmul they feed.

    Off the CPU the lag index comes as a ``[H, taps²]`` 0/1 matrix of the first ``H`` lags instead: a GPU's
    ``index_add_`` adds with atomics in an order that varies from run to run, a matmul adds in a fixed one."""
    nd = len(taps)

    def grid(extents):
        return torch.stack(torch.meshgrid(*[torch.arange(lo, hi) for lo, hi in extents], indexing="ij"), -1)

    tap = grid([(0, m) for m in taps]).reshape(-1, nd)
    lag = (tap[:, None] - tap[None, :]).reshape(-1, nd) + torch.tensor(taps) - 1  # offset: lags from 0
    lag_id = torch.zeros(lag.shape[0], dtype=torch.int64)
    for i in range(nd):
        lag_id = lag_id * (2 * taps[i] - 1) + lag[:, i]
    half = (math.prod(2 * m - 1 for m in taps) + 1) // 2  # raveled lags up to the zero lag (the last)
    lags = grid([(-m + 1, m) for m in taps]).reshape(1, -1, nd)[:, :half].double()
    freq = grid([(0, m) for m in [*sizes[:-1], sizes[-1] // 2 + 1]]).reshape(-1, 1, nd).double()
    theta = (-2 * math.pi) * (freq / torch.tensor(sizes, dtype=torch.float64) * lags).sum(-1)
    cos = theta.cos()
    cos[:, -1] = 0.5  # the zero lag: P + Pᵀ counts it twice
    dft = torch.cat([cos, theta.sin()]).to(device, dtype)
    if torch.device(device).type != "cpu":
        lag_id = torch.nn.functional.one_hot(lag_id, 2 * half - 1)[:, :half].T.to(dtype)
    return lag_id.to(device), dft, half


def _frequency_grams(poly: Tensor, sizes: list[int], groups: int, dtype: torch.dtype, sign: float = 1.0) -> Tensor:
    """The Gram matrices (of the smaller side) of a polyphase kernel's half-spectrum frequency matrices,
    ``[groups * F, n, n]`` complex (of the real ``dtype``), in :func:`frequency_matrices` order, Hermitian
    exactly (rounding included), times ``sign``.

    ``M_f = Σ_a K_a e^{-2πi f·a/N}`` over the taps ``a``, so ``M_f M_fᴴ = Σ_d R_d e^{-2πi f·d/N}`` with the
    taps' autocorrelation ``R_d = Σ_{a-b=d} K_a K_bᵀ`` (or ``K_aᵀ K_b`` for ``M_fᴴ M_f``, whose phases are
    conjugate: the same eigenvalues). All the products ``K_a K_bᵀ`` come from one matmul of the taps
    stacked, the sums over each lag from one ``index_add_`` (off the CPU: one matmul). ``R_{-d} = R_dᵀ``, so
    with ``P_f = ½R_0 + Σ_{d<0} cos θ_d R_d`` and ``Q_f = Σ_{d<0} sin θ_d R_d`` (one real matmul with the
    cosines and sines of half the lags), ``G_f = (P_f + P_fᵀ) + i (Q_f − Q_fᵀ)``: ``taps² n² c``
    multiply-adds instead of ``F n² c`` complex ones for forming each Gram from its matrix.
    """
    out, cin = poly.shape[:2]
    taps = list(poly.shape[2:])
    t = math.prod(taps)
    rows = out // groups
    k = poly.to(dtype).reshape(groups, rows, cin, t)
    if cin <= rows:  # blocks K_aᵀ K_b
        x = k.permute(0, 1, 3, 2).reshape(groups, rows, t * cin)
        s, n = x.mT @ x, cin
    else:  # blocks K_a K_bᵀ
        x = k.permute(0, 3, 1, 2).reshape(groups, t * rows, cin)
        s, n = x @ x.mT, rows
    s = s.reshape(groups, t, n, t, n).transpose(2, 3).reshape(groups, t * t, n * n)
    lag_id, dft, half = _lag_dft(tuple(taps), tuple(sizes), poly.device, dtype)
    if lag_id.is_floating_point():  # off the CPU: summed by a matmul, in a fixed order
        r = lag_id @ s
    else:
        keep = lag_id < half  # the pairs of the negative lags and the zero lag
        r = s.new_zeros(groups, half, n * n).index_add_(1, lag_id[keep], s[:, keep])
    pq = ((sign * dft) @ r).unflatten(-1, (n, n)).unflatten(1, (2, -1))  # [groups, 2, F, n, n]
    grams = torch.empty(groups, pq.shape[2], n, n, 2, dtype=dtype, device=poly.device)
    torch.add(pq[:, 0], pq[:, 0].mT, out=grams[..., 0])
    torch.sub(pq[:, 1], pq[:, 1].mT, out=grams[..., 1])
    return torch.view_as_complex(grams).flatten(0, 1)


# Gram iteration in float32 on the CPU (twice as fast as float64): its relative rounding error on the
# bound is ~1e-6 (each squaring of a normalised matrix errs by ~d * 6e-8 and the final root shrinks it);
# the bound is multiplied by this margin so that it stays an upper bound. Other devices use float64
# (a GPU may run float32 matmuls in TF32, with ~1e-3 errors).
CERTIFIED_MARGIN = 1.0 + 1e-4
GRAM_ITERATIONS = 6
# The warm path's trial value β = (1 + CHOLESKY_SLACK) x the largest lower bound; its bound is that
# loose at most (half of it on σ), plus the rounding allowances.
CHOLESKY_SLACK = 1e-3


def spectrum_shape(module: nn.Module, weight: Tensor, input_shape: Sequence[int]) -> tuple[int, int]:
    """``(B, n)``: how many Hermitian Grams :func:`certified_sigma` certifies for the layer, and their size
    (the shape of its ``vectors``, less the trailing 2 of the real view)."""
    _check_layer(module)
    if issubclass(_layer_type(module), nn.Linear):
        return 1, min(weight.shape)
    poly, sizes = _polyphase(module, weight.detach(), input_shape)
    half = math.prod([*sizes[:-1], sizes[-1] // 2 + 1])
    return module.groups * half, min(poly.shape[0] // module.groups, poly.shape[1])


@functools.lru_cache(maxsize=1)
def _pool(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(workers, thread_name_prefix="sngan-cholesky")


def _cholesky_ok(h: Tensor) -> Tensor:
    """Which Hermitian ``h`` ``[B, n, n]`` have a Cholesky factorisation ``LLᴴ = h`` that completes (a pivot
    that is not positive fails a matrix). On the CPU, LAPACK factors a batch one matrix at a time on one
    core: the batch is split over torch's threads (the library releases the GIL), 1.5-2x faster on two
    cores than one call for the critic's 64- and 128-wide Grams, and faster than a blocked factorisation
    built from batched matmuls (measured: 4-10 ms against 4-15 ms for 40-144 Grams)."""
    threads = torch.get_num_threads()
    if h.device.type != "cpu" or threads < 2 or h.shape[0] < 2 * threads or h.shape[-1] < 48:  # small: not worth it
        return torch.linalg.cholesky_ex(h).info == 0
    parts = [_pool(threads).submit(torch.linalg.cholesky_ex, part) for part in h.tensor_split(threads)]
    return torch.cat([part.result().info for part in parts]) == 0


def _certify_below(shifted: Tensor, beta: Tensor) -> tuple[Tensor, Tensor]:
    """Which Hermitian Grams G have every eigenvalue below ``beta`` (a scalar), given ``shifted = βI − G``
    (``[B, n, n]``), with each one's rounding allowance: ``λ_max(G) <= β + allowance`` where ``ok``.

    ``βI − G`` is positive definite iff its Cholesky factorisation exists. In floating point, a factorisation
    that completes gives ``LLᴴ = βI − G + ΔH`` with ``|ΔH| <= γ |L||Lᴴ|`` (Demmel 1989; Higham, *Accuracy and
    Stability of Numerical Algorithms*, Thm 10.3; blocked with standard matmuls, a small multiple of it),
    so ``λ_min(βI − G) >= −‖ΔH‖₂ >= −γ ‖L‖_F²``, and ``‖L‖_F² = tr(LLᴴ) <= tr(βI − G) / (1 − γ)``: no pass over
    ``L`` is needed. ``γ`` is taken as ``8(n + 1)u`` (complex arithmetic and the blocked order, generously),
    plus ``2uβ`` for forming ``βI − G``.
    """
    n = shifted.shape[-1]
    ok = _cholesky_ok(shifted)
    unit = torch.finfo(shifted.real.dtype).eps / 2
    gamma = 8 * (n + 1) * unit
    trace = shifted.diagonal(dim1=-2, dim2=-1).real.double().sum(-1) * (1 + n * unit)
    allowance = gamma * trace / (1 - gamma) + 2 * unit * beta
    return ok & torch.isfinite(allowance), allowance


def _gram_rounding(poly: Tensor, groups: int, dtype: torch.dtype) -> float:
    """An upper bound on ``‖Ĝ_f − G_f‖₂`` for every frequency, where ``Ĝ`` is what :func:`_frequency_grams`
    computes in ``dtype`` and ``G`` the exact Gram (first order in the unit roundoff u).

    Each autocorrelation entry is a dot product over the ``rows`` side (error <= γ_rows Σ|K_a||K_b|), each lag
    sums <= taps of them, each DFT entry <= lags more terms with phases rounded to u: in all
    ``|Ĝ_f − G_f| <= √2 γ_N Sᵀ S`` entrywise, ``S = Σ_a |K_a|`` over the taps, ``N = rows + taps + lags + 4``,
    so ``‖Ĝ_f − G_f‖₂ <= √2 γ_N ‖S‖_F²`` (the √2: real and imaginary parts)."""
    out, cin = poly.shape[:2]
    rows = out // groups
    taps = math.prod(poly.shape[2:])
    lags = math.prod(2 * t - 1 for t in poly.shape[2:])
    unit = torch.finfo(dtype).eps / 2
    s = poly.detach().abs().flatten(2).sum(-1).double()  # [out, cin]: S of every group, stacked
    size = float(s.unflatten(0, (groups, rows)).square().sum((1, 2)).max())  # each Gram is one group's
    count = rows + taps + lags + 4
    return math.sqrt(2) * count * unit / (1 - count * unit) * size


def _warm_bound(neg_grams: Tensor, vectors: Tensor, n_iter: int, slack: float) -> tuple[Tensor, int, Tensor]:
    """λ̄ >= the largest eigenvalue of Hermitian Grams G, given ``−G`` (``[B, n, n]``, overwritten), their
    rounding aside; the index of the one holding it; and the vectors (real view) after one power step.

    One power step on each Gram from its kept top eigenvector gives ``‖G x‖ <= λ_max`` (a lower bound); the
    trial ``β`` is the largest of them times ``1 + slack``, and a Cholesky factorisation of ``βI − G`` certifies
    every Gram below it at once (:func:`_certify_below`). A Gram that fails (its top moved above β: the
    vector lagged, or another frequency took the lead) gets its own Gram-iteration bound instead, and ten
    more power steps for its vector. The result is an upper bound whichever way: at most ``slack`` loose
    when the vectors are good, exactly as tight as the Gram iteration when they are not.
    """
    if neg_grams.shape[-1] == 1:  # 1 x 1 Grams are their own eigenvalues
        lam = -neg_grams.real[:, 0, 0]
        best = int(lam.argmax())
        return lam[best].double(), best, vectors
    x = torch.view_as_complex(vectors.to(neg_grams.real.dtype))
    y = (neg_grams @ x[..., None])[..., 0]  # −G x: its norm and direction are G x's
    low = torch.linalg.vector_norm(y, dim=-1)
    x = y / low.clamp_min(torch.finfo(low.dtype).tiny)[:, None]
    best = int(low.argmax())
    beta = low[best].double() * (1 + slack)
    neg_grams.diagonal(dim1=-2, dim2=-1).real.add_(float(beta))  # βI − G, in place
    ok, allowance = _certify_below(neg_grams, beta)
    bound = beta + allowance[ok].max() if bool(ok.any()) else beta.new_zeros(())
    if not bool(ok.all()):
        (fail,) = (~ok).nonzero(as_tuple=True)
        grams = -neg_grams[fail]
        grams.diagonal(dim1=-2, dim2=-1).real.add_(float(beta))  # G again
        sigmas = _iterate_hermitian(grams.real, grams.imag, n_iter, prune=True).double()
        top = int(sigmas.argmax())
        if sigmas[top] ** 2 > bound:
            bound, best = sigmas[top] ** 2, int(fail[top])
        xf = x[fail]
        for _ in range(10):
            xf = F.normalize((grams @ xf[..., None])[..., 0], dim=-1)
        x[fail] = xf
    return bound, best, torch.view_as_real(x).to(vectors.dtype)


def certified_sigma(module: nn.Module, weight: Tensor, input_shape: Sequence[int],
                    n_iter: int = GRAM_ITERATIONS, vectors: Tensor | None = None) -> Tensor:
    """A guaranteed upper bound on the operator norm of the layer's linear map, as a scalar tensor.

    The bound is on the largest singular value over the frequency matrices of :func:`frequency_matrices`
    (their conjugate halves), computed from their Gram matrices, which come from the taps' autocorrelation
    and one DFT matmul (:func:`_frequency_grams`). Dividing the weight by it makes the layer's true operator
    norm <= 1 by construction. Two ways:

    * ``vectors=None``: Gram iteration on every frequency (frequencies that cannot hold the maximum stop
      iterating early: ``prune`` in :func:`_iterate_hermitian`), times :data:`CERTIFIED_MARGIN` for rounding.
      Tightest; no state.
    * ``vectors``: ``[B, n, 2]`` (:func:`spectrum_shape`; the real view of complex vectors), the frequencies'
      top eigenvectors from the previous call, updated in place; all zeros the first time (then found by an
      eigendecomposition). One power step each gives a lower bound, and a single Cholesky factorisation per
      frequency certifies all of them below ``1 + CHOLESKY_SLACK`` times it (:func:`_warm_bound`), with
      rigorous allowances for the rounding of the Grams (:func:`_gram_rounding`) and of the factorisation.
      About 2.5 times cheaper than the Gram iteration on the SN-GAN critic; at most 0.05% looser, plus the
      allowances (0.01-0.6% on σ for its layers in float32). This is what ``mode="certified"`` runs.

    Its gradient in ``weight`` is that of the largest frequency's top singular value,
    ``Re(u1ᴴ M_f(W) v1)`` (Danskin's theorem for a max; the bound itself is not differentiated, which would
    cost as much again), with u1, v1 from the kept vector or else from an eigendecomposition in float64.
    """
    _check_layer(module)
    dtype = torch.float32 if weight.device.type == "cpu" else torch.float64
    needs_grad = torch.is_grad_enabled() and weight.requires_grad
    if issubclass(_layer_type(module), nn.Linear):
        if min(weight.shape) == 1:  # a single row or column: σ is its Euclidean norm (the critic's last layer)
            norm = torch.linalg.vector_norm(weight.float() if needs_grad else weight.detach().float())
            return norm * ((1 + weight.numel() * torch.finfo(torch.float32).eps) * CERTIFIED_MARGIN)
        with torch.no_grad():
            bound = gram_bound(weight.detach()[None], n_iter, dtype)[0].to(torch.float32) * CERTIFIED_MARGIN
        if not needs_grad:
            return bound
        with torch.no_grad():
            u, _, vh = torch.linalg.svd(weight.detach().double(), full_matrices=False)
        rho = (weight.float() * (u[:, 0, None] * vh[0, None, :]).to(torch.float32)).sum()
        return bound + (rho - rho.detach())
    poly, sizes = _polyphase(module, weight.float(), input_shape)
    direction = None
    with torch.no_grad():
        if vectors is None:
            grams = _frequency_grams(poly.detach(), sizes, module.groups, dtype)
            bounds = _iterate_hermitian(grams.real, grams.imag, n_iter, prune=True)
            best = int(bounds.argmax())
            bound = bounds[best].to(torch.float32) * CERTIFIED_MARGIN
        else:
            neg_grams = _frequency_grams(poly.detach(), sizes, module.groups, dtype, sign=-1.0)
            if vectors.shape != (*neg_grams.shape[:2], 2):
                raise ValueError(f"vectors of shape {tuple(vectors.shape)} for {neg_grams.shape[0]} Grams of size "
                                 f"{neg_grams.shape[1]}")
            if not bool(vectors.any()):  # the first call: the exact top eigenvectors
                top = torch.linalg.eigh(-neg_grams.to(torch.complex128)).eigenvectors[..., -1]
                vectors.copy_(torch.view_as_real(top))
            lam, best, fresh = _warm_bound(neg_grams, vectors, n_iter, CHOLESKY_SLACK)
            vectors.copy_(fresh)
            lam = lam + _gram_rounding(poly, module.groups, dtype)
            bound = (lam.sqrt() * CERTIFIED_MARGIN).to(torch.float32)
            direction = torch.view_as_complex(vectors[best].double())
    wrap = _wrap_factor(module, weight.shape[2:], input_shape)
    if not needs_grad:
        return bound * wrap
    return (bound + _top_gradient(poly, sizes, module.groups, best, direction)) * wrap


@functools.lru_cache(maxsize=256)
def _rotation(taps: tuple[int, ...], sizes: tuple[int, ...], nfreq: int, device: torch.device) -> Tensor:
    """``e^{-2πi f·a/N}`` over the taps ``a`` at half-spectrum frequency number ``nfreq`` (complex128)."""
    freq = np.unravel_index(nfreq, [*sizes[:-1], sizes[-1] // 2 + 1])
    phase = torch.zeros((), dtype=torch.float64)
    for t, f, m in zip(taps, freq, sizes):
        phase = phase[..., None] + (-2 * math.pi * int(f) / m) * torch.arange(t, dtype=torch.float64)
    return torch.polar(torch.ones_like(phase), phase).to(device)


def _top_gradient(poly: Tensor, sizes: list[int], groups: int, best: int, direction: Tensor | None) -> Tensor:
    """A zero-valued scalar whose gradient is that of the top singular value of frequency Gram ``best``.

    ``σ_f = Re Σ_{o,c,a} poly[o,c,a] conj(u_o) v_c e^{-2πi f·a/m}``: a fixed real tensor times poly(W).
    ``direction``: that Gram's top eigenvector as :func:`_frequency_grams` builds it (``conj(v1)`` of
    ``MᴴM``'s phases when it is the input side, ``u1`` when the output side), or ``None`` (eigendecomposition).
    """
    half = [*sizes[:-1], sizes[-1] // 2 + 1]
    group, nfreq = divmod(best, math.prod(half))
    rotation = _rotation(tuple(poly.shape[2:]), tuple(sizes), nfreq, poly.device)
    rows = poly.shape[0] // groups
    block = poly[group * rows:(group + 1) * rows]
    with torch.no_grad():
        spatial = list(range(2, poly.ndim))
        mat = (block.detach().double() * rotation).sum(spatial)  # M_f, [rows, cin]
        if mat.shape[1] <= mat.shape[0]:  # top eigenvector of MᴴM is v1, u1 = M v1 / σ
            v1 = torch.linalg.eigh(mat.mH @ mat).eigenvectors[:, -1] if direction is None else direction.conj()
            u1 = F.normalize(mat @ v1, dim=0)
        else:  # of MMᴴ is u1, v1 = Mᴴ u1 / σ
            u1 = torch.linalg.eigh(mat @ mat.mH).eigenvectors[:, -1] if direction is None else direction
            v1 = F.normalize(mat.mH @ u1, dim=0)
        top = u1.conj()[:, None] * v1[None, :]  # ∂σ/∂M = conj(u1) v1ᵀ (real part)
    kern = (top[(..., *[None] * len(sizes))] * rotation).real
    rho = (block * kern.to(block.dtype)).sum()
    return rho - rho.detach()
