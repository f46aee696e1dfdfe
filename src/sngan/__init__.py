"""sngan — Lipschitz-constrained GAN training built around spectral normalization."""

__version__ = "0.1.0"

# Everything is imported on first use, so `import sngan` (and `sngan --help`, or a command refused for a
# wrong flag) does not wait for torch; `from sngan import spectral_norm` works as usual.
_SUBMODULES = ("certified", "constraints", "data", "files", "lipschitz", "losses", "metrics", "models", "study",
               "train")
_API = {"SpectralNorm": "sngan.nn", "spectral_norm": "sngan.nn", "remove_spectral_norm": "sngan.nn",
        "spectral_sigma": "sngan.nn", "operator_norm": "sngan.spectral",
        "Run": "sngan.train.run", "load_generator": "sngan.train.run", "load_critic": "sngan.train.run"}


def __getattr__(name: str):
    import importlib

    if name in _SUBMODULES:
        return importlib.import_module(f"sngan.{name}")
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'sngan' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SUBMODULES) | set(_API))

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
