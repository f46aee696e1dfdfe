"""Which device runs: ``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` | ``mps``, checked against what exists.

One place turns the config's ``device`` string into a ``torch.device``; everything else receives that
device (models, noise, data batches, SN buffers, the EMA generator, the metrics' evaluator). Random
numbers that must not depend on the device — which data a step sees, the weights' initialisation,
evaluation noise — are drawn on the CPU and moved; training noise comes from the device's own generator."""

from __future__ import annotations

import torch

from sngan.choices import check_device_name as check_name
from sngan.errors import ConfigError


def available() -> list[str]:
    """The devices this machine has, as ``--device`` accepts them."""
    out = ["cpu"]
    if torch.cuda.is_available():
        out += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        out.append("mps")
    return out


def auto() -> str:
    """``auto``: CUDA when available, else the CPU."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve(name: str = "auto") -> torch.device:
    """The ``torch.device`` for ``name`` (``cuda`` with its index: the current GPU), made reproducible
    (:func:`reproducible`); one ConfigError naming the devices that exist when it does not."""
    check_name(name)
    name = auto() if name == "auto" else name
    have = available()
    if name not in have:
        raise ConfigError(f"device {name!r} does not exist on this machine; it has: {', '.join(have)}")
    device = torch.device(name)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return reproducible(device)


def reproducible(device: torch.device | str) -> torch.device:
    """Make ``device``'s kernels give the same bits run after run, as the CPU's do, and return it.

    On CUDA: cuDNN's deterministic algorithms (its fastest convolution backward and transposed-convolution
    kernels add with atomics, in an order that varies from run to run: a resumed run, or a generator loaded
    in another process, would drift from the uninterrupted one in the last bits), no autotuning (the chosen
    kernel would depend on timing), and no TF32: ``precision="fp32"`` is float32 on every device, and the
    fast path on a GPU is ``bf16`` (``auto`` picks it from compute capability 8.0). These are process-wide
    cuDNN/cuBLAS settings; other devices have nothing to set."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    return device


def cuda_bf16(device: str) -> bool:
    """bf16 at full speed on a CUDA device: compute capability >= 8.0 (Ampere and later)."""
    if device not in available() or not device.startswith("cuda"):
        return False
    return torch.cuda.get_device_capability(torch.device(device).index or 0) >= (8, 0)


def rng_state(device: torch.device) -> torch.Tensor | None:
    """The device generator's state (training noise), None for the CPU (``torch.get_rng_state`` covers it)."""
    if device.type == "cuda":
        return torch.cuda.get_rng_state(device)
    return None


def fork_rng(device: torch.device):
    """A context that restores the CPU generator and ``device``'s own on exit: code run under it (an
    evaluation hook that builds a network or draws numbers) leaves the training noise where it was."""
    if device.type == "cpu":
        return torch.random.fork_rng(devices=[])
    return torch.random.fork_rng(devices=[device.index or 0], device_type=device.type)


def set_rng_state(device: torch.device, state: torch.Tensor) -> None:
    if device.type == "cuda":
        torch.cuda.set_rng_state(state.cpu(), device)
