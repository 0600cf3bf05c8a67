"""Data sets stored as folders of image files, and the generic ``folder`` source.

:class:`FilesDataset` is the shared base of every file-based source (NYUv2 layout, SUN RGB-D,
Cityscapes, generic folders): a list of frames, each an RGB file, an optional depth file and a
label file. It reads them with :mod:`scmis_core.data.io`, checks that the three have the same
size and that the ids are in range, and names the files in every error.

The generic ``folder`` layout (:class:`FolderDataset`)::

    root/classes.yaml            classes: [name1, name2, ...]   (ids 1..N; 0 is void)
                                 depth_scale_m: 0.001           (optional; metres per unit)
    root/{split}/rgb/STEM.png    8-bit colour (.png, .jpg or .jpeg)
    root/{split}/depth/STEM.png  16-bit, one unit = depth_scale_m metres, 0 = invalid
                                 (the whole depth folder is optional)
    root/{split}/labels/STEM.png 8- or 16-bit class ids

Frames are matched by file stem and sorted (numeric stems numerically).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import yaml

from .base import LabelledDataset
from .io import RGB_SUFFIXES, read_depth, read_labels, read_rgb
from .sample import Sample


@dataclass(frozen=True)
class FramePaths:
    """The files of one frame; ``depth`` is None for RGB-only sources."""

    name: str
    rgb: Path
    depth: Path | None
    labels: Path


def stem_sort_key(stem: str) -> tuple[int, int, str]:
    """Sort numeric stems numerically (``2`` before ``10``), then the others by name."""
    return (0, int(stem), stem) if stem.isdigit() else (1, 0, stem)


def require_dir(path: Path, what: str) -> Path:
    """Return ``path`` if it is a folder, else raise FileNotFoundError naming ``what``."""
    if not path.is_dir():
        raise FileNotFoundError(f"{what} folder {path}: not found")
    return path


def list_files(folder: Path, suffixes: Iterable[str], what: str) -> dict[str, Path]:
    """Map stem -> path of the files in ``folder`` with one of ``suffixes``; error if none."""
    require_dir(folder, what)
    suffixes = tuple(s.lower() for s in suffixes)
    found: dict[str, Path] = {}
    for path in folder.iterdir():
        if path.is_file() and path.suffix.lower() in suffixes:
            if path.stem in found:
                raise ValueError(f"{what} folder {folder}: two files share the stem "
                                 f"{path.stem!r}: {found[path.stem].name}, {path.name}")
            found[path.stem] = path
    if not found:
        raise ValueError(f"{what} folder {folder}: empty (expected "
                         f"{' / '.join('*' + s for s in suffixes)} files)")
    return found


def pair_by_stem(rgb: dict[str, Path], others: dict[str, dict[str, Path]],
                 folders: dict[str, Path]) -> list[str]:
    """Sorted stems present in ``rgb``; error naming the file when another kind lacks one."""
    for kind, files in others.items():
        missing = sorted(set(rgb) - set(files), key=stem_sort_key)
        extra = sorted(set(files) - set(rgb), key=stem_sort_key)
        if missing:
            stem = missing[0]
            raise FileNotFoundError(
                f"{kind} file for {rgb[stem]} not found in {folders[kind]} (expected "
                f"{stem}.png; {len(missing)} {kind} file(s) missing)")
        if extra:
            stem = extra[0]
            raise FileNotFoundError(
                f"RGB file for {files[stem]} not found in {folders['rgb']} "
                f"({len(extra)} {kind} file(s) have no RGB file)")
    return sorted(rgb, key=stem_sort_key)


def check_label_range(labels: np.ndarray, num_classes: int, path: Path | str) -> None:
    """Raise ValueError naming ``path`` if an id is outside 0..num_classes."""
    if labels.size:
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi > num_classes:
            raise ValueError(f"label file {path}: expected class ids in 0..{num_classes}, "
                             f"found {lo}..{hi}")


class FilesDataset(LabelledDataset):
    """Frames stored as RGB / depth / label files; the base of every file-based source.

    ``depth_reader(path) -> float32 (H, W) metres`` decodes one depth file; frames whose
    ``depth`` is None get all-zero depth.
    """

    def __init__(self, frames: Sequence[FramePaths], class_names: Sequence[str],
                 has_depth: bool = True,
                 depth_reader: Callable[[Path], np.ndarray] = read_depth) -> None:
        self.frames = list(frames)
        self.class_names = tuple(class_names)
        self.has_depth = has_depth
        self._depth_reader = depth_reader

    def __len__(self) -> int:
        return len(self.frames)

    def describe(self, index: int) -> str:
        """The files of frame ``index`` (for error messages)."""
        frame = self.frames[index]
        depth = f", depth {frame.depth}" if frame.depth is not None else ""
        return f"frame {frame.name} (rgb {frame.rgb}{depth}, labels {frame.labels})"

    def load(self, index: int) -> Sample:
        """Read, check and return frame ``index``."""
        frame = self.frames[index]
        rgb = read_rgb(frame.rgb)
        labels = read_labels(frame.labels)
        if frame.depth is not None:
            depth_m = self._depth_reader(frame.depth)
        else:
            depth_m = np.zeros(rgb.shape[:2], dtype=np.float32)
        sizes = {"rgb": rgb.shape[:2], "depth": depth_m.shape, "labels": labels.shape}
        if len(set(sizes.values())) > 1:
            paths = {"rgb": frame.rgb, "depth": frame.depth, "labels": frame.labels}
            parts = [f"{kind} {paths[kind]} is {hw[0]}x{hw[1]}" for kind, hw in sizes.items()
                     if paths[kind] is not None]
            raise ValueError("frame files differ in size (HxW): " + ", ".join(parts))
        check_label_range(labels, self.num_classes, frame.labels)
        return Sample(rgb=rgb, depth_m=depth_m.astype(np.float32, copy=False),
                      labels=labels, name=frame.name)


def scan_split(split_dir: Path, label_dir: str, what: str, depth_dir: str | None = "depth",
               depth_optional: bool = False) -> tuple[list[FramePaths], bool]:
    """Frames of ``split_dir/{rgb,depth_dir,label_dir}`` matched by stem.

    Returns the frames and whether they have depth. With ``depth_optional`` a missing depth
    folder gives frames without depth; otherwise it is an error.
    """
    require_dir(split_dir, what)
    folders = {"rgb": split_dir / "rgb", "labels": split_dir / label_dir}
    rgb = list_files(folders["rgb"], RGB_SUFFIXES, f"{what} rgb")
    others = {"labels": list_files(folders["labels"], (".png",), f"{what} {label_dir}")}
    has_depth = depth_dir is not None
    if depth_dir is not None:
        folders["depth"] = split_dir / depth_dir
        if depth_optional and not folders["depth"].exists():
            has_depth = False
        else:
            others["depth"] = list_files(folders["depth"], (".png",), f"{what} {depth_dir}")
    stems = pair_by_stem(rgb, others, folders)
    frames = [FramePaths(name=stem, rgb=rgb[stem],
                         depth=others["depth"][stem] if has_depth else None,
                         labels=others["labels"][stem]) for stem in stems]
    return frames, has_depth


def load_classes_yaml(path: Path) -> tuple[tuple[str, ...], float]:
    """Read ``classes.yaml``: (class names for ids 1..N, metres per depth unit)."""
    if not path.is_file():
        raise FileNotFoundError(f"classes file {path}: not found (expected a YAML file with "
                                "'classes: [name, ...]')")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"classes file {path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict) or "classes" not in data:
        raise ValueError(f"classes file {path}: expected a mapping with a 'classes' list, "
                         f"found {type(data).__name__}")
    classes = data["classes"]
    if (not isinstance(classes, list) or not classes
            or not all(isinstance(c, (str, int, float)) for c in classes)):
        raise ValueError(f"classes file {path}: expected 'classes' to be a non-empty list of "
                         f"names, found {classes!r}")
    scale = data.get("depth_scale_m", 0.001)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
        raise ValueError(f"classes file {path}: expected depth_scale_m > 0 (metres per depth "
                         f"unit), found {scale!r}")
    unknown = set(data) - {"classes", "depth_scale_m"}
    if unknown:
        raise ValueError(f"classes file {path}: unknown keys {sorted(unknown)}; expected "
                         "classes, depth_scale_m")
    return tuple(str(c) for c in classes), float(scale)


class FolderDataset(FilesDataset):
    """A generic folder data set (layout in the module docstring)."""

    def __init__(self, root: str | Path, split: str = "train") -> None:
        root = require_dir(Path(root), "folder data set")
        class_names, scale_m = load_classes_yaml(root / "classes.yaml")
        frames, has_depth = scan_split(root / split, "labels", f"folder data set {split}",
                                       depth_optional=True)
        self.root = root
        self.split = split
        self.depth_scale_m = scale_m
        super().__init__(frames, class_names, has_depth=has_depth,
                         depth_reader=self._read_depth_scaled)

    def _read_depth_scaled(self, path: Path) -> np.ndarray:
        return read_depth(path, self.depth_scale_m)
