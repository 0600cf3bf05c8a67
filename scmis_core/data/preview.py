"""Preview frames of any data source as one PNG grid.

``python -m scmis_core.data.preview --source nyuv2 --root R --n 6 --out grid.png`` writes one
row per frame: RGB | colourised depth | colourised labels, separated by thin white gaps.
Depth uses :func:`scmis_core.data.labels.colorize_depth` (near = blue, far = red, invalid =
black) and labels :func:`scmis_core.data.labels.colorize_labels` with the source's palette
(void = black). Frames are resized to ``--size`` or to the first frame's size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..cli import (CliError, OneLineArgumentParser, entry_point, finite_float, parse_arguments,
                   parse_size, positive_int, writable_parent)
from ..visualize import grid, sample_panels
from .base import LabelledDataset
from .io import write_rgb
from .registry import add_source_arguments, open_from_args
from .transforms import resize

#: Width of the white gaps between panels and rows, in pixels.
GAP = 4


def preview_grid(dataset: LabelledDataset, indices: list[int],
                 size: tuple[int, int] | None = None, max_depth_m: float = 10.0,
                 progress: bool = False) -> np.ndarray:
    """uint8 (rows * (h + GAP) - GAP, 3 * w + 2 * GAP, 3) grid of rgb | depth | labels rows."""
    rows = []
    for index in tqdm(indices, desc="preview", unit="frame", disable=not progress):
        sample = dataset[index]
        if size is None:
            size = sample.labels.shape
        rows.append(sample_panels(resize(sample, *size), dataset.palette, max_depth_m))
    if not rows:
        raise ValueError("preview: no frames to show")
    return grid(rows, gap=GAP)


def homes_grid(dataset: LabelledDataset, homes: int, views: int,
               size: tuple[int, int] | None = None, max_depth_m: float = 10.0,
               progress: bool = False) -> np.ndarray:
    """One row per home: rgb | depth | labels of each of its first ``views`` views.

    ``dataset`` holds views of homes in order (frame ``h * views + v`` = view v of home h).
    """
    rows = []
    with tqdm(total=homes * views, desc="preview", unit="frame", disable=not progress) as bar:
        for home in range(homes):
            row: list[np.ndarray] = []
            for view in range(views):
                sample = dataset[home * views + view]
                if size is None:
                    size = sample.labels.shape
                row += sample_panels(resize(sample, *size), dataset.palette, max_depth_m)
                bar.update(1)
            rows.append(row)
    if not rows:
        raise ValueError("preview: no homes to show")
    return grid(rows, gap=GAP)


def build_parser() -> OneLineArgumentParser:
    """The command-line interface."""
    parser = OneLineArgumentParser(
        prog="python -m scmis_core.data.preview",
        description="Write a PNG grid with one row per frame: rgb | colourised depth | "
                    "colourised labels (rooms with --homes N: one row per home, its "
                    "--views-per-home views side by side).")
    add_source_arguments(parser)
    parser.add_argument("--split", default="train", help="split to show (default train)")
    parser.add_argument("--n", type=positive_int, default=6, help="frames to show (default 6)")
    parser.add_argument("--start", type=int, default=0, help="first frame index (default 0)")
    parser.add_argument("--out", required=True, help="output PNG file")
    parser.add_argument("--size", type=parse_size, default=None, metavar="HxW",
                        help="panel size HxW, e.g. 240x320 (default: the first frame's size; "
                             "rooms: generated at HxW, default 240x320)")
    parser.add_argument("--max-depth-m", type=finite_float, default=10.0,
                        help="depth shown at the red end of the colour ramp (default 10 m)")
    return parser


@entry_point
def main(argv: list[str] | None = None) -> int:
    """Write the preview; return the exit code (2 and one ``error:`` line on bad input)."""
    args = parse_arguments(build_parser(), argv)
    if isinstance(args, int):  # --help (0) or a usage error (2, already reported)
        return args
    if args.start < 0:
        raise CliError(f"--start: expected a non-negative index, found {args.start}")
    if not args.max_depth_m > 0:
        raise CliError(f"--max-depth-m: expected a positive depth, found {args.max_depth_m}")
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise CliError(f"--out: expected a .png file name, found {out.name!r}")
    writable_parent(out)
    if getattr(args, "homes", 0):
        dataset = open_from_args(args, args.split, args.size, 0)
        grid = homes_grid(dataset, args.homes, args.views_per_home, args.size,
                          args.max_depth_m, progress=True)
        write_rgb(out, grid)
        print(f"wrote {args.homes} homes x {args.views_per_home} views of rooms {args.split} "
              f"to {out} (one row per home, {grid.shape[1]}x{grid.shape[0]} px)")
        return 0
    dataset = open_from_args(args, args.split, args.size, args.start + args.n)
    if args.start >= len(dataset):
        raise CliError(f"--start: expected an index below the {len(dataset)} frames of "
                       f"{args.source} {args.split}, found {args.start}")
    indices = list(range(args.start, min(args.start + args.n, len(dataset))))
    grid = preview_grid(dataset, indices, args.size, args.max_depth_m, progress=True)
    write_rgb(out, grid)
    print(f"wrote {len(indices)} frames of {args.source} {args.split} to {out} "
          f"({grid.shape[1]}x{grid.shape[0]} px)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
