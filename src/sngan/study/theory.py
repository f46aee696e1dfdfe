"""The study's theory section, each figure computed (not drawn by hand):

1. JS divergence vs W1 between two distributions on parallel lines as they move (Arjovsky et al.
   2017, Example 1): JS jumps to log 2 as soon as the supports separate; W1 = |θ| stays informative.
2. The optimal BCE discriminator's vanishing gradient vs the optimal 1-Lipschitz critic in 1-D.
3. Power-iteration convergence: σ error vs iterations from a fresh u, and with a persistent u while
   the weight drifts as in training (Miyato et al. 2018, Sec. 2.1).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def _js(p: dict, q: dict) -> float:
    """Jensen–Shannon divergence (nats) of two discrete distributions given as {cell: mass}."""
    out = 0.0
    for cell in set(p) | set(q):
        a, b = p.get(cell, 0.0), q.get(cell, 0.0)
        m = (a + b) / 2
        if a > 0:
            out += 0.5 * a * np.log(a / m)
        if b > 0:
            out += 0.5 * b * np.log(b / m)
    return float(out)


def parallel_lines(thetas: np.ndarray, n: int = 400, seed: int = 0, cell: float = 1e-3) -> dict[str, list[float]]:
    """P = (0, Z), Q_θ = (θ, Z), Z ~ U[0,1]: JS from the distributions discretised on cells of side
    ``cell`` (x) and 1/100 (y); W1 by exact optimal transport between the samples."""
    from sngan.metrics.toy import wasserstein1_exact

    z = np.random.default_rng(seed).random(n)
    ybin = np.floor(z * 100).astype(int)
    js, w1 = [], []
    for theta in thetas:
        p: dict = {}
        q: dict = {}
        for y in ybin:
            p[(0, y)] = p.get((0, y), 0.0) + 1.0 / n
            key = (int(np.floor(theta / cell + 0.5)), y)
            q[key] = q.get(key, 0.0) + 1.0 / n
        js.append(_js(p, q))
        a = np.stack([np.zeros(n), z], 1)
        b = np.stack([np.full(n, theta), z], 1)
        w1.append(wasserstein1_exact(a, b))
    return {"theta": [float(t) for t in thetas], "js": js, "w1": w1, "log2": float(np.log(2))}


def vanishing_gradient(x: np.ndarray, mu_real: float = 0.0, mu_fake: float = 4.0, std: float = 0.5
                       ) -> dict[str, list[float]]:
    """Optimal BCE discriminator D*(x) = p/(p+q) and |d/dx log(1 - D*)| (what the generator gets,
    saturating loss), vs the optimal 1-Lipschitz critic f with f' = sign(F_Q - F_P) (|f'| = 1 between
    the distributions), for P = N(mu_real, std²), Q = N(mu_fake, std²)."""
    from scipy.stats import norm

    p, q = norm.pdf(x, mu_real, std), norm.pdf(x, mu_fake, std)
    d_star = p / (p + q + 1e-300)
    log_one_minus = np.log(np.clip(1 - d_star, 1e-300, None))
    grad_bce = np.abs(np.gradient(log_one_minus, x))
    slope = np.sign(norm.cdf(x, mu_fake, std) - norm.cdf(x, mu_real, std))
    critic = np.cumsum(slope) * (x[1] - x[0])
    critic -= critic.mean()
    grad_critic = np.abs(np.gradient(critic, x))
    return {"x": x.tolist(), "d_star": d_star.tolist(), "grad_bce": grad_bce.tolist(), "critic": critic.tolist(),
            "grad_critic": grad_critic.tolist(), "mu_real": mu_real, "mu_fake": mu_fake}


def power_iteration_convergence(weight: torch.Tensor | None = None, iters: int = 50, steps: int = 200,
                                drift: float = 2e-3, seed: int = 0) -> dict[str, Any]:
    """Relative σ error of the power estimate u·Wv: (a) vs iterations from a fresh random u on a fixed
    W; (b) vs training steps with 1 iteration per step and a persistent u, while W drifts by a
    relative ``drift`` per step (a fresh u with 1 iteration per step shown for contrast)."""
    gen = torch.Generator().manual_seed(seed)
    if weight is None:
        weight = torch.randn(128, 64 * 9, generator=gen, dtype=torch.float64) / 24
    w = weight.detach().double().reshape(weight.shape[0], -1)

    def estimate(mat, u):
        v = torch.nn.functional.normalize(mat.t() @ u, dim=0)
        u = torch.nn.functional.normalize(mat @ v, dim=0)
        return u, float(u @ mat @ v)

    exact = float(torch.linalg.matrix_norm(w, 2))
    u = torch.nn.functional.normalize(torch.randn(w.shape[0], generator=gen, dtype=torch.float64), dim=0)
    fresh = []
    for _ in range(iters):
        u, s = estimate(w, u)
        fresh.append(abs(s - exact) / exact)
    persistent, fresh1 = [], []
    u = torch.nn.functional.normalize(torch.randn(w.shape[0], generator=gen, dtype=torch.float64), dim=0)
    mat = w.clone()
    for _ in range(steps):
        mat = mat + drift * mat.norm() / mat.numel() ** 0.5 * torch.randn(mat.shape, generator=gen, dtype=torch.float64)
        true = float(torch.linalg.matrix_norm(mat, 2))
        u, s = estimate(mat, u)
        persistent.append(abs(s - true) / true)
        u0 = torch.nn.functional.normalize(torch.randn(mat.shape[0], generator=gen, dtype=torch.float64), dim=0)
        _, s0 = estimate(mat, u0)
        fresh1.append(abs(s0 - true) / true)
    return {"fresh_error_vs_iter": fresh, "persistent_error_vs_step": persistent,
            "fresh1_error_vs_step": fresh1, "shape": list(w.shape), "sigma": exact}
