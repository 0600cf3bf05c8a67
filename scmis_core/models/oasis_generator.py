"""The OASIS generator (Schönfeld et al. 2021) used by the ``oasis`` / ``rgbd-oasis`` baselines.

No encoder: every SPADE layer embeds ``[onehot ; z]`` itself (resized with nearest
interpolation to the layer's resolution, ``conv3x3 -> ReLU`` to ``spade_hidden`` channels);
the decoder starts from ``[onehot ; z]`` resized to ``H / 2**num_scales``. With width 64,
5 scales (6 ResNet blocks), SPADE hidden 128 this is OASIS's 71.3 M-parameter generator
(41 classes, z 64). ``rgbd-oasis`` is the same network with a 4-channel head split into
rgb / depth (the paper's RGB-D OASIS).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .generator import OUTPUT_CHANNELS, ConditionalGenerator
from .spade import SPADEDecoder, channel_schedule


class OASISGenerator(ConditionalGenerator):
    """OASIS generator: SPADE ResNet decoder conditioned on ``[onehot ; z]`` at every scale.

    Args:
        num_classes: N (one-hot channels, void excluded).
        decoders: output keys per decoder: ``(("rgb",),)`` or ``(("rgb", "depth"),)``.
        width, num_scales, z_dim, spade_hidden, spectral_norm, spatial_noise: as in
            :class:`~scmis_core.models.generator.SCMISGenerator`.
    """

    def __init__(self, num_classes: int, decoders: Sequence[Sequence[str]] = (("rgb",),), *,
                 width: int = 16, num_scales: int = 5, z_dim: int = 64, spade_hidden: int = 32,
                 spectral_norm: bool = True, spatial_noise: bool = False) -> None:
        super().__init__(num_classes, z_dim, num_scales, decoders, spatial_noise)
        widths = channel_schedule(width, num_scales)
        cond = [self.in_channels] * (num_scales + 1)
        self.decoders = nn.ModuleDict({
            self.decoder_name(keys): SPADEDecoder(
                self.in_channels, sum(OUTPUT_CHANNELS[k] for k in keys), widths, cond,
                spade_hidden, embed=True, spectral_norm=spectral_norm)
            for keys in self.decoder_keys})

    def forward(self, onehot: torch.Tensor, z: torch.Tensor | None = None
                ) -> dict[str, torch.Tensor]:
        """``onehot`` (B, N, H, W), ``z`` None | (B, z_dim) | (B, z_dim, H, W) -> images."""
        x = self.make_input(onehot, z)  # (B, N + z_dim, H, W)
        h, w = x.shape[-2:]
        s = self.num_scales
        # [onehot ; z] at each block's resolution, coarse (H/2^S) to fine (H): resized once
        # here instead of inside each of the block's SPADE layers (same result).
        conds = [nn.functional.interpolate(x, size=(h >> (s - i), w >> (s - i)),
                                           mode="nearest") if i < s else x
                 for i in range(s + 1)]
        images = [dec(conds[0], conds) for dec in self.decoders.values()]
        return self.split_outputs(images)
