"""Can a cheap estimator keep σ <= 1.01 while the weights move? Offline replay of one training trajectory.

The performance goal asks for every normalized layer's true operator norm <= 1.01 at every step of the drift run
(`bench_sn_drift.py`: the standard critic on MNIST, Adam 2e-4, betas (0.5, 0.999), operator-mode SN) at
<= 5% overhead. This records that run's raw convolution weights at every step (operator mode, power
iteration, as the trainer runs it), then replays the weight sequence through estimators of σ that keep their
state from step to step, each started like ``SpectralNorm`` (50 power iterations on the first weight), and
reports how far the layer normalized by each estimate is from 1 (true σ / estimate, the largest over the
layers, per step). The true σ is ``operator_norm_of_weight`` (Lanczos in float64 to convergence). Estimators:

* ``power:k`` — k power iterations per step from the kept vectors (k = 1 is operator mode);
* ``lanczos:k`` — k Golub–Kahan–Lanczos steps from the kept vector (``sn_solver=lanczos``);
* ``block:b`` — a kept block of b right vectors, Rayleigh–Ritz over span(V, AᵀAV) each step (two batched
  maps and one batched adjoint);
* ``fourier:k`` — the circular embedding's frequencies tracked separately: one kept complex vector per
  frequency, k power iterations per step on each frequency's Gram matrix (all frequencies batched), the
  estimate their largest ``‖Gx‖ / sqrt(xᴴGx)``. It estimates the embedding's norm (>= the true one), and a
  move of the top from one frequency to another is seen at once instead of being resolved by the iteration;

``power``, ``lanczos`` and ``block`` cost k (or 2 + 1 batched) maps and adjoints of one sample per layer per
step; ``fourier`` costs the Grams of every frequency (as ``certified`` forms them) and k batched matrix-vector
products, timed on the critic at the run's width and at width 1 (``fourier_cost``). It also measures how
much each step moves each layer (the exact norm of the weight change's operator, over the circular
embedding's frequencies, relative to the layer's certified bound): the figure that decides whether a
certified bound could be refreshed only every few steps (σ(W + Δ) <= bound(W) + ‖Δ‖).

Replaying a recorded trajectory separates the estimator from the dynamics it would itself cause; the
trajectory is that of power-iteration operator mode, whose layers sit above 1 (the others' would differ a
little).

    python benchmarks/bench_sn_tracking.py [--steps 100] [--width 0.25] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F
from bench_sn_drift import drift_config
from torch import nn

from sngan.certified import _frequency_grams, _polyphase, certified_sigma, frequency_matrices
from sngan.lipschitz import layer_input_shapes
from sngan.models import MnistCritic
from sngan.spectral import (
    lanczos_,
    layer_adjoint,
    layer_map,
    operator_norm_of_weight,
    power_iteration_,
)
from sngan.train.loop import Trainer

ESTIMATORS = ["power:1", "power:4", "lanczos:2", "lanczos:4", "lanczos:8", "lanczos:16", "block:8", "fourier:4",
              "fourier:8"]


def record(steps: int, width: float, lr: float, seed: int = 0) -> list[dict]:
    """The drift run's convolutions: a plain copy of each layer, its input and output shapes, its raw weight
    per step."""
    cfg = drift_config("operator", steps, width, lr, iterations=1, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, f"{tmp}/run", progress=False)
        convs = [m for m in trainer.critic.modules() if isinstance(m, nn.Conv2d)]
        weights: list[list[torch.Tensor]] = [[] for _ in convs]
        for _ in range(steps):
            for w, m in zip(weights, convs):
                w.append(m.parametrizations.weight.original.detach().clone())
            trainer.critic_step(next(trainer.sampler))
            trainer.step += 1
            trainer.generator_step()
        layers = [{"layer": nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding),
                   "shape": tuple(m.parametrizations.weight[0].input_shape.tolist()), "weights": w}
                  for m, w in zip(convs, weights)]
        trainer.release()
    for entry in layers:
        x = torch.zeros(1, *entry["shape"])
        entry["out_shape"] = tuple(layer_map(entry["layer"], entry["weights"][0], x).shape[1:])
    return layers


def _vector_maps(forward, adjoint):
    """One-vector map and adjoint (for ``power_iteration_`` / ``lanczos_``) from the batched ones."""
    return (lambda x: forward(x[None])[0]), (lambda y: adjoint(y[None])[0])


def _maps(layer: nn.Module, weight: torch.Tensor, shape: tuple[int, ...], out_shape: tuple[int, ...]):
    def forward(x: torch.Tensor) -> torch.Tensor:  # rows in, rows out
        return layer_map(layer, weight, x.reshape(-1, *shape)).reshape(x.shape[0], -1)

    def adjoint(y: torch.Tensor) -> torch.Tensor:
        return layer_adjoint(layer, weight, y.reshape(-1, *out_shape), shape).reshape(y.shape[0], -1)

    return forward, adjoint


def frequency_grams(layer: nn.Module, weight: torch.Tensor, shape: tuple[int, ...]) -> tuple[torch.Tensor, int]:
    """``[A; B]`` (``[F, 2n, n]``) of the Hermitian Grams ``A + iB`` of the layer's frequency matrices."""
    poly, sizes = _polyphase(layer, weight, shape)
    grams = _frequency_grams(poly, sizes, layer.groups, torch.float32)
    return torch.cat([grams.real, grams.imag], -2), grams.shape[-1]


def fourier_iterate(ab: torch.Tensor, n: int, x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """k power iterations on every frequency's Gram at once; ``x`` ``[F, n, 2]`` (real, imaginary), unit per
    frequency. Returns the new x and the largest ``‖Gx‖ / sqrt(xᴴGx)`` of the last iteration (a lower bound
    on the embedding's norm)."""
    for i in range(k):
        p = ab @ x  # [Ax Ay; Bx By]
        g = torch.stack([p[:, :n, 0] - p[:, n:, 1], p[:, n:, 0] + p[:, :n, 1]], -1)  # (A + iB)(x + iy)
        norm = torch.linalg.vector_norm(g, dim=(1, 2))
        if i == k - 1:
            estimate = (norm / (x * g).sum((1, 2)).clamp_min(1e-30).sqrt()).max()
        x = g / norm.clamp_min(1e-30)[:, None, None]
    return x, estimate


def fourier_cost(width: float, k: int, repeats: int = 15) -> float:
    """Median ms per step of ``fourier:k`` over the critic's convolutions at ``width`` (Grams + iterations)."""
    critic = MnistCritic(width=width)
    shapes = {critic.get_submodule(name): shape
              for name, shape in layer_input_shapes(critic, critic.input_shape).items()
              if isinstance(critic.get_submodule(name), nn.Conv2d)}
    starts = {}  # any start: the cost does not depend on it
    for m, s in shapes.items():
        ab, n = frequency_grams(m, m.weight.detach(), s)
        starts[m] = F.normalize(torch.randn(ab.shape[0], n, 2), dim=(1, 2))

    def step():
        for m, s in shapes.items():
            fourier_iterate(*frequency_grams(m, m.weight.detach(), s), starts[m], k)

    step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def replay(layers: list[dict], true: list[torch.Tensor], spec: str) -> list[float]:
    """Per step, the largest (true σ / estimate) over the layers."""
    kind, k = spec.split(":")
    k = int(k)
    steps = len(true[0])
    worst = [0.0] * steps
    for entry, sig in zip(layers, true):
        layer, shape, out_shape, weights = entry["layer"], entry["shape"], entry["out_shape"], entry["weights"]
        torch.manual_seed(0)
        if kind == "fourier":  # its own start: the operator's vectors are not used
            ab, n = frequency_grams(layer, weights[0], shape)
            x, _ = fourier_iterate(ab, n, F.normalize(torch.randn(ab.shape[0], n, 2), dim=(1, 2)), 50)
            for t, w in enumerate(weights):
                if t:
                    ab, n = frequency_grams(layer, w, shape)
                x, estimate = fourier_iterate(ab, n, x, k)
                worst[t] = max(worst[t], float(sig[t] / estimate))
            continue
        forward, adjoint = _maps(layer, weights[0], shape, out_shape)
        v = F.normalize(torch.randn(math.prod(shape)), dim=0)
        u = F.normalize(forward(v[None])[0], dim=0)
        power_iteration_(*_vector_maps(forward, adjoint), u, v, 50)
        block = None
        if kind == "block":
            block = torch.linalg.qr(torch.cat([v[:, None], torch.randn(v.numel(), k - 1)], 1))[0]
        for t, w in enumerate(weights):
            forward, adjoint = _maps(layer, w, shape, out_shape)
            if kind == "block":
                image = forward(block.T).T
                krylov = torch.linalg.qr(torch.cat([block, adjoint(image.T).T], 1))[0]
                _, values, right = torch.linalg.svd(forward(krylov.T).T, full_matrices=False)
                block, estimate = krylov @ right[:k].T, values[0]
            else:
                method = lanczos_ if kind == "lanczos" and k > 1 else power_iteration_
                estimate = method(*_vector_maps(forward, adjoint), u, v, k)
            worst[t] = max(worst[t], float(sig[t] / estimate))
    return worst


def movement(layers: list[dict], true: list[torch.Tensor]) -> list[dict]:
    """Per layer: ‖operator of W_t - W_(t-1)‖ / certified bound of W_t, over the steps; and true σ / bound."""
    rows = []
    for entry, sig in zip(layers, true):
        layer, shape, weights = entry["layer"], entry["shape"], entry["weights"]
        moves, slack = [], []
        for t in range(1, len(weights)):
            bound = float(certified_sigma(layer, weights[t], shape))
            change = frequency_matrices(layer, weights[t] - weights[t - 1], shape, half=True)
            moves.append(float(torch.linalg.matrix_norm(change, ord=2).max()) / bound)
            slack.append(float(sig[t]) / bound)
        rows.append({"weight": list(weights[0].shape), "input": list(shape),
                     "step_move_median": statistics.median(moves), "step_move_max": max(moves),
                     "true_over_bound_min": min(slack), "true_over_bound_max": max(slack)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--estimators", nargs="+", default=ESTIMATORS)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(2)
    layers = record(args.steps, args.width, args.lr)
    true = [torch.tensor([float(operator_norm_of_weight(e["layer"], w, e["shape"])) for w in e["weights"]],
                         dtype=torch.float64) for e in layers]
    print(f"replay of {args.steps} steps, width {args.width}, Adam {args.lr}: true σ / estimate, largest layer")
    results = {}
    for spec in args.estimators:
        worst = replay(layers, true, spec)
        over = sum(x > 1.01 for x in worst)
        mean = statistics.fmean(worst)
        results[spec] = {"max": max(worst), "mean": mean, "steps_over_1.01": over, "per_step": worst}
        print(f"  {spec:11s} max {max(worst):.4f}  mean {mean:.4f}  steps > 1.01: {over}/{len(worst)}")
    costs = {}
    for spec in args.estimators:
        if spec.startswith("fourier:"):
            k = int(spec.split(":")[1])
            costs[spec] = {f"width_{w}": fourier_cost(w, k) for w in sorted({args.width, 1.0})}
            print(f"  {spec} costs " + ", ".join(f"{ms:.1f} ms a step at {w.replace('_', ' ')}"
                                                 for w, ms in costs[spec].items()))
    moves = movement(layers, true)
    print("per-step change of each layer's operator, relative to its certified bound (and the bound's slack):")
    for row in moves:
        print(f"  weight {row['weight']} at {row['input']}: median {row['step_move_median']:.4f}, largest "
              f"{row['step_move_max']:.4f}; true σ / bound "
              f"{row['true_over_bound_min']:.4f}–{row['true_over_bound_max']:.4f}")
    if args.json:
        out = {"steps": args.steps, "width": args.width, "lr": args.lr, "estimators": results, "fourier_cost_ms": costs,
               "movement": moves,
               "machine": {"platform": platform.platform(), "torch": torch.__version__}}
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
