"""``python -m scmis_core.data.rooms``: benchmark the renderer or write a preview grid."""

from __future__ import annotations

import argparse
import time

import numpy as np

from ...cli import entry_point, parse_size, positive_int
from ...visualize import grid, sample_panels, save_png
from ..labels import NYU40_CLASSES, voc_palette
from ..sample import Sample
from .dataset import RoomsDataset, frame_seed
from .generate import generate_scene
from .kinect import MAX_DEPTH_M


def preview_grid(samples: list[Sample]) -> np.ndarray:
    """Rows of rgb | colourised depth | colourised labels, (rows*H, 3*W, 3) uint8."""
    palette = voc_palette(len(NYU40_CLASSES) + 1)
    return grid([sample_panels(s, palette, MAX_DEPTH_M) for s in samples], gap=0)


@entry_point
def main(argv: list[str] | None = None) -> int:
    """``python -m scmis_core.data.rooms``: benchmark the renderer or write a preview PNG."""
    parser = argparse.ArgumentParser(
        prog="python -m scmis_core.data.rooms",
        description="Procedural NYUv2-like rooms: render frames, time them, or write a "
                    "preview grid (rows: rgb | depth | labels).")
    parser.add_argument("--bench", action="store_true",
                        help="render N frames and print frames per second")
    parser.add_argument("--size", type=parse_size, default=(240, 320), metavar="HxW",
                        help="image size as HEIGHTxWIDTH (default 240x320)")
    parser.add_argument("--n", type=positive_int, default=6,
                        help="number of frames (default 6)")
    parser.add_argument("--seed", type=int, default=0, help="data-set seed (default 0)")
    parser.add_argument("--split", default="train", help="data-set split (default train)")
    parser.add_argument("--no-noise", action="store_true",
                        help="exact depth and no RGB sensor noise")
    parser.add_argument("--preview", metavar="PNG", help="write a preview grid to this PNG")
    args = parser.parse_args(argv)
    if not args.bench and not args.preview:
        parser.error("nothing to do: give --bench and/or --preview PNG")
    h, w = args.size
    if h < 2 or w < 2:
        parser.error(f"--size: expected HxW of at least 2x2, found {h}x{w}")
    data = RoomsDataset(args.n, h, w, args.seed, args.split, not args.no_noise)
    if args.bench:
        data[0]  # warm-up (imports, caches)
        start, start_cpu = time.perf_counter(), time.process_time()
        for i in range(args.n):
            data[i]
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - start_cpu
        print(f"rendered {args.n} frames at {w}x{h} in {elapsed:.2f} s: "
              f"{args.n / elapsed:.2f} frames/s ({1000 * elapsed / args.n:.1f} ms/frame; "
              f"process CPU time {1000 * cpu / args.n:.1f} ms/frame)")
    if args.preview:
        samples = [data[i] for i in range(args.n)]
        for i in range(args.n):
            scene = generate_scene(frame_seed(args.seed, args.split, i))
            print(f"{i}: {data.describe(i)}: {scene.room_type}, {len(scene.boxes)} boxes")
        save_png(preview_grid(samples), args.preview)
        print(f"wrote {args.preview}")
    return 0
