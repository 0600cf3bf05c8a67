"""Write any data source in the NYUv2 folder layout.

``python -m scmis_core.data.export --source rooms --n 1000 --out DIR`` writes::

    DIR/classes.txt                     class names, line i = id i
    DIR/{split}/rgb/NNNN.png            8-bit colour
    DIR/{split}/depth/NNNN.png          16-bit millimetres, 0 = invalid (all 0 without depth)
    DIR/{split}/labels_40/NNNN.png      class ids (8-bit, 16-bit above 255)

``NNNN`` is the 0-based frame index (at least 4 digits), so :class:`NYUv2Dataset` reads frame
i back as frame i, identical up to the millimetre rounding of depth. ``--split all`` writes
train and test. The output folder must be empty unless ``--overwrite`` is given, which first
deletes the ``*.png`` files of the written splits' rgb / depth / labels_40 folders; it works
only on a folder an earlier export wrote (marker ``.scmis-output.json``, nothing else in it)
and never on the data set read (``--root``) or a folder holding it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from ..atomic_files import atomic_write_text
from ..cli import (CliError, OneLineArgumentParser, entry_point, parse_arguments, parse_size,
                   positive_int)
from ..output_dirs import OutputDirError, prepare_output_dir
from .base import LabelledDataset
from .io import write_depth, write_labels, write_rgb
from .registry import add_source_arguments, open_from_args
from .transforms import resize

#: Frames generated per split for ``--source rooms`` without ``--n``.
DEFAULT_ROOMS_FRAMES = 1000
SUBFOLDERS = ("rgb", "depth", "labels_40")


def frame_name(index: int, count: int) -> str:
    """Zero-padded file stem of frame ``index`` among ``count`` (at least 4 digits)."""
    return f"{index:0{max(4, len(str(max(count - 1, 0))))}d}"


def export_split(dataset: LabelledDataset, out_dir: Path, split: str, n: int | None = None,
                 size: tuple[int, int] | None = None, progress: bool = True) -> int:
    """Write the first ``n`` frames (all by default) of ``dataset`` to ``out_dir/split``.

    Frames are resized to ``size`` (height, width) when given. Returns the frame count.
    """
    count = len(dataset) if n is None else min(n, len(dataset))
    split_dir = out_dir / split
    for index in tqdm(range(count), desc=f"export {split}", unit="frame", disable=not progress):
        sample = dataset[index]
        if size is not None:
            sample = resize(sample, *size)
        stem = frame_name(index, count)
        write_rgb(split_dir / "rgb" / f"{stem}.png", sample.rgb)
        write_depth(split_dir / "depth" / f"{stem}.png", sample.depth_m)
        write_labels(split_dir / "labels_40" / f"{stem}.png", sample.labels)
    return count


def write_classes(out_dir: Path, class_names: Sequence[str]) -> None:
    """``out_dir/classes.txt``: one name per line, line i = class id i."""
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "classes.txt", "".join(f"{name}\n" for name in class_names))


def prepare_out_dir(out_dir: Path, splits: Sequence[str], overwrite: bool,
                    inputs: Sequence[str | Path | None] = ()) -> None:
    """Refuse an output that is, holds or lies in one of ``inputs``, or a non-empty one
    unless ``overwrite``; then clear the splits' PNGs (:mod:`scmis_core.output_dirs`)."""
    try:
        prepare_output_dir(out_dir, overwrite=overwrite, inputs=inputs, kind="export",
                           tool="scmis_core.data.export",
                           clear=[f"{split}/{sub}/*.png" for split in splits
                                  for sub in SUBFOLDERS])
    except OutputDirError as exc:
        raise CliError(str(exc)) from None


def build_parser() -> OneLineArgumentParser:
    """The command-line interface."""
    parser = OneLineArgumentParser(
        prog="python -m scmis_core.data.export",
        description="Write frames of any data source in the NYUv2 layout "
                    "OUT/{split}/{rgb,depth,labels_40}/NNNN.png plus OUT/classes.txt, "
                    "readable with --source nyuv2.")
    add_source_arguments(parser)
    parser.add_argument("--split", default="train",
                        help="split to export (default train); 'all' = train and test")
    parser.add_argument("--n", type=positive_int, default=None,
                        help="frames per split (default: all; rooms: "
                             f"{DEFAULT_ROOMS_FRAMES})")
    parser.add_argument("--out", required=True, help="output folder (must be empty)")
    parser.add_argument("--size", type=parse_size, default=None, metavar="HxW",
                        help="resize frames to HxW, e.g. 240x320 (rooms: generate at HxW; "
                             "default: native size, rooms 240x320)")
    parser.add_argument("--overwrite", action="store_true",
                        help="write into the folder of an earlier export (deletes the PNGs "
                             "of the exported splits first; refused for any other folder)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


@entry_point
def main(argv: list[str] | None = None) -> int:
    """Run the export; return the exit code (2 and one ``error:`` line on bad input)."""
    args = parse_arguments(build_parser(), argv)
    if isinstance(args, int):  # --help (0) or a usage error (2, already reported)
        return args
    splits = ["train", "test"] if args.split == "all" else [args.split]
    out_dir = Path(args.out)
    rooms_frames = args.n if args.n is not None else DEFAULT_ROOMS_FRAMES
    datasets = [open_from_args(args, split, args.size, rooms_frames) for split in splits]
    prepare_out_dir(out_dir, splits, args.overwrite,
                    inputs=[args.root, args.mapping, args.splits])
    write_classes(out_dir, datasets[0].class_names)
    for split, dataset in zip(splits, datasets):
        count = export_split(dataset, out_dir, split, args.n, args.size,
                             progress=not args.no_progress)
        print(f"wrote {count} frames of {args.source} {split} to {out_dir / split}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
