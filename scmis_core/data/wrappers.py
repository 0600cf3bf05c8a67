"""Data-set wrappers: the first frames of a source (low-data runs) and an in-memory cache."""

from __future__ import annotations

from .base import LabelledDataset
from .sample import Sample


class FirstFrames(LabelledDataset):
    """The first ``count`` frames of a data set (low-data experiments)."""

    def __init__(self, dataset: LabelledDataset, count: int):
        if count > len(dataset):
            raise ValueError(f"train_frames: expected at most the {len(dataset)} frames of "
                             f"the training split, found {count}")
        self.dataset = dataset
        self.count = count
        self.class_names = dataset.class_names
        self.has_depth = dataset.has_depth

    def __len__(self) -> int:
        return self.count

    def load(self, index: int) -> Sample:
        return self.dataset[index]

    def describe(self, index: int) -> str:
        return self.dataset.describe(index)


class CachedFrames(LabelledDataset):
    """A data set whose frames are loaded once and kept in memory (small training sets)."""

    def __init__(self, dataset: LabelledDataset):
        self.dataset = dataset
        self.class_names = dataset.class_names
        self.has_depth = dataset.has_depth
        self.frames = [dataset[i] for i in range(len(dataset))]

    def __len__(self) -> int:
        return len(self.frames)

    def load(self, index: int) -> Sample:
        return self.frames[index]

    def describe(self, index: int) -> str:
        return self.dataset.describe(index)
