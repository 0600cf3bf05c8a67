"""The rooms data set: frame seeds per split and the LabelledDataset wrapper."""

from __future__ import annotations

import zlib

import numpy as np

from ..base import LabelledDataset
from ..labels import NYU40_CLASSES
from ..sample import Sample
from .render import render_room


def frame_seed(seed: int, split: str, index: int) -> int:
    """The scene seed of frame ``index`` of ``split`` (stable across runs and platforms)."""
    ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, zlib.crc32(split.encode()),
                                 int(index)])
    return int(ss.generate_state(1, dtype=np.uint32)[0] & 0x7FFFFFFF)


class RoomsDataset(LabelledDataset):
    """Procedural NYUv2-like RGB-D rooms with NYU40 labels, rendered on the fly.

    Frame ``i`` of ``split`` renders the scene of ``frame_seed(seed, split, i)``, so splits
    differ and every frame is reproducible.
    """

    class_names = NYU40_CLASSES
    has_depth = True

    def __init__(self, size: int = 1000, height: int = 240, width: int = 320, seed: int = 0,
                 split: str = "train", noise: bool = True) -> None:
        if int(size) < 1:
            raise ValueError(f"RoomsDataset: expected size >= 1, found {size}")
        if int(height) < 2 or int(width) < 2:
            raise ValueError(f"RoomsDataset: expected height and width >= 2, found "
                             f"{height}x{width}")
        if not split:
            raise ValueError("RoomsDataset: expected a split name, found an empty string")
        self.size, self.height, self.width = int(size), int(height), int(width)
        self.seed, self.split, self.noise = int(seed), str(split), bool(noise)

    def __len__(self) -> int:
        return self.size

    def load(self, index: int) -> Sample:
        sample = render_room(frame_seed(self.seed, self.split, index), self.height,
                             self.width, self.noise)
        sample.name = f"rooms-{self.split}-{index:06d}"
        return sample

    def describe(self, index: int) -> str:
        return (f"RoomsDataset[{self.split}][{index}] (scene seed "
                f"{frame_seed(self.seed, self.split, index)}, seed {self.seed})")


# --------------------------------------------------------------------------------------------
# Command line
