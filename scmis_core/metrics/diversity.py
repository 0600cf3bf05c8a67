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


def class_colour_means(rgb: torch.Tensor, labels: torch.Tensor, num_classes: int
                       ) -> torch.Tensor:
    """Mean colour of every class in every image: (B, N, 3) grey levels (0-255), NaN where the
    class is absent. ``rgb``: (B, 3, H, W) in [-1, 1]; ``labels``: (B, H, W) ids 1..N."""
    rgb = (rgb.detach().float().cpu().clamp(-1, 1) + 1.0) * 127.5
    labels = labels.detach().cpu().long()
    batch = rgb.shape[0]
    onehot = torch.nn.functional.one_hot(labels.clamp(0, num_classes), num_classes + 1)
    onehot = onehot[..., 1:].permute(0, 3, 1, 2).float().reshape(batch, num_classes, -1)
    counts = onehot.sum(-1)  # (B, N)
    sums = torch.einsum("bnp,bcp->bnc", onehot, rgb.reshape(batch, 3, -1))
    means = sums / counts.clamp(min=1)[..., None]
    means[counts == 0] = float("nan")
    return means


def variety_ratio(seed_means: torch.Tensor, real_means: torch.Tensor) -> dict[str, float]:
    """How much the seeds of one label map vary a class's colour, against how much that class
    varies across real frames (issue "New appearances at camera size").

    ``seed_means``: (K seeds, M maps, N, 3) class mean colours of K seeds of M label maps;
    ``real_means``: (R frames, N, 3) of real frames. Seed spread of a class: the std over seeds
    of its mean colour (averaged over channels and over the maps that show it); real spread:
    the std over the real frames that show it. Both are averaged over the classes present in
    both (each needs >= 2 values); ratio = seed spread / real spread (1 = the seeds of one map
    vary as much as real homes do, 0 = every seed the same colours).
    """
    seeds = seed_means.float()
    per_map = torch.nanmean(torch.std(seeds, dim=0, unbiased=True), dim=-1)  # (M, N)
    seed_spread = torch.nanmean(per_map, dim=0)  # (N,) NaN where no map shows the class
    real = real_means.float()
    present = ~torch.isnan(real[..., 0])  # (R, N)
    real_spread = torch.full((real.shape[1],), float("nan"))
    for c in range(real.shape[1]):
        values = real[present[:, c], c]  # (r, 3)
        if values.shape[0] >= 2:
            real_spread[c] = values.std(dim=0, unbiased=True).mean()
    both = ~torch.isnan(seed_spread) & ~torch.isnan(real_spread)
    if not both.any():
        return {"variety_seed_std": float("nan"), "variety_real_std": float("nan"),
                "variety_ratio": float("nan"), "variety_classes": 0}
    s, r = float(seed_spread[both].mean()), float(real_spread[both].mean())
    return {"variety_seed_std": s, "variety_real_std": r,
            "variety_ratio": s / r if r > 0 else float("nan"),
            "variety_classes": int(both.sum())}


def feature_variety_ratio(seed_features: torch.Tensor, real_features: torch.Tensor) -> float:
    """Mean pairwise distance between the Inception features of the seeds of one label map
    (averaged over maps) ÷ mean pairwise distance between real frames' features.

    ``seed_features``: (K seeds, M maps, D); ``real_features``: (R, D), R >= 2.
    """
    def mean_pairwise(x: torch.Tensor) -> torch.Tensor:  # (..., n, D) -> (...)
        d = torch.cdist(x, x)
        n = x.shape[-2]
        return d.sum(dim=(-1, -2)) / (n * (n - 1))

    seeds = seed_features.float().transpose(0, 1)  # (M, K, D)
    within = float(mean_pairwise(seeds).mean())
    between = float(mean_pairwise(real_features.float()))
    return within / between if between > 0 else float("nan")
