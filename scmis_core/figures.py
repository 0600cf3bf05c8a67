"""Sample sheets of a generator on the test frames: ``python -m scmis_core.figures``.

Writes two PNGs into ``--out``:

- ``samples.png``: one row per test frame: label | generated RGB | generated depth | real RGB
  | real depth (depth colourised, near = dark);
- ``seeds.png``: one label map, then generated RGB and depth for each of ``--seeds`` noise
  seeds (how much the noise changes the picture).

Example: ``python -m scmis_core.figures --checkpoint rooms --frames 8 --seeds 4 --out docs/images``
(the figures of the user guide and the results page).
"""

from __future__ import annotations

import argparse

import numpy as np

from .cli import add_device_argument, entry_point, writable_folder
from .config import from_dict
from .data.registry import dataset_from_config
from .visualize import grid, rgbd_rows, save_png


@entry_point
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m scmis_core.figures``."""
    from .synthesize import Synthesizer

    parser = argparse.ArgumentParser(
        prog="python -m scmis_core.figures",
        description="Sample sheets of a generator on its test frames: samples.png (label | "
                    "RGB | depth | real RGB | real depth) and seeds.png (one label map, several "
                    "noise seeds).")
    parser.add_argument("--checkpoint", default="rooms",
                        help="generator checkpoint, or shipped weights by name (default rooms)")
    parser.add_argument("--frames", type=int, default=8, help="test frames in samples.png")
    parser.add_argument("--seeds", type=int, default=4, help="noise seeds in seeds.png")
    parser.add_argument("--seed-frame", type=int, default=0,
                        help="index of the test frame used for seeds.png")
    parser.add_argument("--out", required=True, help="folder for samples.png and seeds.png")
    add_device_argument(parser)
    args = parser.parse_args(argv)
    out = writable_folder(args.out)
    synth = Synthesizer.from_checkpoint(args.checkpoint, device=args.device)
    cfg = from_dict(synth.config)
    test = dataset_from_config(cfg.data, cfg.data.test_split)
    frames = [test[i] for i in range(min(args.frames, len(test)))]
    labels = np.stack([f.labels for f in frames])
    rgb, depth = synth.synth(labels, seed=0)
    columns = []
    if rgb is not None:
        columns.append(("rgb", rgb))
    if depth is not None:
        columns.append(("depth", depth))
    columns += [("rgb", np.stack([f.rgb for f in frames])),
                ("depth", np.stack([f.depth_m for f in frames]))]
    max_depth = cfg.data.max_depth_m
    sheet = grid(rgbd_rows(labels, columns, test.palette, max_depth))
    print(f"wrote {save_png(sheet, out / 'samples.png')}")
    one = test[args.seed_frame].labels
    row_rgb, row_depth = [], []
    for seed in range(args.seeds):
        rgb, depth = synth.synth(one, seed=seed)
        if rgb is not None:
            row_rgb.append(("rgb", rgb[None]))
        if depth is not None:
            row_depth.append(("depth", depth[None]))
    sheet = grid(rgbd_rows(one[None], row_rgb + row_depth, test.palette, max_depth))
    print(f"wrote {save_png(sheet, out / 'seeds.png')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
