"""An infinite, shuffled, deterministic and resumable batch iterator over an in-memory dataset."""

from __future__ import annotations

import torch


class BatchSampler:
    """Yields batches of ``data`` forever: each epoch is a fresh permutation seeded by
    (seed, epoch); a partial last batch is completed from the next epoch, so every batch has
    ``batch_size`` rows.

    ``state_dict()`` is plain JSON (epoch, position); after ``load_state_dict`` the batches equal
    those of an uninterrupted run. With ``world_size > 1`` each rank gets its own contiguous share
    of every global batch (rank r: rows r*B/W .. (r+1)*B/W of the global batch).
    """

    def __init__(self, data: torch.Tensor, batch_size: int, seed: int = 0, rank: int = 0, world_size: int = 1):
        if batch_size < 1 or batch_size % world_size:
            raise ValueError(f"batch_size {batch_size} must be >= 1 and divisible by world_size {world_size}")
        if len(data) == 0:
            raise ValueError("cannot sample batches from an empty dataset")
        self.data, self.batch_size, self.seed = data, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.epoch, self.position = 0, 0
        self._perm = self._permutation(0)

    def _permutation(self, epoch: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(len(self.data), generator=gen, device="cpu")  # the same order on every device

    def next_indices(self) -> torch.Tensor:
        """Indices of the next *global* batch."""
        parts, need = [], self.batch_size
        while need > 0:
            take = min(need, len(self.data) - self.position)
            parts.append(self._perm[self.position:self.position + take])
            self.position += take
            need -= take
            if self.position == len(self.data):
                self.epoch, self.position = self.epoch + 1, 0
                self._perm = self._permutation(self.epoch)
        return torch.cat(parts)

    def __iter__(self):
        return self

    def __next__(self) -> torch.Tensor:
        idx = self.next_indices()
        share = self.batch_size // self.world_size
        return self.data[idx[self.rank * share:(self.rank + 1) * share]]

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed, "size": len(self.data)}

    def load_state_dict(self, state: dict) -> None:
        if state.get("size", len(self.data)) != len(self.data) or state.get("seed", self.seed) != self.seed:
            raise ValueError("batch sampler state is for another dataset or seed")
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self._perm = self._permutation(self.epoch)
