"""Memory estimates and limits: refuse a network or an input size before it exhausts memory.

A checkpoint's stored config decides how big the generator is (``model.width=1024`` is inside
the allowed range and needs about 117 GB of weights), and the input size decides how big its
activations are (a 100000x100000 label map needs terabytes). Both are checked against a limit
*before* the memory is allocated, with an error that names the size:

- :func:`count_parameters` builds the network on torch's ``meta`` device (shapes only, no
  memory, no initialisation) and counts parameter and buffer bytes; the checkpoint loader
  compares that with the limit before building the real network.
- :class:`ActivationProfile` runs the (already built, size-checked) network once at a small
  input size and records, after every layer, the bytes of layer outputs still alive, split
  into a part that grows with the image (tensors with a spatial extent) and a part that does
  not (e.g. spectrally normalised weights). The peak at any other size is the maximum over
  that trace of ``fixed + spatial * pixels / profile_pixels``, times
  :data:`ACTIVATION_OVERHEAD` for what layer outputs do not show (convolution workspaces,
  temporaries inside a layer, allocator slack). The result is an estimate, good to about a
  factor of two: it is meant to refuse the absurd, not to plan a GPU to the last megabyte.

The default limit is :data:`DEFAULT_MAX_MEMORY_MB`; every command that loads a generator has
``--max-memory-mb`` to raise it.
"""

from __future__ import annotations

import dataclasses
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from .cli import DEFAULT_MAX_MEMORY_MB, MEMORY_LIMIT_FLAG

__all__ = ["DEFAULT_MAX_MEMORY_MB", "ACTIVATION_OVERHEAD", "LIMIT_FLAG", "ResourceLimitError",
           "format_bytes", "check_limit", "count_parameters", "generator_parameter_bytes",
           "ActivationProfile"]

#: Factor on the traced layer outputs for the memory they do not show (measured on CPU:
#: peak RSS / traced peak was 1.6-2.5 for the scmis generator at 512x512, widths 16 and 64).
ACTIVATION_OVERHEAD = 2.0

#: Command-line flag named in the errors.
LIMIT_FLAG = MEMORY_LIMIT_FLAG


class ResourceLimitError(ValueError):
    """A network or an input size needs more memory than the limit allows."""


def format_bytes(count: float) -> str:
    """``1536 * 2**20`` -> ``"1.5 GiB"``."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{int(count)} B"


def check_limit(needed_bytes: float, limit_mb: float | None, what: str) -> None:
    """Raise :class:`ResourceLimitError` naming ``what`` when ``needed_bytes`` > the limit.

    ``limit_mb`` None or <= 0 disables the check.
    """
    if limit_mb is None or limit_mb <= 0:
        return
    if needed_bytes > limit_mb * 2**20:
        raise ResourceLimitError(
            f"{what} needs an estimated {format_bytes(needed_bytes)}, more than the limit of "
            f"{format_bytes(limit_mb * 2**20)} ({LIMIT_FLAG} {int(limit_mb)}); pass a larger "
            f"{LIMIT_FLAG} if this machine has the memory")


class _SkipRandomInit(TorchFunctionMode):
    """Turn random initialisation of meta tensors into a no-op.

    ``Tensor.normal_`` has no compiled meta kernel: on meta tensors it runs a Python reference
    that imports torch._dynamo (seconds on first use). Meta tensors have no values to fill.
    """

    NAMES = frozenset({"normal_", "uniform_", "trunc_normal_", "kaiming_normal_",
                       "kaiming_uniform_", "xavier_normal_", "xavier_uniform_",
                       "orthogonal_"})

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if (getattr(func, "__name__", "") in self.NAMES and args
                and getattr(args[0], "is_meta", False)):
            return args[0]
        return func(*args, **(kwargs or {}))


def count_parameters(build: Callable[[], nn.Module]) -> int:
    """Bytes of the parameters and buffers of ``build()``, built on the meta device."""
    with _SkipRandomInit(), torch.device("meta"):
        module = build()
    tensors = list(module.parameters()) + list(module.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)


def generator_parameter_bytes(model_cfg: Any, num_classes: int) -> int:
    """Bytes of the weights of the generator ``model_cfg`` describes (nothing allocated).

    Spectral normalisation is left out of the count build (its power-iteration vectors are a
    few KB; its initial power iterations are slow on the meta device).
    """
    from .models import build_generator

    cfg = dataclasses.replace(model_cfg, spectral_norm=False)
    return count_parameters(lambda: build_generator(cfg, num_classes))


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    return []


@dataclass
class ActivationProfile:
    """Live layer-output bytes over one forward pass, measured at ``pixels`` (batch 1).

    ``trace``: (fixed bytes, spatial bytes) after every allocation and release.
    """

    pixels: int
    trace: list[tuple[int, int]]

    @classmethod
    def measure(cls, module: nn.Module, inputs: Sequence[torch.Tensor], height: int,
                width: int) -> "ActivationProfile":
        """Run ``module(*inputs)`` (no grad) with hooks on every leaf module.

        ``inputs`` are batch-1 tensors at ``height`` x ``width``. A tensor counts as spatial
        when it has four dimensions and a spatial extent above 1x1; storages shared by views
        (and in-place layers) count once, released with the first tensor that held them.
        """
        live: dict[int, tuple[int, bool]] = {}
        trace: list[tuple[int, int]] = []
        totals = [0, 0]  # fixed, spatial

        def release(key: int) -> None:
            nbytes, spatial = live.pop(key, (0, False))
            totals[spatial] -= nbytes
            trace.append((totals[0], totals[1]))

        def track(tensor: torch.Tensor) -> None:
            storage = tensor.untyped_storage()
            key = storage.data_ptr()
            if key in live or storage.nbytes() == 0:
                return
            spatial = tensor.dim() == 4 and tensor.shape[-2] * tensor.shape[-1] > 1
            live[key] = (storage.nbytes(), spatial)
            totals[spatial] += storage.nbytes()
            trace.append((totals[0], totals[1]))
            weakref.finalize(tensor, release, key)  # storages have no lasting wrapper

        def hook(_module: nn.Module, _args: Any, output: Any) -> None:
            for tensor in _tensors(output):
                track(tensor)

        leaves = [m for m in module.modules() if not any(True for _ in m.children())]
        handles = [m.register_forward_hook(hook) for m in leaves]
        was_training = module.training
        try:
            module.eval()
            with torch.no_grad():
                for tensor in inputs:
                    track(tensor)
                output = module(*inputs)
                for tensor in _tensors(output):
                    track(tensor)
                del output
        finally:
            for handle in handles:
                handle.remove()
            module.train(was_training)
        return cls(height * width, trace)

    def peak_bytes(self, batch: int, height: int, width: int) -> float:
        """Estimated peak activation memory of a forward pass at ``batch`` x H x W."""
        scale = batch * height * width / self.pixels
        peak = max((fixed + spatial * scale for fixed, spatial in self.trace), default=0.0)
        return peak * ACTIVATION_OVERHEAD
