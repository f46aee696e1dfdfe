"""sngan — Lipschitz-constrained GAN training built around spectral normalization."""

from sngan import lipschitz
from sngan.nn import SpectralNorm, remove_spectral_norm, spectral_norm, spectral_sigma
from sngan.spectral import operator_norm

__version__ = "0.1.0"

_SUBMODULES = ("certified", "constraints", "data", "files", "losses", "metrics", "models", "study", "train")
_RUN_API = ("Run", "load_generator", "load_critic")  # sngan.train.run, imported on first use


def __getattr__(name: str):
    # `import sngan; sngan.data.load_mnist(...)` works without importing everything up front.
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"sngan.{name}")
    if name in _RUN_API:
        from sngan.train import run

        return getattr(run, name)
    raise AttributeError(f"module 'sngan' has no attribute {name!r}")

__all__ = [
    "SpectralNorm",
    "spectral_norm",
    "remove_spectral_norm",
    "spectral_sigma",
    "operator_norm",
    "lipschitz",
    "Run",
    "load_generator",
    "load_critic",
    "__version__",
]
