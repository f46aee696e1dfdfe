"""sngan — Lipschitz-constrained GAN training built around spectral normalization."""

from sngan.lazy import attach

__version__ = "0.1.0"

# Everything is imported on first use (sngan.lazy), so `import sngan` (and `sngan --help`, or a command
# refused for a wrong flag) does not wait for torch; `from sngan import spectral_norm` works as usual.
__getattr__, __dir__ = attach(
    __name__,
    {"SpectralNorm": "nn", "spectral_norm": "nn", "remove_spectral_norm": "nn", "spectral_sigma": "nn",
     "operator_norm": "spectral", "Run": "train.run", "load_generator": "train.run", "load_critic": "train.run"},
    ("certified", "constraints", "data", "files", "lipschitz", "losses", "metrics", "models", "study", "train"))

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
