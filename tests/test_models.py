import torch

from sngan.models import MnistCritic, MnistGenerator, ResNetCritic32, ResNetGenerator32, ToyCritic, ToyGenerator


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_mnist_shapes_and_parameter_counts():
    D, G = MnistCritic(), MnistGenerator()
    assert D(torch.randn(3, 1, 28, 28)).shape == (3, 1)
    x = G(torch.randn(3, 128))
    assert x.shape == (3, 1, 28, 28) and x.abs().max() <= 1
    # conv3x3 1->64, conv4x4 64->64, conv3x3 64->128, conv4x4 128->128, conv3x3 128->256, linear 7*7*256->1
    expected = (9 * 64 + 64) + (16 * 64 * 64 + 64) + (9 * 64 * 128 + 128) + (16 * 128 * 128 + 128) + \
        (9 * 128 * 256 + 256) + (7 * 7 * 256 + 1)
    assert n_params(D) == expected
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in D.modules())
    narrow = MnistCritic(width=0.25)
    assert narrow[0].out_channels == 16 and narrow[-1].in_features == 64 * 49


def test_toy_shapes_and_counts():
    D, G = ToyCritic(), ToyGenerator(z_dim=2)
    assert D(torch.randn(5, 2)).shape == (5, 1) and G(torch.randn(5, 2)).shape == (5, 2)
    assert n_params(D) == (2 * 512 + 512) + 2 * (512 * 512 + 512) + (512 + 1)


def test_resnet32_shapes():
    D, G = ResNetCritic32(ch=16), ResNetGenerator32(z_dim=16, ch=32)
    x = G(torch.randn(2, 16))
    assert x.shape == (2, 3, 32, 32)
    assert D(x).shape == (2, 1)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in D.modules())
