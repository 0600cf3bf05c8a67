"""Cityscapes (RGB only, label ids 0..33 with 0 = void) in its official folder layout.

Layout::

    root/leftImg8bit/{split}/{city}/{city}_{seq}_{frame}_leftImg8bit.png
    root/gtFine/{split}/{city}/{city}_{seq}_{frame}_gtFine_labelIds.png

The ``labelIds`` values are the 34 Cityscapes label ids; id 0 ("unlabeled") is void and ids
1..33 are :data:`scmis_core.data.labels.CITYSCAPES_CLASSES` (N = 33). There is no depth:
``depth_m`` is all zeros and ``has_depth`` is False.
"""

from __future__ import annotations

from pathlib import Path

from .folder import FilesDataset, FramePaths, require_dir, stem_sort_key
from .labels import CITYSCAPES_CLASSES

RGB_SUFFIX = "_leftImg8bit.png"
LABEL_SUFFIX = "_gtFine_labelIds.png"


class CityscapesDataset(FilesDataset):
    """Cityscapes fine annotations of one split (train | val | test)."""

    def __init__(self, root: str | Path, split: str = "train") -> None:
        root = require_dir(Path(root), "Cityscapes data set")
        image_dir = require_dir(root / "leftImg8bit" / split, "Cityscapes leftImg8bit")
        label_dir = require_dir(root / "gtFine" / split, "Cityscapes gtFine")
        frames = []
        for rgb_path in sorted(image_dir.glob(f"*/*{RGB_SUFFIX}")):
            city = rgb_path.parent.name
            stem = rgb_path.name[:-len(RGB_SUFFIX)]
            label_path = label_dir / city / f"{stem}{LABEL_SUFFIX}"
            if not label_path.is_file():
                raise FileNotFoundError(f"label file for {rgb_path} not found: expected "
                                        f"{label_path}")
            frames.append(FramePaths(name=stem, rgb=rgb_path, depth=None, labels=label_path))
        if not frames:
            raise ValueError(f"Cityscapes leftImg8bit folder {image_dir}: empty (expected "
                             f"{{city}}/*{RGB_SUFFIX} files)")
        frames.sort(key=lambda f: stem_sort_key(f.name))
        self.root = root
        self.split = split
        super().__init__(frames, CITYSCAPES_CLASSES, has_depth=False)
