"""The rooms data set: frame seeds per split and the LabelledDataset wrapper."""

from __future__ import annotations

import zlib

import numpy as np

from ..base import LabelledDataset
from ..labels import NYU40_CLASSES
from ..sample import Sample
from .homes import ROOMS_PER_HOME, home_seed, home_view_scene, view_seed
from .render import render_room, render_scene


def frame_seed(seed: int, split: str, index: int) -> int:
    """The scene seed of frame ``index`` of ``split`` (stable across runs and platforms)."""
    ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, zlib.crc32(split.encode()),
                                 int(index)])
    return int(ss.generate_state(1, dtype=np.uint32)[0] & 0x7FFFFFFF)


class RoomsDataset(LabelledDataset):
    """Procedural NYUv2-like RGB-D rooms with NYU40 labels, rendered on the fly.

    With ``homes=0`` (the default) frame ``i`` of ``split`` renders the scene of
    ``frame_seed(seed, split, i)``: every frame is its own, independently drawn home. With
    ``homes`` > 0 the frames are views of homes (:mod:`.homes`): frame ``i`` is view
    ``i % views_per_home`` of home ``i // views_per_home``, and the split holds ``size``
    frames of ``ceil(size / views_per_home)`` homes; train homes and the homes of every other
    split are disjoint. Splits differ and every frame is reproducible.
    """

    class_names = NYU40_CLASSES
    has_depth = True

    def __init__(self, size: int = 1000, height: int = 240, width: int = 320, seed: int = 0,
                 split: str = "train", noise: bool = True, homes: int = 0,
                 views_per_home: int = 25) -> None:
        if int(size) < 1:
            raise ValueError(f"RoomsDataset: expected size >= 1, found {size}")
        if int(height) < 2 or int(width) < 2:
            raise ValueError(f"RoomsDataset: expected height and width >= 2, found "
                             f"{height}x{width}")
        if not split:
            raise ValueError("RoomsDataset: expected a split name, found an empty string")
        if int(homes) < 0 or int(views_per_home) < 1:
            raise ValueError(f"RoomsDataset: expected homes >= 0 and views_per_home >= 1, "
                             f"found {homes} and {views_per_home}")
        self.size, self.height, self.width = int(size), int(height), int(width)
        self.seed, self.split, self.noise = int(seed), str(split), bool(noise)
        self.homes, self.views_per_home = int(homes), int(views_per_home)

    def __len__(self) -> int:
        return self.size

    def home_of(self, index: int) -> tuple[int, int]:
        """(home seed, view) of frame ``index`` in homes mode."""
        home, view = divmod(int(index), self.views_per_home)
        return home_seed(self.seed, self.split, home), view

    def load(self, index: int) -> Sample:
        if not self.homes:
            sample = render_room(frame_seed(self.seed, self.split, index), self.height,
                                 self.width, self.noise)
            sample.name = f"rooms-{self.split}-{index:06d}"
            return sample
        home, view = self.home_of(index)
        sample = render_scene(home_view_scene(home, view), self.height, self.width,
                              self.noise, noise_seed=view_seed(home, view))
        sample.name = (f"rooms-{self.split}-home{index // self.views_per_home:04d}"
                       f"-view{view:03d}")
        return sample

    def describe(self, index: int) -> str:
        if not self.homes:
            return (f"RoomsDataset[{self.split}][{index}] (scene seed "
                    f"{frame_seed(self.seed, self.split, index)}, seed {self.seed})")
        home, view = self.home_of(index)
        return (f"RoomsDataset[{self.split}][{index}] (home seed {home}, view {view} of "
                f"{self.views_per_home}, room {view % ROOMS_PER_HOME}, seed {self.seed})")
