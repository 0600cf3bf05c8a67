"""Discriminator passes split over two CPU threads (``train.split_d``, docs/performance.md).

On a small CPU, torch's intra-op threads scale poorly on the narrow convolutions of the
robot-size models: two threads run a ``rooms_small`` step only ~1.45x faster than one. The
AVGG and OASIS discriminators have no normalisation layer, so the logits of one image do not
depend on the other images of its batch. Each D pass of a training step can therefore run as
two half batches at the same time, one per thread with one intra-op thread each, which keeps
both cores busy for the whole pass; the gradients of the two halves are summed in a fixed
order. The numbers are those of the one-pass step up to float rounding (oneDNN may pick other
kernels for other batch sizes, and the sum runs in another order), and a run stays
reproducible.

:class:`TwoThreads` runs one function on two arguments at once; :func:`d_update` and
:func:`g_d_outputs` are the D update (eqs. 2, 7-9) and D's part of the G update (eqs. 2, 4)
built on it. The trainer uses them only where they pay: on the CPU, with two or more intra-op
threads, no ``torch.compile``, no autocast, one process, batches of two or more.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

import torch
from torch import nn

from ..losses import DiscriminatorTotalLoss, DOutputs, GeneratorLoss, mix


class TwoThreads:
    """Runs ``fn(a)`` on a worker thread and ``fn(b)`` on the calling one, each with one
    intra-op thread; the calling thread gets its intra-op threads back afterwards."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None

    def map2(self, fn: Callable[[Any], Any], a: Any, b: Any) -> tuple[Any, Any]:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="scmis-split",
                                            initializer=torch.set_num_threads, initargs=(1,))
        threads = torch.get_num_threads()
        grad = torch.is_grad_enabled()  # grad mode is per thread: the worker takes the caller's

        def worker(x: Any) -> Any:
            with torch.set_grad_enabled(grad):
                return fn(x)

        torch.set_num_threads(1)
        try:
            future = self._pool.submit(worker, a)
            rb = fn(b)
            return future.result(), rb
        finally:
            torch.set_num_threads(threads)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def _halves(batch: int) -> tuple[slice, slice]:
    cut = (batch + 1) // 2
    return slice(0, cut), slice(cut, batch)


def _leaf(t: torch.Tensor) -> torch.Tensor:
    return t.detach().requires_grad_(True)


def _sum_grads(params: Sequence[nn.Parameter], a: Sequence[torch.Tensor | None],
               b: Sequence[torch.Tensor | None]) -> None:
    for p, ga, gb in zip(params, a, b):
        if ga is None or gb is None:
            g = ga if gb is None else gb
        else:
            g = ga + gb
        if g is not None:
            p.grad = g if p.grad is None else p.grad + g


def d_update(two: TwoThreads, disc: nn.Module, loss: DiscriminatorTotalLoss,
             real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor, num_classes: int,
             generator: torch.Generator | None = None, step: int = 0
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The D update's losses with their gradients in ``disc``'s ``.grad`` (what
    ``loss(disc, real, fake, labels, generator, step=step)`` then ``backward()`` give), the
    passes over real, generated and mixed images split into two halves on two threads."""
    fake = fake.detach()
    mask = loss.mix_mask(labels, num_classes, generator, step)
    images = [real, fake]
    if mask is not None:
        mask = mask.to(real.dtype)
        images.append(mix(real, fake, mask))
    first, second = _halves(real.shape[0])
    inputs = [torch.cat([x[part] for x in images]) for part in (first, second)]
    outs = two.map2(disc, *inputs)  # each (len(images) * half, N+1, H, W), with D's graph
    leaves = [_leaf(o) for o in outs]
    sizes = (first.stop - first.start, second.stop - second.start)
    per_image = [torch.cat(pair) for pair in zip(leaves[0].split(sizes[0]),
                                                  leaves[1].split(sizes[1]))]
    total, terms = loss.from_logits(per_image[0], per_image[1], labels, mask,
                                    per_image[2] if mask is not None else None)
    grad_outs = torch.autograd.grad(total, leaves)
    params = [p for p in disc.parameters() if p.requires_grad]
    grads = two.map2(lambda og: torch.autograd.grad(og[0], params, og[1], allow_unused=True),
                     (outs[0], grad_outs[0]), (outs[1], grad_outs[1]))
    _sum_grads(params, *grads)
    return total.detach(), terms


def g_d_outputs(two: TwoThreads, disc: nn.Module, loss: GeneratorLoss, fake: torch.Tensor,
                real: torch.Tensor | None
                ) -> tuple[DOutputs, Callable[[torch.Tensor], torch.Tensor]]:
    """D's outputs for the G loss (``loss.d_outputs(disc, fake, real)``), computed as two
    halves on two threads from a detached copy of ``fake``.

    Returns the outputs and ``to_fake(total)``: given the G loss built from them, the gradient
    of that loss with respect to ``fake`` (through D, both halves at once), for
    ``torch.autograd.backward([total, fake], [None, grad])``. D's parameters get no gradient.
    """
    first, second = _halves(fake.shape[0])
    parts = [(_leaf(fake[part]), None if real is None else real[part])
             for part in (first, second)]

    def run(part: tuple[torch.Tensor, torch.Tensor | None]) -> DOutputs:
        return loss.d_outputs(disc, part[0], part[1])

    outs = two.map2(run, *parts)
    leaves = [(_leaf(logits), None if ff is None else [_leaf(f) for f in ff], fr)
              for logits, ff, fr in outs]
    (la, fa, ra), (lb, fb, rb) = leaves
    logits = torch.cat([la, lb])
    feats_fake = None if fa is None or fb is None else [torch.cat(p) for p in zip(fa, fb)]
    feats_real = None if ra is None or rb is None else [torch.cat(p) for p in zip(ra, rb)]

    def flat(out: DOutputs) -> list[torch.Tensor]:
        return [out[0], *(out[1] or [])]

    def to_fake(total: torch.Tensor) -> torch.Tensor:
        mine = [flat(leaf) for leaf in leaves]
        grads = torch.autograd.grad(total, mine[0] + mine[1], retain_graph=True,
                                    allow_unused=True)
        split = len(mine[0])
        jobs = [(flat(out), grads[:split] if i == 0 else grads[split:], part[0])
                for i, (out, part) in enumerate(zip(outs, parts))]

        def back(job: tuple[list[torch.Tensor], Sequence[torch.Tensor | None], torch.Tensor]
                 ) -> torch.Tensor:
            out, grad, x = job
            pairs = [(o, g) for o, g in zip(out, grad) if g is not None]
            return torch.autograd.grad([o for o, _ in pairs], x, [g for _, g in pairs])[0]

        ga, gb = two.map2(back, *jobs)
        return torch.cat([ga, gb])

    return (logits, feats_fake, feats_real), to_fake
