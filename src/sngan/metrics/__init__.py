"""Sample-quality and Lipschitz metrics, as a registry by name.

The same functions run inside the training loop (``eval_every``), in ``sngan eval RUN_DIR`` and in
the study. MNIST metrics live in the feature space of a shipped MNIST classifier (see
``sngan.metrics.evaluator``); toy metrics follow the VEEGAN/PacGAN protocol.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from sngan.metrics.evaluator import MnistEvaluator, mnist_evaluator
from sngan.metrics.features import features_and_logits
from sngan.metrics.fid import fid, fid_from_features, frechet_distance
from sngan.metrics.inception_score import (
    class_coverage,
    class_coverage_from_logits,
    inception_score,
    inception_score_from_logits,
)
from sngan.metrics.kid import kid, kid_from_features
from sngan.metrics.prdc import prdc, prdc_from_features
from sngan.metrics.toy import high_quality, modes_covered, wasserstein1_exact


@dataclass
class EvalContext:
    """What a metric may look at. Features are computed once and shared by all image metrics."""

    dataset: str
    real: Tensor
    fake: Tensor
    critic: nn.Module | None = None
    _cache: dict[str, Any] = field(default_factory=dict)

    def feats(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        if which not in self._cache:
            f, logits = features_and_logits(self.real if which == "real" else self.fake, name=which)
            self._cache[which] = (f.numpy(), logits.numpy())
        return self._cache[which]


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str                                  # "image" (MNIST) | "toy" | "critic"
    fn: Callable[[EvalContext], dict[str, Any]]


METRICS: dict[str, Metric] = {}


def register_metric(name: str, kind: str):
    def wrap(fn):
        METRICS[name] = Metric(name, kind, fn)
        return fn
    return wrap


@register_metric("fid", "image")
def _fid(ctx: EvalContext) -> dict:
    return {"fid": fid_from_features(ctx.feats("real")[0], ctx.feats("fake")[0])}


@register_metric("kid", "image")
def _kid(ctx: EvalContext) -> dict:
    mean, std = kid_from_features(ctx.feats("real")[0], ctx.feats("fake")[0],
                                  subset_size=min(1000, len(ctx.real), len(ctx.fake)))
    return {"kid": mean, "kid_std": std}


@register_metric("inception_score", "image")
def _is(ctx: EvalContext) -> dict:
    mean, std = inception_score_from_logits(ctx.feats("fake")[1])
    return {"inception_score": mean, "inception_score_std": std}


@register_metric("prdc", "image")
def _prdc(ctx: EvalContext) -> dict:
    return prdc_from_features(ctx.feats("real")[0], ctx.feats("fake")[0])


@register_metric("class_coverage", "image")
def _coverage(ctx: EvalContext) -> dict:
    cov = class_coverage_from_logits(ctx.feats("fake")[1])
    return {"class_share": cov["share"], "class_kl_uniform": cov["kl_to_uniform"],
            "digits_under_1pct": cov["digits_under_1pct"]}


@register_metric("modes", "toy")
def _modes(ctx: EvalContext) -> dict:
    if ctx.dataset not in ("ring8", "grid25"):
        return {}
    return {"modes_covered": modes_covered(ctx.fake, ctx.dataset), "high_quality": high_quality(ctx.fake, ctx.dataset)}


@register_metric("wasserstein1", "toy")
def _w1(ctx: EvalContext) -> dict:
    return {"w1_exact": wasserstein1_exact(ctx.real, ctx.fake)}


@register_metric("critic_w1", "critic")
def _critic_w1(ctx: EvalContext) -> dict:
    """The critic's estimate of W1 on held-out real vs generated data, E[D(real)] - E[D(fake)] (a lower
    bound on W1 times the critic's Lipschitz constant): needs no feature extractor, so every dataset has it."""
    if ctx.critic is None:
        return {}
    with torch.no_grad():
        scores = [torch.cat([ctx.critic(x[i:i + 500]).float() for i in range(0, len(x), 500)]).mean()
                  for x in (ctx.real, ctx.fake)]
    return {"w1_critic": (scores[0] - scores[1]).item()}


@register_metric("lipschitz", "critic")
def _lipschitz(ctx: EvalContext) -> dict:
    from sngan.constraints import gradient_norm_stats
    from sngan.lipschitz import lower_bound, upper_bound

    D = ctx.critic
    if D is None:
        return {}
    n = min(256, len(ctx.real), len(ctx.fake))
    real, fake = ctx.real[:n], ctx.fake[:n]
    out: dict[str, Any] = gradient_norm_stats(D, real, fake, generator=torch.Generator("cpu").manual_seed(0))
    out["lipschitz_lower"] = lower_bound(D, torch.cat([real[:64], fake[:64]]), steps=20)
    try:
        out["lipschitz_upper"] = upper_bound(D, tuple(real.shape[1:]))
    except ValueError:
        out["lipschitz_upper"] = None
    return out


def metrics_for(dataset: str) -> list[str]:
    """The registered metric names that fit a dataset: the critic's metrics (Lipschitz bracket, ‖∇D‖
    statistics, the critic's W1 estimate) for every dataset; sample-quality metrics where sngan has an
    evaluator (MNIST's classifier, the toys' known modes)."""
    kinds = {"critic"} | ({"toy"} if dataset in ("ring8", "grid25", "swissroll") else {"image"} if dataset == "mnist"
                          else set())
    return [name for name, m in METRICS.items() if m.kind in kinds]


def absent_metrics(dataset: str) -> dict[str, str]:
    """Metric name → why it is not computed for ``dataset`` (and how to get it)."""
    if dataset in ("mnist", "ring8", "grid25", "swissroll"):
        return {}
    why = (f"no sample-quality evaluator for {dataset}: sngan's image metrics use a classifier trained on MNIST "
           "digits. Export samples with `sngan sample RUN_DIR --n 10000 --out DIR` and compare DIR with your real "
           "images in pytorch-fid, clean-fid or torch-fidelity (they read a PNG folder)")
    return {name: why for name, m in METRICS.items() if m.kind == "image"}


def real_reference(dataset: str, n: int, seed: int = 0, *, data_dir: str | None = None, image_size: int = 32,
                   channels: int = 3) -> Tensor:
    """Real data to compare samples with: MNIST test images, fresh toy points, CIFAR-10's test batch, or
    (a folder has no held-out split) a seeded random choice of the folder's images."""
    from sngan.data import load_cifar10, load_image_folder, load_mnist, to_model_range, toy

    if dataset in ("ring8", "grid25", "swissroll"):
        return toy(dataset, n, seed=10_000 + seed)
    if dataset == "mnist":
        images, _ = load_mnist("test")
    elif dataset == "cifar10" and data_dir:
        images, _ = load_cifar10(data_dir, "test")
    elif dataset == "folder" and data_dir:
        images = load_image_folder(data_dir, image_size, channels)
    else:
        raise ValueError(f"no evaluation reference for dataset {dataset!r} without data_dir")
    idx = np.random.default_rng(seed).permutation(len(images))[:n]
    return to_model_range(images[np.sort(idx)])


def evaluate(dataset: str, fake: Tensor, critic: nn.Module | None = None, names: list[str] | None = None,
             real: Tensor | None = None, seed: int = 0,
             real_features: tuple[np.ndarray, np.ndarray] | None = None,
             on_metric: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the named metrics (default: all that fit ``dataset``) on samples ``fake``. ``real_features``:
    the evaluator's (features, logits) of ``real`` when already known (they are the same at every
    evaluation point of a run). ``on_metric(name)`` is called as each metric finishes (progress)."""
    names = names or metrics_for(dataset)
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric {unknown[0]!r}; registered: {', '.join(METRICS)}")
    if real is None:
        real = real_reference(dataset, len(fake), seed)
        if dataset == "mnist" and real_features is None:
            real_features = reference_features(real)
    real = real.to(fake.device)  # held-out data is loaded on the CPU; the samples are where the models are
    was = critic.training if critic is not None else False
    if critic is not None:
        critic.eval()
    try:
        ctx = EvalContext(dataset, real, fake, critic)
        if real_features is not None:
            ctx._cache["real"] = real_features
        out: dict[str, Any] = {}
        for name in names:
            out.update(METRICS[name].fn(ctx))
            if on_metric is not None:
                on_metric(name)
    finally:
        if critic is not None:
            critic.train(was)
    return out


def training_evaluator(cfg, names: list[str] | None = None) -> Callable:
    """A ``Trainer(evaluate=...)`` hook: metrics on ``cfg.eval_samples`` samples (FID etc. cheap set)."""
    chosen = names or [n for n in metrics_for(cfg.dataset) if n != "lipschitz"]

    def hook(trainer) -> dict:
        fake = trainer.sample(cfg.eval_samples)
        real, feats = reference_for(cfg, len(fake))
        return evaluate(cfg.dataset, fake, trainer.critic, chosen, real=real, real_features=feats)
    return hook


def reference_for(cfg, n: int, seed: int = 0) -> tuple[Tensor, tuple[np.ndarray, np.ndarray] | None]:
    """The real data a run's ``n`` samples are compared with (``real_reference`` for its dataset and
    data_dir) and, for MNIST, the evaluator's cached features of it; kept in memory between calls."""
    real = _cached_reference(cfg.dataset, n, seed, cfg.data_dir, cfg.image_size, cfg.channels)
    return real, (reference_features(real) if cfg.dataset == "mnist" else None)


@functools.lru_cache(maxsize=4)
def _cached_reference(dataset: str, n: int, seed: int, data_dir: str | None, image_size: int,
                      channels: int) -> Tensor:
    return real_reference(dataset, n, seed, data_dir=data_dir, image_size=image_size, channels=channels)


_FEATURES: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def reference_features(real: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """The evaluator's (features, logits) of real reference images. Every evaluation of every run
    compares against the same images, so they are computed once and kept in the data cache, keyed by
    the images' and the evaluator weights' sha256 (a different reference or evaluator is a new key)."""
    import hashlib

    from sngan.data.cache import cache_dir
    from sngan.files import atomic_write_bytes
    from sngan.metrics.evaluator import weights_meta

    digest = hashlib.sha256(real.detach().cpu().float().contiguous().numpy().tobytes())
    digest.update(weights_meta()["sha256"].encode())
    key = digest.hexdigest()[:32]
    if key in _FEATURES:
        return _FEATURES[key]
    path = cache_dir() / "features" / f"mnist-reference-{key}.npz"
    try:
        with np.load(path) as data:
            _FEATURES[key] = (data["features"], data["logits"])
            return _FEATURES[key]
    except (OSError, KeyError, ValueError):
        pass
    f, logits = features_and_logits(real, name="real")
    _FEATURES[key] = (f.numpy(), logits.numpy())
    try:
        import io

        path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez(buf, features=_FEATURES[key][0], logits=_FEATURES[key][1])
        atomic_write_bytes(path, buf.getvalue())
    except OSError:
        pass  # a read-only cache only costs the recomputation
    return _FEATURES[key]


__all__ = [
    "METRICS", "EvalContext", "Metric", "MnistEvaluator", "absent_metrics", "class_coverage", "evaluate", "fid",
    "frechet_distance", "high_quality", "inception_score", "kid", "metrics_for", "mnist_evaluator",
    "modes_covered", "prdc", "real_reference", "reference_features", "reference_for", "register_metric",
    "training_evaluator", "wasserstein1_exact",
]
