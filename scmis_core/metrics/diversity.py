"""How much the images of one label map differ between noise seeds.

A conditional GAN can learn to ignore its noise and make the same picture of a label map for
every seed (mode collapse per label map). LPIPS would need downloaded network weights, so the
measure here is plain: generate ``K`` seeds of each label map and average, over pixels and
channels, the standard deviation across the seeds — RGB in grey levels (0-255), depth in
metres. 0 means the seeds give identical images.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import torch


def seed_spread(generate: Callable[[int], Mapping[str, torch.Tensor]],
                seeds: Sequence[int]) -> dict[str, float]:
    """Mean per-pixel standard deviation across ``seeds`` of ``generate(seed)``'s outputs.

    ``generate(seed)`` returns ``{"rgb": (B, 3, H, W) in [-1, 1], "depth_m": (B, 1, H, W)
    metres}`` (either key may be absent) for the same label maps each time. Returns
    ``seed_std_rgb`` (grey levels) and ``seed_std_depth_m`` for the keys present.
    """
    if len(seeds) < 2:
        raise ValueError(f"seed_spread: expected at least 2 seeds, found {len(seeds)}")
    stacks: dict[str, list[torch.Tensor]] = {}
    for seed in seeds:
        for key, value in generate(seed).items():
            stacks.setdefault(key, []).append(value.detach().float().cpu())
    out: dict[str, float] = {}
    if "rgb" in stacks:
        rgb = (torch.stack(stacks["rgb"]).clamp(-1, 1) + 1.0) * 127.5  # (K, B, 3, H, W)
        out["seed_std_rgb"] = float(rgb.std(dim=0, unbiased=True).mean())
    if "depth_m" in stacks:
        depth = torch.stack(stacks["depth_m"])  # (K, B, 1, H, W)
        out["seed_std_depth_m"] = float(depth.std(dim=0, unbiased=True).mean())
    return out
