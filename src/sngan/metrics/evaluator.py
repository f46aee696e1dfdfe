"""The shipped MNIST classifier whose feature space the MNIST metrics use.

Inception weights cannot be downloaded here, and ImageNet features are the wrong space for digits
anyway, so FID / KID / precision-recall / IS on MNIST are computed with this small CNN (trained by
``scripts/train_evaluator.py``, deterministic; weights as safetensors, sha256 checked at load).
"""

from __future__ import annotations

import functools
import hashlib
import json
from importlib import resources

import torch
import torch.nn.functional as F
from safetensors.torch import load
from torch import Tensor, nn

from sngan.errors import DataError

WEIGHTS = "mnist_evaluator.safetensors"
META = "mnist_evaluator.json"
FEATURE_DIM = 128


class MnistEvaluator(nn.Module):
    """conv32-pool-conv64-pool-conv128-pool-fc128-fc10. Input [N,1,28,28] in [-1, 1]."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.conv3 = nn.Conv2d(64, 128, 3, padding=1)
        self.fc1 = nn.Linear(128 * 3 * 3, FEATURE_DIM)
        self.fc2 = nn.Linear(FEATURE_DIM, 10)

    def features(self, x: Tensor) -> Tensor:
        """Penultimate features [N, 128]."""
        if x.ndim != 4 or x.shape[1:] != (1, 28, 28):
            raise ValueError(f"expected images [N, 1, 28, 28] in [-1, 1], got shape {tuple(x.shape)}")
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)   # 14
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)   # 7
        h = F.max_pool2d(F.relu(self.conv3(h)), 2)   # 3
        return F.relu(self.fc1(h.flatten(1)))

    def forward(self, x: Tensor) -> Tensor:
        """Logits [N, 10]."""
        return self.fc2(self.features(x))


def weights_meta() -> dict:
    return json.loads(resources.files("sngan.metrics").joinpath("weights", META).read_text())


@functools.lru_cache(maxsize=1)
def _load_state() -> dict[str, Tensor]:
    ref = resources.files("sngan.metrics").joinpath("weights", WEIGHTS)
    try:
        data = ref.read_bytes()
    except FileNotFoundError:
        raise DataError(f"the shipped MNIST evaluator weights ({WEIGHTS}) are missing from the package; "
                        "reinstall sngan or run scripts/train_evaluator.py") from None
    expected = weights_meta()["sha256"]
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected:
        raise DataError(f"{WEIGHTS} has sha256 {digest}, expected {expected}: the file is corrupt; reinstall sngan")
    return load(data)


def mnist_evaluator(device: torch.device | str = "cpu") -> MnistEvaluator:
    """The shipped MNIST classifier in eval mode on ``device`` (a fresh copy each call). Building it
    draws no random numbers from the caller's stream (its random init is overwritten by the weights)."""
    with torch.random.fork_rng(devices=[]):
        model = MnistEvaluator()
    model.load_state_dict(_load_state())
    return model.to(device).eval().requires_grad_(False)
