"""Spatially-adaptive normalisation (SPADE, eq. 1) and the SPADE ResNet decoder.

Building blocks shared by the SCMIS generator (``generator.py``) and the OASIS generator
(``oasis_generator.py``):

- :class:`SPADE`: parameter-free BatchNorm2d (``affine=False``, so
  ``nn.SyncBatchNorm.convert_sync_batchnorm`` turns it into SyncBatchNorm under multi-GPU DDP)
  modulated by ``gamma, beta`` predicted from a conditioning tensor:
  ``y = norm(x) * (1 + gamma) + beta``. The conditioning is either embedded by the layer itself
  (``conv3x3 -> ReLU``, as in SPADE / OASIS) or arrives already embedded (``embed=False``) so
  that one embedding can serve several layers (docs/design.md §7).
- :class:`SPADEResBlock`: OASIS / SPADE style ``SPADE -> LeakyReLU(0.2) -> conv3x3`` twice,
  plus a learned ``SPADE -> conv1x1`` shortcut when the channel count changes.
- :class:`SPADEDecoder`: a conv3x3 stem on the coarse seed, ``num_scales + 1`` SPADE ResNet
  blocks with x2 nearest upsampling in between, then ``LeakyReLU -> conv3x3 -> tanh``.
- :func:`channel_schedule`: the decoder widths, ``width * [16, 16, 16, 8, 4, 2, 1]`` (OASIS)
  for 5 scales, cut from the left for fewer scales and padded with 16 on the left for more.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

#: OASIS decoder width multipliers (6 ResNet blocks = 5 upsamplings); entry i is the input
#: width of block i, the last entry the width of the full-resolution output block.
OASIS_MULTIPLIERS = (16, 16, 16, 8, 4, 2, 1)

#: Xavier-normal gain of every convolution (OASIS initialisation).
INIT_GAIN = 0.02

LEAKY_SLOPE = 0.2


def channel_schedule(width: int, num_scales: int) -> list[int]:
    """Decoder widths for ``num_scales`` upsamplings: ``num_scales + 2`` entries.

    Entry i is the input width of ResNet block i (block i runs at ``H / 2**(num_scales - i)``),
    entry i + 1 its output width, the last entry the width before the output conv. For
    ``num_scales = 5`` this is OASIS's ``width * [16, 16, 16, 8, 4, 2, 1]``; fewer scales keep
    the last (finest) entries, e.g. 3 scales -> ``width * [16, 8, 4, 2, 1]``; more scales
    repeat 16 at the coarse end.
    """
    if width < 1 or num_scales < 1:
        raise ValueError(f"channel_schedule: expected width >= 1 and num_scales >= 1, "
                         f"found width={width}, num_scales={num_scales}")
    n = num_scales + 2
    mults = (16,) * max(0, n - len(OASIS_MULTIPLIERS)) + OASIS_MULTIPLIERS[-n:]
    return [width * m for m in mults]


def make_conv(in_channels: int, out_channels: int, kernel_size: int = 3, *, stride: int = 1,
              bias: bool = True, spectral_norm: bool = False) -> nn.Module:
    """Conv2d with 'same' padding, Xavier-normal init (gain 0.02), optional spectral norm.

    The init runs before the spectral-norm parametrisation is attached, so the stored
    ``original`` weight is the Xavier one.
    """
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                     padding=kernel_size // 2, bias=bias)
    nn.init.xavier_normal_(conv.weight, gain=INIT_GAIN)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    if spectral_norm:
        conv = _spectral_norm(conv)
    return conv


def resize_to(cond: torch.Tensor, ref: torch.Tensor, mode: str = "nearest") -> torch.Tensor:
    """Resize ``cond`` (B, C, h, w) to the spatial size of ``ref`` (no-op when equal)."""
    if cond.shape[-2:] == ref.shape[-2:]:
        return cond
    return F.interpolate(cond, size=ref.shape[-2:], mode=mode)


class SPADE(nn.Module):
    """Eq. (1): ``y = BN(x) * (1 + gamma(m)) + beta(m)`` with batch statistics, no BN affine.

    Args:
        channels: channels of the normalised feature ``x``.
        cond_channels: channels of the conditioning ``m``; with ``embed=False`` it must equal
            ``hidden`` (the caller passes an already embedded tensor).
        hidden: channels of the embedding that the gamma / beta heads read.
        embed: own a ``conv3x3(cond_channels, hidden) -> ReLU`` embedding (SPADE / OASIS); if
            False, ``m`` is used as the embedding directly (shared between layers).
        resize_mode: how ``m`` is resized to the size of ``x`` ("nearest" for label maps).
    """

    def __init__(self, channels: int, cond_channels: int, hidden: int, *, embed: bool = True,
                 resize_mode: str = "nearest") -> None:
        super().__init__()
        if not embed and cond_channels != hidden:
            raise ValueError(f"SPADE without its own embedding expects cond_channels == hidden, "
                             f"found cond_channels={cond_channels}, hidden={hidden}")
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.embed = (nn.Sequential(make_conv(cond_channels, hidden), nn.ReLU())
                      if embed else nn.Identity())
        self.gamma = make_conv(hidden, channels)
        self.beta = make_conv(hidden, channels)
        self.resize_mode = resize_mode

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` (B, C, h, w) and modulate it with ``cond`` (B, Cm, h', w')."""
        emb = self.embed(resize_to(cond, x, self.resize_mode))  # (B, hidden, h, w)
        return self.norm(x) * (1 + self.gamma(emb)) + self.beta(emb)


class SPADEResBlock(nn.Module):
    """OASIS / SPADE ResNet block: ``(SPADE -> LeakyReLU 0.2 -> conv3x3) x 2`` + shortcut.

    The middle width is ``min(in, out)``; the shortcut is ``SPADE -> conv1x1 (no bias)`` when
    ``in != out`` and the identity otherwise. Spectral norm (optional) covers the block's
    three convolutions, not the SPADE heads (as OASIS).
    """

    def __init__(self, in_channels: int, out_channels: int, cond_channels: int, hidden: int, *,
                 embed: bool = True, spectral_norm: bool = False) -> None:
        super().__init__()
        mid = min(in_channels, out_channels)
        self.norm_0 = SPADE(in_channels, cond_channels, hidden, embed=embed)
        self.conv_0 = make_conv(in_channels, mid, spectral_norm=spectral_norm)
        self.norm_1 = SPADE(mid, cond_channels, hidden, embed=embed)
        self.conv_1 = make_conv(mid, out_channels, spectral_norm=spectral_norm)
        self.learned_shortcut = in_channels != out_channels
        if self.learned_shortcut:
            self.norm_s = SPADE(in_channels, cond_channels, hidden, embed=embed)
            self.conv_s = make_conv(in_channels, out_channels, 1, bias=False,
                                    spectral_norm=spectral_norm)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """(B, in, h, w) -> (B, out, h, w), modulated by ``cond``."""
        shortcut = self.conv_s(self.norm_s(x, cond)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, cond), LEAKY_SLOPE))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, cond), LEAKY_SLOPE))
        return shortcut + dx


class SPADEDecoder(nn.Module):
    """Coarse seed -> image: stem conv, SPADE ResNet blocks with x2 upsampling, tanh output.

    Args:
        seed_channels: channels of the seed (``[onehot ; z]`` at the coarsest scale).
        out_channels: output channels (3 RGB, 1 depth, 4 RGB-D).
        widths: :func:`channel_schedule` output; ``len(widths) - 1`` blocks.
        cond_channels: channels of the conditioning of each block, coarse to fine.
        hidden: SPADE hidden width.
        embed: whether each SPADE embeds its conditioning itself (see :class:`SPADE`).
        spectral_norm: spectral norm on the ResNet blocks' convolutions.
    """

    def __init__(self, seed_channels: int, out_channels: int, widths: Sequence[int],
                 cond_channels: Sequence[int], hidden: int, *, embed: bool = True,
                 spectral_norm: bool = False) -> None:
        super().__init__()
        num_blocks = len(widths) - 1
        if len(cond_channels) != num_blocks:
            raise ValueError(f"SPADEDecoder: expected {num_blocks} conditioning widths (one per "
                             f"block), found {len(cond_channels)}")
        self.stem = make_conv(seed_channels, widths[0])
        self.blocks = nn.ModuleList(
            SPADEResBlock(widths[i], widths[i + 1], cond_channels[i], hidden, embed=embed,
                          spectral_norm=spectral_norm)
            for i in range(num_blocks))
        self.to_out = make_conv(widths[-1], out_channels)

    def forward(self, seed: torch.Tensor, conds: Sequence[torch.Tensor]) -> torch.Tensor:
        """``seed`` (B, Cs, H/2^S, W/2^S) and one conditioning per block -> (B, out, H, W)."""
        x = self.stem(seed)  # (B, widths[0], H/2^S, W/2^S)
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            x = block(x, conds[i])
            if i < last:
                x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return torch.tanh(self.to_out(F.leaky_relu(x, LEAKY_SLOPE)))  # (B, out, H, W)
