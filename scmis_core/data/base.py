"""The data-set interface every source implements."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .labels import colorize_labels, voc_palette
from .sample import Sample


class LabelledDataset:
    """A random-access sequence of :class:`Sample` frames with a fixed class table.

    Subclasses set ``class_names`` (ids 1..N; void 0 is not listed) and implement
    ``__len__`` and ``load(index)``. ``__getitem__`` validates what ``load`` returns, so every
    source gives the same dtypes and a clear error naming the frame when a file is bad.
    """

    class_names: Sequence[str] = ()
    has_depth: bool = True

    @property
    def num_classes(self) -> int:
        """Semantic classes without void (N)."""
        return len(self.class_names)

    @property
    def palette(self) -> np.ndarray:
        """(N+1, 3) uint8 colours, index = class id, 0 = void (black)."""
        return voc_palette(self.num_classes + 1)

    def colorize(self, labels: np.ndarray) -> np.ndarray:
        """Label map -> RGB preview with this data set's palette."""
        return colorize_labels(labels, self.palette)

    def __len__(self) -> int:
        raise NotImplementedError

    def load(self, index: int) -> Sample:
        raise NotImplementedError

    def describe(self, index: int) -> str:
        """Human-readable name of frame ``index`` for error messages (e.g. its file path)."""
        return f"{type(self).__name__}[{index}]"

    def __getitem__(self, index: int) -> Sample:
        if not -len(self) <= index < len(self):
            raise IndexError(f"{type(self).__name__}: index {index} out of range "
                             f"0..{len(self) - 1}")
        index = index % len(self)
        return self.load(index).validate(self.num_classes, where=self.describe(index))
