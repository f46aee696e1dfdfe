"""sngan — Lipschitz-constrained GAN training built around spectral normalization."""

from sngan import lipschitz
from sngan.nn import SpectralNorm, remove_spectral_norm, spectral_norm, spectral_sigma
from sngan.spectral import operator_norm

__version__ = "0.1.0"

__all__ = [
    "SpectralNorm",
    "spectral_norm",
    "remove_spectral_norm",
    "spectral_sigma",
    "operator_norm",
    "lipschitz",
    "__version__",
]
