import os

import pytest
import torch

# Tests are small; keep them deterministic and off the second core's toes.
torch.set_num_threads(int(os.environ.get("SNGAN_TEST_THREADS", "1")))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def dense_jacobian(fn, input_shape, dtype=torch.float64):
    """Matrix of a linear map on inputs of ``input_shape`` (batch excluded): rows = inputs."""
    n = 1
    for s in input_shape:
        n *= s
    eye = torch.eye(n, dtype=dtype).reshape(n, *input_shape)
    return fn(eye).reshape(n, -1)
