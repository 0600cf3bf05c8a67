"""The one noise sampler: every ``z`` a generator is fed comes from :func:`sample_z`.

A generator declares its noise with two attributes, ``z_dim`` (channels, 0 = none) and
``spatial_noise`` (False: one vector per image, broadcast over HxW by the generator; True: an
independent draw per pixel, (B, z_dim, H, W)). Anything that carries those two attributes
can describe the noise: the generator module itself, a :class:`~scmis_core.synthesize.
Synthesizer` (also when it runs an ONNX model without a torch module), a
:class:`~scmis_core.onnx_graph.SynthesisGraph`.

Training, BatchNorm re-estimation, sample grids, evaluation, synthesis, export and the
benchmarks all draw through here, so no caller can feed a distribution the generator was not
trained on (issue: BN statistics re-estimated with noise constant over the image for a
per-pixel-noise generator).
"""

from __future__ import annotations

from typing import Any

import torch


def noise_dims(source: Any) -> tuple[int, bool]:
    """``(z_dim, spatial)`` of a generator (or anything with ``z_dim`` / ``spatial_noise``)."""
    return int(getattr(source, "z_dim", 0) or 0), bool(getattr(source, "spatial_noise", False))


def noise_shape(source: Any, batch: int, height: int, width: int) -> tuple[int, ...]:
    """Shape of ``z`` for ``batch`` images of ``height`` x ``width`` (the network's size)."""
    z_dim, spatial = noise_dims(source)
    return (batch, z_dim, height, width) if spatial else (batch, z_dim)


def sample_z(source: Any, batch: int, height: int, width: int,
             rng: torch.Generator | None = None, *, device: str | torch.device | None = None,
             dtype: torch.dtype | None = None) -> torch.Tensor:
    """Standard normal noise for ``batch`` images of ``height`` x ``width``.

    ``rng``: the generator to draw from (None: torch's global one). The draw happens on the
    device of ``rng`` (else ``device``, else the CPU) and the result is moved to ``device``,
    so a CPU ``rng`` gives the same numbers for every target device. A generator without
    noise (``z_dim`` 0) gets an empty tensor and no number is drawn.
    """
    shape = noise_shape(source, batch, height, width)
    if shape[1] == 0:
        return torch.zeros(shape, device=device, dtype=dtype)
    draw_on = rng.device if rng is not None else (device if device is not None else "cpu")
    z = torch.randn(shape, generator=rng, device=draw_on, dtype=dtype)
    return z if device is None else z.to(device)
