"""A package facade whose names load on first use (PEP 562): importing the package imports nothing,
so `import sngan`, `sngan --help` or a config check does not wait for torch."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable


def attach(package: str, names: dict[str, str], submodules: tuple[str, ...] = ()
           ) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``names`` maps each public name to the module
    (relative to the package) that defines it; ``submodules`` are returned as modules."""

    def __getattr__(name: str) -> object:
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")
        if name in names:
            return getattr(importlib.import_module(f"{package}.{names[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *names, *submodules})

    return __getattr__, __dir__
