"""The OASIS discriminator baseline (Schönfeld et al., ICLR 2021), ``model.disc = oasis``.

A U-Net of residual blocks with spectral normalisation: an encoder of 6 down blocks
(channels ``width * [2, 2, 4, 4, 8, 8]``, each halving the resolution) and a decoder of 6 up
blocks (each doubling it) that concatenate the encoder output of the same resolution, then a
1x1 conv to N+1 per-pixel logits (channel 0 = fake). Blocks: ``[LeakyReLU] conv3x3 ->
LeakyReLU -> conv3x3`` plus a (learned 1x1 when the width changes) shortcut, resampled by
2x2 average pooling (down) or nearest x2 upsampling (up). At ``width`` 64 it has about 22 M
parameters (OASIS reports 22.2 M; Table 4 of the paper). Input sides must be divisible by
2**num_blocks (64).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

OASIS_D_MULT = (2, 2, 4, 4, 8, 8)


def _sn_conv(c_in: int, c_out: int, kernel: int) -> nn.Module:
    conv = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2)
    return spectral_norm(conv)


class ResBlockD(nn.Module):
    """Residual block of the OASIS D; ``resample`` -1 = down (avg-pool), +1 = up (x2)."""

    def __init__(self, c_in: int, c_out: int, resample: int, first: bool = False):
        super().__init__()
        self.resample = resample
        self.first = first
        self.conv1 = _sn_conv(c_in, c_out, 3)
        self.conv2 = _sn_conv(c_out, c_out, 3)
        self.shortcut = _sn_conv(c_in, c_out, 1) if c_in != c_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.resample > 0:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        h = x if self.first else F.leaky_relu(x, 0.2)
        h = self.conv2(F.leaky_relu(self.conv1(h), 0.2))
        skip = x if self.shortcut is None else self.shortcut(x)
        out = h + skip
        if self.resample < 0:
            out = F.avg_pool2d(out, 2)
        return out


class OASISDiscriminator(nn.Module):
    """OASIS U-Net discriminator: ``forward(image, return_features=False)``.

    Returns logits (B, N+1, H, W) at input size, or ``(logits, feats)`` with feats the
    encoder block outputs (resolutions 1/2 .. 1/2**num_blocks).
    """

    def __init__(self, num_classes: int, in_channels: int = 3, width: int = 64,
                 num_blocks: int = 6):
        super().__init__()
        if not 1 <= num_blocks <= len(OASIS_D_MULT):
            raise ValueError(f"OASIS discriminator: expected 1..{len(OASIS_D_MULT)} blocks, "
                             f"found {num_blocks}")
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.num_blocks = num_blocks
        chans = [width * m for m in OASIS_D_MULT[:num_blocks]]
        self.down = nn.ModuleList()
        c_prev = in_channels
        for i, c in enumerate(chans):
            self.down.append(ResBlockD(c_prev, c, -1, first=(i == 0)))
            c_prev = c
        n = num_blocks
        self.up = nn.ModuleList()
        for i in range(n):
            c_in = chans[n - 1] if i == 0 else 2 * chans[n - 1 - i]
            c_out = chans[n - 2 - i] if i < n - 1 else width
            self.up.append(ResBlockD(c_in, c_out, +1))
        self.classify = nn.Conv2d(width, num_classes + 1, 1)

    def features(self, image: torch.Tensor) -> list[torch.Tensor]:
        """The encoder features of ``forward(image, return_features=True)``, without the
        decoder."""
        if image.dim() != 4 or image.shape[1] != self.in_channels:
            raise ValueError(f"OASIS discriminator: expected an image (B, {self.in_channels}, "
                             f"H, W), found shape {tuple(image.shape)}")
        div = 2 ** self.num_blocks
        h, w = image.shape[-2:]
        if h % div or w % div:
            raise ValueError(f"OASIS discriminator: expected height and width divisible by "
                             f"{div}, found {h}x{w}")
        feats = []
        x = image
        for block in self.down:
            x = block(x)
            feats.append(x)
        return feats

    def forward(self, image: torch.Tensor, return_features: bool = False):
        feats = self.features(image)
        x = self.up[0](feats[-1])
        for i in range(1, self.num_blocks):
            x = self.up[i](torch.cat([feats[-1 - i], x], dim=1))
        logits = self.classify(x)  # (B, N+1, H, W)
        return (logits, feats) if return_features else logits
