"""Export a trained generator to ONNX and check it against PyTorch.

``python -m scmis_core.export --checkpoint G.pt --onnx out.onnx [--size HxW | --dynamic]``

writes the generator (EMA weights unless ``--raw-weights``; no discriminator) as an ONNX
graph of opset :data:`~scmis_core.onnx_graph.OPSET` (inputs ``labels`` int64 (B,H,W) and the
noise ``z``; outputs ``rgb`` in [-1, 1] and ``depth_m`` in metres; layout and metadata in
:mod:`scmis_core.onnx_graph`), runs ``onnx.checker`` on it, and compares onnxruntime (CPU)
with PyTorch on seeded label maps and noise: the maximum absolute difference of RGB on the
[0, 255] scale and of depth in metres must stay within :data:`RGB_TOLERANCE` and
:data:`DEPTH_TOLERANCE_M`, else nothing is written. The file is written atomically.

``--size HxW`` fixes the input size (any label map is resized to it by the synthesizer);
``--dynamic`` (the default when no size is given) leaves H and W symbolic (multiples of
``2**num_scales``). Run the file with ``Synthesizer.from_checkpoint("out.onnx",
backend="onnxruntime")``, ``python -m scmis_core.synthesize --backend onnxruntime`` or the
synth node's ``backend:=onnxruntime`` parameter.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .cli import entry_point, parse_size
from .onnx_graph import OPSET, check_model, export_onnx
from .runtime import atomic_write
from .synthesize import Synthesizer

#: Largest accepted |onnxruntime - torch| on RGB in [0, 255] (half a grey level: the uint8
#: images differ by at most one level) and on depth in metres (1 mm).
RGB_TOLERANCE = 0.5
DEPTH_TOLERANCE_M = 1e-3


def blocky_labels(batch: int, height: int, width: int, num_classes: int, seed: int
                  ) -> np.ndarray:
    """Seeded test label maps (B, H, W) int64: 6x8 blocks of random ids 0..N (void too)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, num_classes + 1, size=(batch, 6, 8))
    rows = np.minimum(np.arange(height) * 6 // height, 5)
    cols = np.minimum(np.arange(width) * 8 // width, 7)
    return coarse[:, rows[:, None], cols[None, :]].astype(np.int64)


def parity(reference: Synthesizer, candidate: Synthesizer, sizes: Sequence[tuple[int, int]],
           batch: int = 2, seed: int = 0) -> dict[str, float]:
    """Max |candidate - reference| over seeded inputs at each size: ``rgb_255`` (RGB on the
    [0, 255] scale, before rounding) and ``depth_m`` (metres). Same seed, same noise."""
    worst = {"rgb_255": 0.0, "depth_m": 0.0}
    for k, (height, width) in enumerate(sizes):
        labels = torch.from_numpy(blocky_labels(batch, height, width,
                                                reference.num_classes, seed + k))
        ref = reference.synth_tensors(labels, seed=seed + k)
        got = candidate.synth_tensors(labels, seed=seed + k)
        if set(ref) != set(got):
            raise ValueError(f"parity: outputs differ: {sorted(ref)} vs {sorted(got)}")
        if "rgb" in ref:
            diff = (got["rgb"].cpu() - ref["rgb"].cpu()).abs().max().item() * 127.5
            worst["rgb_255"] = max(worst["rgb_255"], diff)
        if "depth" in ref:
            diff = (got["depth"].cpu() - ref["depth"].cpu()).abs().max().item()
            worst["depth_m"] = max(worst["depth_m"], diff)
    return worst


def within_tolerance(diffs: dict[str, float]) -> bool:
    return diffs["rgb_255"] <= RGB_TOLERANCE and diffs["depth_m"] <= DEPTH_TOLERANCE_M


def export_checkpoint(checkpoint: str | Path, *, size: tuple[int, int] | None = None,
                      use_ema: bool = True, opset: int = OPSET, verify: bool = True
                      ) -> tuple[bytes, dict[str, float] | None]:
    """Checkpoint -> (checked ONNX bytes, parity diffs or None); ValueError when the graph
    fails the checker or the parity tolerance."""
    synth = Synthesizer.from_checkpoint(checkpoint, device="cpu", use_ema=use_ema)
    meta = {"class_names": synth.class_names, "step": synth.step, "config": synth.config,
            "variant": synth.config.get("model", {}).get("variant", "")}
    data = export_onnx(synth.generator, synth.num_classes, max_depth_m=synth.max_depth_m,
                       size=size, dynamic=size is None, metadata=meta, opset=opset)
    check_model(data)
    if not verify:
        return data, None
    ort_synth = Synthesizer(synth.generator, synth.num_classes, max_depth_m=synth.max_depth_m,
                            device="cpu", config=synth.config, backend="onnxruntime",
                            onnx_model=data)
    m = synth.multiple
    sizes = [size] if size else [(2 * m, 3 * m), (4 * m, 2 * m)]
    diffs = parity(synth, ort_synth, sizes)
    if not within_tolerance(diffs):
        raise ValueError(f"parity: onnxruntime differs from PyTorch by {diffs['rgb_255']:.4f} "
                         f"(RGB, 0-255) / {diffs['depth_m']:.6f} m (depth), tolerance "
                         f"{RGB_TOLERANCE} / {DEPTH_TOLERANCE_M} m")
    return data, diffs


@entry_point
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m scmis_core.export`` (expected failures: one line, exit 2)."""
    parser = argparse.ArgumentParser(
        prog="python -m scmis_core.export",
        description="Export a trained generator to ONNX (opset %d), check the graph with "
                    "onnx.checker and compare onnxruntime with PyTorch." % OPSET)
    parser.add_argument("--checkpoint", required=True, help="training checkpoint (.pt)")
    parser.add_argument("--onnx", required=True, help="output .onnx file")
    shape = parser.add_mutually_exclusive_group()
    shape.add_argument("--size", type=parse_size, default=None,
                       help="fixed HxW input size (multiples of 2**num_scales)")
    shape.add_argument("--dynamic", action="store_true",
                       help="symbolic H and W (the default when --size is not given)")
    parser.add_argument("--opset", type=int, default=OPSET, help="ONNX opset")
    parser.add_argument("--raw-weights", action="store_true",
                        help="export the trained G weights instead of their EMA")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip the onnxruntime-vs-PyTorch parity check")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing output file")
    args = parser.parse_args(argv)
    out = Path(args.onnx)
    if out.suffix.lower() != ".onnx":
        parser.error(f"--onnx: expected a path ending in .onnx, found {args.onnx!r}")
    if out.exists() and out.resolve() == Path(args.checkpoint).resolve():
        parser.error("--onnx: the output would overwrite the checkpoint")
    if out.exists() and not args.overwrite:
        parser.error(f"--onnx: {out} exists; pass --overwrite to replace it")
    t0 = time.perf_counter()
    data, diffs = export_checkpoint(args.checkpoint, size=args.size,
                                    use_ema=not args.raw_weights, opset=args.opset,
                                    verify=not args.no_verify)
    atomic_write(out, lambda tmp: tmp.write_bytes(data))
    shape_text = ("%dx%d" % args.size) if args.size else "dynamic HxW"
    print(f"wrote {out} ({len(data) / 2**20:.1f} MiB, opset {args.opset}, {shape_text}, "
          f"onnx.checker passed) in {time.perf_counter() - t0:.1f} s")
    if diffs is not None:
        print(f"parity vs PyTorch (onnxruntime CPU): max |diff| RGB {diffs['rgb_255']:.2e} "
              f"(0-255, tolerance {RGB_TOLERANCE}), depth {diffs['depth_m']:.2e} m "
              f"(tolerance {DEPTH_TOLERANCE_M} m)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
