import torch

from sngan.data import BatchSampler


def test_every_epoch_is_a_permutation_and_batches_are_full():
    data = torch.arange(10)
    s = BatchSampler(data, 4, seed=1)
    seen = torch.cat([next(s) for _ in range(5)])  # 20 rows = 2 epochs
    assert sorted(seen[:10].tolist()) == list(range(10))
    assert sorted(seen[10:].tolist()) == list(range(10))


def test_deterministic_and_resumable():
    data = torch.randn(37, 3)
    a = BatchSampler(data, 8, seed=5)
    ref = [next(a) for _ in range(20)]
    b = BatchSampler(data, 8, seed=5)
    for _ in range(7):
        next(b)
    state = b.state_dict()
    c = BatchSampler(data, 8, seed=5)
    c.load_state_dict(state)
    for i in range(7, 20):
        assert torch.equal(next(c), ref[i])


def test_ranks_split_the_global_batch():
    data = torch.arange(100)
    full = BatchSampler(data, 8, seed=2)
    r0, r1 = BatchSampler(data, 8, seed=2, rank=0, world_size=2), BatchSampler(data, 8, seed=2, rank=1, world_size=2)
    for _ in range(30):
        assert torch.equal(torch.cat([next(r0), next(r1)]), next(full))
