"""The SCMIS generator (Sec. 3.1): modal-independent encoder + modal-dependent SPADE decoders.

Input ``[onehot ; z]`` (one-hot labels with void excluded, noise broadcast over HxW or
spatial). The encoder (``num_scales`` blocks of stride-2 ``conv3x3 -> BatchNorm -> ReLU``)
produces ``e_1 .. e_S`` at ``H/2 .. H/2^S``; the input itself serves as ``e_0`` for the
full-resolution block. Each decoder starts from ``[onehot ; z]`` resized (nearest) to
``H/2^S``, and its block at resolution ``H/2^l`` is SPADE-conditioned on ``e_l``.

Decoder widths follow :func:`~scmis_core.models.spade.channel_schedule` (OASIS's
``width * [16, 16, 16, 8, 4, 2, 1]`` for 5 scales); encoder block l has the width of the
decoder's output at the same resolution (``widths[S + 1 - l]``, so ``2 * width`` at H/2 up to
``16 * width``).

Because every decoder conditions on the same ``e_l``, the SPADE embedding
(``conv3x3(e_l) -> ReLU`` to ``spade_hidden`` channels) is computed once per scale and shared
by all SPADE layers of that scale in every decoder (``share_embedding=True``,
docs/design.md §7); with ``share_embedding=False`` every SPADE layer embeds ``e_l`` itself, as
in SPADE / OASIS.

Variants differ only in the decoders they build (``decoders``: one tuple of output keys per
decoder, e.g. ``(("rgb",), ("depth",))`` for scmis, ``(("rgb", "depth"),)`` for 4dgen whose
single decoder has 4 channels split into rgb / depth); the forward pass has no per-variant
branches.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .noise import sample_z
from .spade import SPADEDecoder, channel_schedule, make_conv

#: Channels of each output key.
OUTPUT_CHANNELS = {"rgb": 3, "depth": 1}


class ConditionalGenerator(nn.Module):
    """Shared input handling of the generators: checks, noise sampling, output split.

    Subclasses set ``decoders`` (one tuple of output keys per decoder) and implement
    :meth:`forward` with :meth:`make_input` and :meth:`split_outputs`.

    Attributes:
        num_classes: N, channels of the one-hot input (void excluded).
        z_dim: noise channels (0 = no noise).
        spatial_noise: sample (B, z_dim, H, W) instead of (B, z_dim) when ``z`` is None.
        num_scales: H and W must be divisible by ``2**num_scales``.
        outputs: the keys the forward pass returns, e.g. ``("rgb", "depth")``.
    """

    def __init__(self, num_classes: int, z_dim: int, num_scales: int,
                 decoders: Sequence[Sequence[str]], spatial_noise: bool = False) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"generator: expected num_classes >= 1, found {num_classes}")
        if z_dim < 0:
            raise ValueError(f"generator: expected z_dim >= 0, found {z_dim}")
        keys = [k for dec in decoders for k in dec]
        unknown = [k for k in keys if k not in OUTPUT_CHANNELS]
        if not keys or unknown or len(set(keys)) != len(keys):
            raise ValueError(f"generator: expected distinct output keys among "
                             f"{tuple(OUTPUT_CHANNELS)}, found {keys}")
        self.num_classes = num_classes
        self.z_dim = z_dim
        self.num_scales = num_scales
        self.spatial_noise = spatial_noise
        self.decoder_keys = tuple(tuple(dec) for dec in decoders)
        self.outputs = tuple(keys)

    @staticmethod
    def decoder_name(keys: Sequence[str]) -> str:
        """Module name of the decoder emitting ``keys`` (``rgb``, ``depth``, ``rgbd``)."""
        return "rgbd" if tuple(keys) == ("rgb", "depth") else "_".join(keys)

    @property
    def in_channels(self) -> int:
        """Channels of ``[onehot ; z]``."""
        return self.num_classes + self.z_dim

    def make_input(self, onehot: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        """Check the inputs and return ``[onehot ; z]`` (B, N + z_dim, H, W).

        ``z`` None is drawn by :func:`~scmis_core.models.noise.sample_z` from torch's global
        generator on the input's device (reproducible with ``torch.manual_seed``);
        (B, z_dim) is broadcast over HxW; (B, z_dim, H, W) is used as is.
        """
        if onehot.dim() != 4 or onehot.shape[1] != self.num_classes:
            raise ValueError(f"generator: expected onehot of shape (B, {self.num_classes}, H, W) "
                             f"(num_classes channels, void excluded), found "
                             f"{tuple(onehot.shape)}")
        b, _, h, w = onehot.shape
        div = 2 ** self.num_scales
        if h % div or w % div:
            raise ValueError(f"generator: expected H and W divisible by 2**num_scales = {div}, "
                             f"found H={h}, W={w}")
        if z is None:
            z = sample_z(self, b, h, w, device=onehot.device, dtype=onehot.dtype)
        if z.dim() == 2 and tuple(z.shape) == (b, self.z_dim):
            z = z[:, :, None, None].expand(b, self.z_dim, h, w)
        elif z.dim() != 4 or tuple(z.shape) != (b, self.z_dim, h, w):
            raise ValueError(f"generator: expected z of shape ({b}, {self.z_dim}) or "
                             f"({b}, {self.z_dim}, {h}, {w}), found {tuple(z.shape)}")
        return torch.cat([onehot, z.to(onehot.dtype)], dim=1)  # (B, N + z_dim, H, W)

    def split_outputs(self, images: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        """One tensor per decoder -> ``{"rgb": (B,3,H,W), "depth": (B,1,H,W)}`` subset."""
        out: dict[str, torch.Tensor] = {}
        for keys, image in zip(self.decoder_keys, images):
            sizes = [OUTPUT_CHANNELS[k] for k in keys]
            out.update(zip(keys, torch.split(image, sizes, dim=1)))
        return out


class ModalIndependentEncoder(nn.Module):
    """``num_scales`` blocks of stride-2 ``conv3x3 -> BatchNorm -> ReLU``.

    ``forward`` returns ``[e_1, ..., e_S]`` with ``e_l`` of shape (B, widths[l-1], H/2^l, W/2^l).
    """

    def __init__(self, in_channels: int, widths: Sequence[int]) -> None:
        super().__init__()
        chans = [in_channels, *widths]
        self.blocks = nn.ModuleList(
            nn.Sequential(make_conv(chans[i], chans[i + 1], stride=2, bias=False),
                          nn.BatchNorm2d(chans[i + 1]), nn.ReLU())
            for i in range(len(widths)))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, C, H, W) -> list of S tensors, fine to coarse."""
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats


class SCMISGenerator(ConditionalGenerator):
    """Encoder + one SPADE decoder per entry of ``decoders`` (scmis, scmis-rgb, -depth, 4dgen).

    Args:
        num_classes: N (one-hot channels, void excluded).
        decoders: output keys per decoder, e.g. ``(("rgb",), ("depth",))``.
        width: base width (paper 64); see :func:`channel_schedule`.
        num_scales: encoder blocks = decoder upsamplings.
        z_dim: noise channels.
        spade_hidden: SPADE embedding width (paper 128).
        spectral_norm: spectral norm on the decoders' ResNet-block convolutions.
        share_embedding: one SPADE embedding per scale shared by all decoders and layers.
        spatial_noise: sample per-pixel noise when ``z`` is None.
    """

    def __init__(self, num_classes: int, decoders: Sequence[Sequence[str]], *, width: int = 16,
                 num_scales: int = 5, z_dim: int = 64, spade_hidden: int = 32,
                 spectral_norm: bool = True, share_embedding: bool = True,
                 spatial_noise: bool = False) -> None:
        super().__init__(num_classes, z_dim, num_scales, decoders, spatial_noise)
        widths = channel_schedule(width, num_scales)
        s = num_scales
        # e_l has the decoder's output width at H/2^l: widths[s + 1 - l], l = 1..S.
        enc_widths = [widths[s + 1 - level] for level in range(1, s + 1)]
        self.encoder = ModalIndependentEncoder(self.in_channels, enc_widths)
        # Conditioning of decoder block i (resolution H/2^(S-i)) is e_(S-i), coarse to fine;
        # e_0 is the input itself.
        cond_channels = [enc_widths[s - i - 1] if i < s else self.in_channels
                         for i in range(s + 1)]
        self.share_embedding = share_embedding
        if share_embedding:
            self.embeds = nn.ModuleList(
                nn.Sequential(make_conv(c, spade_hidden), nn.ReLU()) for c in cond_channels)
            dec_cond = [spade_hidden] * (s + 1)
        else:
            self.embeds = nn.ModuleList(nn.Identity() for _ in cond_channels)
            dec_cond = cond_channels
        self.decoders = nn.ModuleDict({
            self.decoder_name(keys): SPADEDecoder(
                self.in_channels, sum(OUTPUT_CHANNELS[k] for k in keys), widths, dec_cond,
                spade_hidden, embed=not share_embedding, spectral_norm=spectral_norm)
            for keys in self.decoder_keys})

    def forward(self, onehot: torch.Tensor, z: torch.Tensor | None = None
                ) -> dict[str, torch.Tensor]:
        """``onehot`` (B, N, H, W), ``z`` None | (B, z_dim) | (B, z_dim, H, W) -> images."""
        x = self.make_input(onehot, z)  # (B, N + z_dim, H, W)
        feats = self.encoder(x)  # e_1 .. e_S, fine to coarse
        levels = [*reversed(feats), x]  # e_S .. e_1, e_0: one per decoder block
        conds = [embed(m) for embed, m in zip(self.embeds, levels)]
        seed = nn.functional.interpolate(x, size=feats[-1].shape[-2:], mode="nearest")
        images = [dec(seed, conds) for dec in self.decoders.values()]
        return self.split_outputs(images)
