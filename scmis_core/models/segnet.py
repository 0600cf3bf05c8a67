"""A compact RGB-D segmentation network (two encoders, additive fusion, U-Net decoder).

It is the semantic-consistency judge of ``scmis_core.evaluate`` until ESANet
(``scmis_core.models.esanet``) is trained, and a fast baseline for CPU experiments. Input:
RGB (B,3,H,W) in [-1,1] and depth (B,1,H,W) in [-1,1] (``depth_range.metres_to_unit``);
output: logits (B, N, H, W) over class ids 1..N (void is not predicted).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True))


class SmallRGBDUNet(nn.Module):
    """RGB and depth encoders of ``len(widths)`` stages (stride 2 after the first), depth
    features added into the RGB branch after every stage, U-Net decoder with skips."""

    def __init__(self, num_classes: int, widths: tuple[int, ...] = (16, 32, 64, 128),
                 use_depth: bool = True):
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"SmallRGBDUNet: expected num_classes >= 1, found {num_classes}")
        self.num_classes = num_classes
        self.use_depth = use_depth
        self.multiple = 2 ** (len(widths) - 1)
        chans = (3,) + tuple(widths)
        self.rgb_enc = nn.ModuleList(_block(chans[i], chans[i + 1], 1 if i == 0 else 2)
                                     for i in range(len(widths)))
        dchans = (1,) + tuple(widths)
        self.depth_enc = nn.ModuleList(_block(dchans[i], dchans[i + 1], 1 if i == 0 else 2)
                                       for i in range(len(widths))) if use_depth else None
        self.dec = nn.ModuleList(_block(widths[i + 1] + widths[i], widths[i], 1)
                                 for i in reversed(range(len(widths) - 1)))
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor | None = None) -> torch.Tensor:
        """(B,3,H,W), (B,1,H,W) -> logits (B,N,H,W); H, W multiples of ``self.multiple``."""
        if rgb.shape[-2] % self.multiple or rgb.shape[-1] % self.multiple:
            raise ValueError(f"SmallRGBDUNet: expected H and W divisible by {self.multiple}, "
                             f"found {tuple(rgb.shape[-2:])}")
        skips = []
        x, d = rgb, depth
        for i, enc in enumerate(self.rgb_enc):
            x = enc(x)
            if self.depth_enc is not None:
                if d is None:
                    raise ValueError("SmallRGBDUNet: this model needs a depth input")
                d = self.depth_enc[i](d)
                x = x + d  # fuse depth into the RGB branch after every stage
            skips.append(x)
        for dec, skip in zip(self.dec, reversed(skips[:-1])):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = dec(torch.cat([x, skip], dim=1))
        return self.head(x)  # (B, N, H, W)
