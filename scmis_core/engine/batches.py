"""Data order that can resume mid-epoch: a seeded, rank-sharded sampler and a batch stream."""

from __future__ import annotations

import math
from typing import Iterator

import torch

from ..config import ConfigError
from ..data.transforms import TorchDataset


class ResumableSampler(torch.utils.data.Sampler[int]):
    """Seeded per-epoch permutation, sharded over ranks, that can start mid-epoch.

    The order of epoch ``e`` depends only on (seed, e); rank r takes every world-th index
    (the permutation is padded by wrap-around so every rank gets the same count, like
    ``DistributedSampler``). :meth:`set_position` selects the epoch and how many of this
    rank's indices to skip.
    """

    def __init__(self, size: int, seed: int, rank: int = 0, world_size: int = 1):
        self.size, self.seed, self.rank, self.world = size, seed, rank, world_size
        self.per_rank = math.ceil(size / world_size)
        self.epoch, self.offset = 0, 0

    def set_position(self, epoch: int, offset: int) -> None:
        """Start at index ``offset`` of this rank's share of epoch ``epoch``."""
        self.epoch, self.offset = epoch, offset

    def __len__(self) -> int:
        return self.per_rank - self.offset

    def __iter__(self) -> Iterator[int]:
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.size, generator=gen).tolist()
        order += order[: self.per_rank * self.world - self.size]
        mine = order[self.rank::self.world]
        return iter(mine[self.offset:])


class BatchStream:
    """Endless batches with a known position (epoch, batch offset) for resuming.

    Incomplete last batches are dropped, so an epoch has ``len(dataset) // world //
    batch_size`` batches and the position after ``step`` batches is computable.
    """

    def __init__(self, dataset: TorchDataset, batch_size: int, seed: int, num_workers: int,
                 rank: int = 0, world_size: int = 1, pin_memory: bool = False):
        self.dataset = dataset
        self.batch_size = batch_size
        self.sampler = ResumableSampler(len(dataset), seed, rank, world_size)
        self.batches_per_epoch = self.sampler.per_rank // batch_size
        if self.batches_per_epoch == 0:
            raise ConfigError(f"train.batch_size: {batch_size} is larger than the "
                              f"{self.sampler.per_rank} training frames of each process")
        self.num_workers = num_workers
        self.pin_memory = pin_memory

    def from_step(self, step: int) -> Iterator[dict[str, torch.Tensor]]:
        """Yield the batches of steps ``step``, ``step+1``, ... forever."""
        epoch, offset = divmod(step, self.batches_per_epoch)
        while True:
            self.sampler.set_position(epoch, offset * self.batch_size)
            self.dataset.set_epoch(epoch)
            loader = torch.utils.data.DataLoader(
                self.dataset, batch_size=self.batch_size, sampler=self.sampler,
                num_workers=self.num_workers, pin_memory=self.pin_memory, drop_last=True,
                persistent_workers=False)
            yield from loader
            epoch, offset = epoch + 1, 0
