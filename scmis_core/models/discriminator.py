"""Adaptive alignment discriminator (AVGG, paper Sec. 3.2, docs/design.md §1) and its registry.

A per-pixel segmenter with N+1 outputs (channel 0 = "fake", channel k = class id k): a
trainable VGG-19 backbone (:class:`~scmis_core.models.vgg.VGG19Backbone`, RGB or RGB-D input)
and one head chosen by name:

- ``upsample``: 1x1 projections of the deepest features, bilinearly upsampled to input size.
- ``unet``: U-Net decoder, one up-block (x2 upsample, concat the stage skip, two 3x3 convs)
  per shallower VGG stage.
- ``pp`` (default): PSPNet pyramid pooling (bins 1, 2, 3, 6; one 1x1 branch of C/4 channels
  per bin, 3x3 bottleneck) on the deepest features, then fused top-down with the upsampled
  shallower stage features (1x1 lateral projection added, 3x3 conv per stage, as in FPN /
  UPerNet) up to full resolution.
- ``rgbd-pp``: ``pp`` with a 4-channel (RGB + depth) input (Table 4 ablation).
- ``oasis``: the OASIS U-Net discriminator baseline (``oasis_discriminator.py``).

``model.disc_logit_stride`` (``unet`` and ``pp``): 1 fuses down to the full-resolution stage
(the paper); 2 leaves the finest backbone stage out of the head, which then stops at half
resolution and upsamples its logits bilinearly, as PSPNet and the ``upsample`` head do. At
64x64 with a 32-wide ``pp`` head the full-resolution 3x3 fusion convolution alone is 30 % of
D's FLOPs (docs/performance.md).

Backbone depth. Table 4 lists the discriminators at 4.1 / 5.1 / 6.5 "MB" (read as millions of
parameters; OASIS-D at 22.2 matches OASIS's own 22.2 M). VGG-19 up to relu5_1 alone has
12.9 M parameters, so the paper's backbone cannot reach relu5_1; up to relu4_1 it has 3.5 M,
which leaves 0.6 / 1.6 / 3.0 M for the heads. ``model.disc_depth`` (default 4) keeps the
backbone up to ``relu<depth>_1``; 5 gives the full relu5_1 backbone. The parameter counts of
every head are reported in the test (``test/test_discriminator.py``).

Heads use LeakyReLU(0.2) and no normalisation (real and fake batches go through D separately,
so batch statistics would differ between them). Input sizes need not be powers of two: every
upsampling goes to the exact size of the tensor it is fused with, and the logits are
resized to the input size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..variants import resolve_disc
from .vgg import VGG19Backbone

PSP_BINS = (1, 2, 3, 6)


def _act() -> nn.Module:
    return nn.LeakyReLU(0.2, inplace=True)


def _up(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize to ``size`` (no-op when already there)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class UpsampleHead(nn.Module):
    """1x1 projections of the deepest stage -> N+1 logits, upsampled to the input size."""

    def __init__(self, channels: list[int], num_outputs: int, head_width: int):
        super().__init__()
        self.project = nn.Sequential(nn.Conv2d(channels[-1], head_width, 1), _act(),
                                     nn.Conv2d(head_width, num_outputs, 1))

    def forward(self, stages: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        return _up(self.project(stages[-1]), size)  # (B, N+1, H, W)


class UNetHead(nn.Module):
    """U-Net decoder: per shallower stage, upsample, concat the skip, two 3x3 convs."""

    def __init__(self, channels: list[int], num_outputs: int, head_width: int):
        super().__init__()
        self.blocks = nn.ModuleList()
        c_in = channels[-1]
        for c_skip in reversed(channels[:-1]):
            self.blocks.append(nn.Sequential(
                nn.Conv2d(c_in + c_skip, head_width, 3, padding=1), _act(),
                nn.Conv2d(head_width, head_width, 3, padding=1), _act()))
            c_in = head_width
        self.classify = nn.Conv2d(c_in, num_outputs, 1)

    def forward(self, stages: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        x = stages[-1]
        for block, skip in zip(self.blocks, reversed(stages[:-1])):
            x = block(torch.cat([_up(x, skip.shape[-2:]), skip], dim=1))
        return _up(self.classify(x), size)  # (B, N+1, H, W)


class PyramidPooling(nn.Module):
    """PSPNet pyramid pooling: per bin b, avg-pool to b x b, 1x1 conv to C/4, upsample back;
    concat with the input (2C channels) and a 3x3 bottleneck to ``out_channels``."""

    def __init__(self, in_channels: int, out_channels: int, bins: tuple[int, ...] = PSP_BINS):
        super().__init__()
        self.bins = bins
        branch = max(1, in_channels // len(bins))
        self.branches = nn.ModuleList(
            nn.Sequential(nn.Conv2d(in_channels, branch, 1, bias=False), _act())
            for _ in bins)
        self.bottleneck = nn.Sequential(
            nn.Conv2d(in_channels + branch * len(bins), out_channels, 3, padding=1), _act())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        pooled = [_up(conv(F.adaptive_avg_pool2d(x, b)), size)
                  for b, conv in zip(self.bins, self.branches)]
        return self.bottleneck(torch.cat([x, *pooled], dim=1))  # (B, out, h, w)


class PyramidPoolingHead(nn.Module):
    """Pyramid pooling on the deepest stage, fused top-down with the shallower stages."""

    def __init__(self, channels: list[int], num_outputs: int, head_width: int):
        super().__init__()
        self.ppm = PyramidPooling(channels[-1], head_width)
        self.laterals = nn.ModuleList(nn.Conv2d(c, head_width, 1) for c in channels[:-1])
        self.fuse = nn.ModuleList(
            nn.Sequential(nn.Conv2d(head_width, head_width, 3, padding=1), _act())
            for _ in channels[:-1])
        self.classify = nn.Conv2d(head_width, num_outputs, 1)

    def forward(self, stages: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        x = self.ppm(stages[-1])
        for s in reversed(range(len(stages) - 1)):
            skip = stages[s]
            x = self.fuse[s](_up(x, skip.shape[-2:]) + self.laterals[s](skip))
        return _up(self.classify(x), size)  # (B, N+1, H, W)


HeadFactory = Callable[[list[int], int, int], nn.Module]


class AdaptiveAlignmentDiscriminator(nn.Module):
    """VGG-19 backbone + segmentation head with N+1 outputs (channel 0 = fake).

    ``forward(image, return_features=False)``: image (B, in_channels, H, W) in [-1, 1]
    (``in_channels`` 3 for RGB, 4 for cat(rgb, depth)); returns logits (B, N+1, H, W), or
    ``(logits, feats)`` with feats the backbone activations at relu1_1 .. relu<depth>_1 (the
    features of the adaptive perceptual loss, eq. 4).
    """

    def __init__(self, num_classes: int, head: str = "pp", in_channels: int = 3,
                 width: int = 64, depth: int = 4, head_width: int = 128,
                 logit_stride: int = 1):
        super().__init__()
        if head not in AVGG_HEADS:
            raise ValueError(f"AVGG head: expected one of {', '.join(AVGG_HEADS)}, found "
                             f"{head!r}")
        if num_classes < 1:
            raise ValueError(f"discriminator: expected num_classes >= 1, found {num_classes}")
        skip_stages = logit_stride.bit_length() - 1
        if logit_stride < 1 or 2 ** skip_stages != logit_stride or skip_stages > depth - 1:
            raise ValueError(f"model.disc_logit_stride: expected a power of two from 1 to "
                             f"{2 ** (depth - 1)} (the backbone has {depth} stages), found "
                             f"{logit_stride}")
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.head_name = head
        self.backbone = VGG19Backbone(in_channels, width, depth)
        # The head sees the backbone stages from 1/logit_stride resolution down.
        self.skip_stages = skip_stages
        self.head = AVGG_HEADS[head](self.backbone.channels[skip_stages:], num_classes + 1,
                                     head_width)
        for module in self.head.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, a=0.2, nonlinearity="leaky_relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def _check(self, image: torch.Tensor) -> None:
        if image.dim() != 4 or image.shape[1] != self.in_channels:
            raise ValueError(
                f"discriminator ({self.head_name}): expected an image (B, {self.in_channels},"
                f" H, W) ({'RGB' if self.in_channels == 3 else 'cat(rgb, depth)'}), found "
                f"shape {tuple(image.shape)}")

    def forward(self, image: torch.Tensor, return_features: bool = False):
        self._check(image)
        taps, stages = self.backbone(image)
        logits = self.head(stages[self.skip_stages:], image.shape[-2:])  # (B, N+1, H, W)
        return (logits, taps) if return_features else logits

    def features(self, image: torch.Tensor) -> list[torch.Tensor]:
        """The backbone activations of ``forward(image, return_features=True)`` without
        running the head (eq. 4 needs no logits of the real images)."""
        self._check(image)
        return self.backbone(image)[0]


AVGG_HEADS: dict[str, HeadFactory] = {
    "upsample": UpsampleHead,
    "unet": UNetHead,
    "pp": PyramidPoolingHead,
}


@dataclass(frozen=True)
class DiscSpec:
    """A registry entry: how to build the discriminator named ``model.disc``."""

    build: Callable[..., nn.Module]
    in_channels: int
    description: str


def _build_avgg(head: str) -> Callable[..., nn.Module]:
    def build(model_cfg, num_classes: int, in_channels: int) -> nn.Module:
        return AdaptiveAlignmentDiscriminator(
            num_classes, head=head, in_channels=in_channels, width=model_cfg.disc_width,
            depth=model_cfg.disc_depth, head_width=model_cfg.disc_head_width,
            logit_stride=model_cfg.disc_logit_stride)
    return build


def _build_oasis(model_cfg, num_classes: int, in_channels: int) -> nn.Module:
    from .oasis_discriminator import OASISDiscriminator
    return OASISDiscriminator(num_classes, in_channels=in_channels, width=model_cfg.disc_width)


DISCRIMINATORS: dict[str, DiscSpec] = {
    "upsample": DiscSpec(_build_avgg("upsample"), 3, "AVGG + upsampled 1x1 projections"),
    "unet": DiscSpec(_build_avgg("unet"), 3, "AVGG + U-Net decoder"),
    "pp": DiscSpec(_build_avgg("pp"), 3, "AVGG + pyramid pooling (the paper's D)"),
    "rgbd-pp": DiscSpec(_build_avgg("pp"), 4, "AVGG + pyramid pooling on RGB-D input"),
    "oasis": DiscSpec(_build_oasis, 3, "OASIS U-Net of residual blocks"),
}


def build_discriminator(model_cfg, num_classes: int, in_channels: int | None = None
                        ) -> nn.Module:
    """Build the discriminator named ``model_cfg.disc`` for ``num_classes`` (void excluded).

    An empty ``model_cfg.disc`` means the variant's default head
    (:func:`scmis_core.variants.resolve_disc`).

    ``in_channels`` overrides the registry's input channels (3 RGB, 4 for ``rgbd-pp``), e.g.
    to judge depth repeated as a 3-channel image. When ``model_cfg.vgg_weights`` names a local
    torchvision-format VGG-19 file, the AVGG backbone starts from it (only disc_width 64);
    do not re-initialise the discriminator afterwards.
    """
    name = resolve_disc(model_cfg.variant, model_cfg.disc)
    if name not in DISCRIMINATORS:
        raise ValueError(f"model.disc: expected one of {', '.join(DISCRIMINATORS)}, found "
                         f"{name!r}")
    spec = DISCRIMINATORS[name]
    disc = spec.build(model_cfg, num_classes, in_channels or spec.in_channels)
    weights = getattr(model_cfg, "vgg_weights", "")
    if weights:
        if not isinstance(disc, AdaptiveAlignmentDiscriminator):
            raise ValueError(f"model.vgg_weights: only the AVGG discriminators "
                             f"(upsample, unet, pp, rgbd-pp) have a VGG-19 backbone; "
                             f"model.disc is {name!r}")
        disc.backbone.load_weights(weights)
    return disc
