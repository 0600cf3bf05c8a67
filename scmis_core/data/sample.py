"""The one sample type every data source yields."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Sample:
    """One labelled RGB-D frame.

    rgb: uint8 (H, W, 3), RGB order.
    depth_m: float32 (H, W), metric depth in metres; 0 = no measurement (RGB-only sources
        such as Cityscapes give all zeros).
    labels: int64 (H, W), class ids 0..N with 0 = void.
    name: an identifier of the frame (file stem or index), used when exporting.
    """

    rgb: np.ndarray
    depth_m: np.ndarray
    labels: np.ndarray
    name: str = ""

    def validate(self, num_classes: int | None = None, where: str = "sample") -> "Sample":
        """Check dtypes, shapes and label range; raise ValueError naming ``where``."""
        if self.rgb.dtype != np.uint8 or self.rgb.ndim != 3 or self.rgb.shape[2] != 3:
            raise ValueError(f"{where}: expected rgb uint8 (H, W, 3), found "
                             f"{self.rgb.dtype} {self.rgb.shape}")
        if self.depth_m.dtype != np.float32 or self.depth_m.ndim != 2:
            raise ValueError(f"{where}: expected depth_m float32 (H, W), found "
                             f"{self.depth_m.dtype} {self.depth_m.shape}")
        if self.labels.dtype != np.int64 or self.labels.ndim != 2:
            raise ValueError(f"{where}: expected labels int64 (H, W), found "
                             f"{self.labels.dtype} {self.labels.shape}")
        hw = self.rgb.shape[:2]
        if self.depth_m.shape != hw or self.labels.shape != hw:
            raise ValueError(f"{where}: rgb, depth and labels differ in size: rgb {hw}, "
                             f"depth {self.depth_m.shape}, labels {self.labels.shape}")
        if num_classes is not None and self.labels.size:
            lo, hi = int(self.labels.min()), int(self.labels.max())
            if lo < 0 or hi > num_classes:
                raise ValueError(f"{where}: expected class ids in 0..{num_classes}, "
                                 f"found {lo}..{hi}")
        return self
