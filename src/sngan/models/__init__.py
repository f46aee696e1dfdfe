"""Plain critics and generators. No constraint lives inside a model (see sngan.constraints)."""

from sngan.models.mnist import MnistCritic, MnistGenerator
from sngan.models.resnet import ResNetCritic32, ResNetGenerator32
from sngan.models.toy import ToyCritic, ToyGenerator

__all__ = [
    "MnistCritic",
    "MnistGenerator",
    "ToyCritic",
    "ToyGenerator",
    "ResNetCritic32",
    "ResNetGenerator32",
]
