"""A restricted unpickler for the two pickle-format datasets we read (MNIST's mnist.pkl.gz and
CIFAR-10's python batches): only numpy arrays and plain containers may be rebuilt, so a planted
file cannot run code."""

from __future__ import annotations

import pickle
from typing import IO, Any

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
    ("builtins", "list"),
    ("builtins", "dict"),
    ("builtins", "tuple"),
}


class _Restricted(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data pickle")


def load(f: IO[bytes], encoding: str = "latin1") -> Any:
    """``pickle.load`` that only rebuilds numpy arrays and plain containers."""
    return _Restricted(f, encoding=encoding).load()
