"""NYU Depth v2 (40 classes): the common folder layout and the official labelled ``.mat``.

Folder layout (:class:`NYUv2Dataset`; also what ``python -m scmis_core.data.export`` writes)::

    root/classes.txt                    optional, one class name per line (ids 1..N);
                                        without it the NYU40 names are used
    root/{train,test}/rgb/NNNN.png      8-bit colour
    root/{train,test}/depth/NNNN.png    16-bit millimetres, 0 = invalid
    root/{train,test}/labels_40/NNNN.png  class ids 0..40 (0 = void)

Official file (:class:`NYUv2MatDataset`): ``nyu_depth_v2_labeled.mat`` is MATLAB v7.3 (HDF5).
MATLAB stores arrays column-major, so h5py sees the axes reversed: ``images`` (N, 3, W, H)
uint8, ``depths`` (N, W, H) float metres, ``labels`` (N, W, H) uint16 ids in the 894-class
space (0 = unlabelled). Each frame is transposed back to (H, W). The 894 -> 40 mapping is
``mapClass`` of ``classMapping40.mat`` and the standard 795 / 654 split is ``trainNdxs`` /
``testNdxs`` (1-based) of ``splits.mat`` (Gupta et al. 2013; both small MATLAB v5 files read
with scipy). Nothing is downloaded: pass their paths, or put them next to the ``.mat``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from .base import LabelledDataset
from .folder import FilesDataset, check_label_range, require_dir, scan_split
from .labels import NYU40_CLASSES
from .sample import Sample

#: Frames of the standard NYUv2 train / test split (splits.mat).
NYU_TRAIN_SIZE = 795
NYU_TEST_SIZE = 654


def read_classes_txt(path: Path) -> tuple[str, ...]:
    """Class names, one per non-empty line (line i = id i)."""
    names = tuple(line.strip() for line in path.read_text().splitlines() if line.strip())
    if not names:
        raise ValueError(f"classes file {path}: empty (expected one class name per line)")
    return names


class NYUv2Dataset(FilesDataset):
    """NYUv2 in the common folder layout (see the module docstring)."""

    def __init__(self, root: str | Path, split: str = "train") -> None:
        root = require_dir(Path(root), "NYUv2 data set")
        classes_txt = root / "classes.txt"
        class_names = read_classes_txt(classes_txt) if classes_txt.is_file() else NYU40_CLASSES
        frames, _ = scan_split(root / split, "labels_40", f"NYUv2 {split}")
        self.root = root
        self.split = split
        super().__init__(frames, class_names, has_depth=True)


def _load_small_mat(path: Path, keys: Sequence[str], what: str) -> dict[str, np.ndarray]:
    """Read a MATLAB v5 file with scipy and return ``keys`` (error naming the file)."""
    import scipy.io  # local: only the .mat source needs scipy

    if not path.is_file():
        raise FileNotFoundError(f"{what} file {path}: not found")
    try:
        data = scipy.io.loadmat(str(path))
    except Exception as exc:  # scipy raises several types for bad files
        raise ValueError(f"{what} file {path}: cannot read it as a MATLAB file ({exc})") \
            from None
    missing = [k for k in keys if k not in data]
    if missing:
        found = sorted(k for k in data if not k.startswith("__"))
        raise ValueError(f"{what} file {path}: expected variables {list(keys)}, "
                         f"missing {missing}; found {found}")
    return data


def load_class_mapping(path: str | Path) -> tuple[np.ndarray, tuple[str, ...]]:
    """``classMapping40.mat`` -> (lookup table of 895 ids -> 0..40, the 40 class names).

    ``mapClass`` maps the 894 classes (1-based) to 1..40; unlabelled 0 stays 0.
    """
    path = Path(path)
    data = _load_small_mat(path, ["mapClass"], "class mapping")
    mapping = np.asarray(data["mapClass"]).reshape(-1)
    if mapping.size == 0 or np.any(mapping < 0) or np.any(mapping != np.round(mapping)):
        raise ValueError(f"class mapping file {path}: expected mapClass to hold non-negative "
                         f"integer ids, found {mapping[:10]}...")
    lut = np.concatenate([[0], mapping]).astype(np.int64)
    names: tuple[str, ...] = NYU40_CLASSES
    if "className" in data:
        raw = np.asarray(data["className"], dtype=object).reshape(-1)
        names = tuple(str(np.asarray(n).reshape(-1)[0]) for n in raw)
    if int(lut.max()) > len(names):
        raise ValueError(f"class mapping file {path}: mapClass reaches id {int(lut.max())} but "
                         f"only {len(names)} class names are known")
    return lut, names


def load_splits(path: str | Path) -> dict[str, np.ndarray]:
    """``splits.mat`` -> {"train": 0-based indices, "test": 0-based indices}."""
    path = Path(path)
    data = _load_small_mat(path, ["trainNdxs", "testNdxs"], "splits")
    out = {}
    for split, key in (("train", "trainNdxs"), ("test", "testNdxs")):
        idx = np.asarray(data[key]).reshape(-1).astype(np.int64)
        if idx.size and idx.min() < 1:
            raise ValueError(f"splits file {path}: expected 1-based indices in {key}, found "
                             f"{idx.min()}")
        out[split] = idx - 1
    return out


def fallback_split(num_frames: int) -> dict[str, np.ndarray]:
    """Split used without ``splits.mat``: the first round(N * 795 / 1449) frames are train,
    the rest test. This is NOT the standard NYUv2 split (which interleaves the scenes)."""
    n_train = int(round(num_frames * NYU_TRAIN_SIZE / (NYU_TRAIN_SIZE + NYU_TEST_SIZE)))
    return {"train": np.arange(n_train), "test": np.arange(n_train, num_frames)}


class NYUv2MatDataset(LabelledDataset):
    """Frames of the official ``nyu_depth_v2_labeled.mat`` (HDF5), labels mapped to 40 classes.

    ``mapping``: path of ``classMapping40.mat`` or a lookup array (index = 894-space id,
    value = 0..N id); default ``classMapping40.mat`` next to the ``.mat`` file, and an error if
    it is absent. ``splits``: path of ``splits.mat``; default ``splits.mat`` next to the
    ``.mat`` file; if absent, :func:`fallback_split` is used with a warning.
    ``split``: train | test | all. The HDF5 file is opened lazily in each process, so the data
    set can be used by data-loader workers.
    """

    def __init__(self, path: str | Path, split: str = "train",
                 mapping: str | Path | np.ndarray | None = None,
                 splits: str | Path | None = None) -> None:
        import h5py  # local: only this source needs h5py

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"NYUv2 .mat file {self.path}: not found")
        if split not in ("train", "test", "all"):
            raise ValueError(f"NYUv2 .mat split: expected train, test or all, found {split!r}")
        try:
            with h5py.File(self.path, "r") as h5:
                shapes = self._check_layout(h5)
        except OSError as exc:
            raise ValueError(f"NYUv2 .mat file {self.path}: cannot open it as MATLAB v7.3 / "
                             f"HDF5 ({exc})") from None
        num_frames = shapes[0]

        if isinstance(mapping, np.ndarray):
            self.lut = mapping.astype(np.int64).reshape(-1)
            self.class_names = NYU40_CLASSES
            if self.lut.size == 0 or self.lut.min() < 0 or self.lut.max() > 40:
                raise ValueError(f"NYUv2 .mat class mapping: expected ids 0..40, found "
                                 f"{self.lut.min() if self.lut.size else 'none'}.."
                                 f"{self.lut.max() if self.lut.size else 'none'}")
        else:
            mapping_path = Path(mapping) if mapping is not None else \
                self.path.with_name("classMapping40.mat")
            if mapping is None and not mapping_path.is_file():
                raise FileNotFoundError(
                    f"class mapping file {mapping_path}: not found; the labels of {self.path} "
                    "are in the 894-class space and need classMapping40.mat (mapClass) to map "
                    "them to 40 classes: pass its path as mapping=")
            self.lut, self.class_names = load_class_mapping(mapping_path)

        splits_path = Path(splits) if splits is not None else self.path.with_name("splits.mat")
        if splits is None and not splits_path.is_file():
            warnings.warn(f"{splits_path} not found: using the first {NYU_TRAIN_SIZE}/"
                          f"{NYU_TRAIN_SIZE + NYU_TEST_SIZE} of the frames of {self.path} as "
                          "train and the rest as test; this is NOT the standard NYUv2 split "
                          "(pass splits= the path of splits.mat)", stacklevel=2)
            split_idx = fallback_split(num_frames)
        else:
            split_idx = load_splits(splits_path)
        if split == "all":
            self.indices = np.arange(num_frames)
        else:
            self.indices = np.asarray(split_idx[split], dtype=np.int64)
        if self.indices.size and int(self.indices.max()) >= num_frames:
            raise ValueError(f"splits for {self.path}: index {int(self.indices.max()) + 1} "
                             f"(1-based) exceeds the {num_frames} frames of the file")
        self.split = split
        self._h5 = None
        self._h5_pid = -1

    def _check_layout(self, h5) -> tuple[int, int, int]:
        """Check the dataset names and the transposed MATLAB axis order; return (N, W, H)."""
        missing = [k for k in ("images", "depths", "labels") if k not in h5]
        if missing:
            raise ValueError(f"NYUv2 .mat file {self.path}: expected datasets images, depths, "
                             f"labels; missing {missing}; found {sorted(h5.keys())}")
        images, depths, labels = h5["images"], h5["depths"], h5["labels"]
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"NYUv2 .mat file {self.path}: expected images of shape "
                             f"(N, 3, W, H) as h5py reads MATLAB's H x W x 3 x N, found "
                             f"{images.shape}")
        n, _, w, h = images.shape
        for name, ds in (("depths", depths), ("labels", labels)):
            if ds.shape != (n, w, h):
                raise ValueError(f"NYUv2 .mat file {self.path}: expected {name} of shape "
                                 f"{(n, w, h)} to match images {images.shape}, found "
                                 f"{ds.shape}")
        return n, w, h

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_h5"] = None  # h5py handles do not cross process boundaries
        return state

    def _file(self):
        # Reopen in a new process: a handle inherited through fork (data-loader workers) is
        # not safe to share with the parent.
        if self._h5 is None or self._h5_pid != os.getpid():
            import h5py

            self._h5 = h5py.File(self.path, "r")
            self._h5_pid = os.getpid()
        return self._h5

    def close(self) -> None:
        """Close the HDF5 file (it is reopened on the next access)."""
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None

    def __len__(self) -> int:
        return int(self.indices.size)

    def describe(self, index: int) -> str:
        """File and 1-based NYU frame number of ``index``."""
        return f"{self.path} frame {int(self.indices[index]) + 1} (1-based)"

    def load(self, index: int) -> Sample:
        """Read frame ``index`` of the split, transpose to (H, W) and map labels to 40."""
        h5 = self._file()
        k = int(self.indices[index])
        rgb = np.ascontiguousarray(np.asarray(h5["images"][k]).transpose(2, 1, 0))  # (H, W, 3)
        depth_m = np.ascontiguousarray(np.asarray(h5["depths"][k], dtype=np.float32).T)
        raw = np.asarray(h5["labels"][k]).T.astype(np.int64)  # (H, W), 894-class ids
        if raw.size and (raw.min() < 0 or raw.max() >= self.lut.size):
            raise ValueError(f"{self.describe(index)}: expected raw label ids in "
                             f"0..{self.lut.size - 1} (the class mapping), found "
                             f"{raw.min()}..{raw.max()}")
        labels = self.lut[raw]
        check_label_range(labels, self.num_classes, self.describe(index))
        depth_m = np.where(np.isfinite(depth_m) & (depth_m > 0), depth_m, 0).astype(np.float32)
        return Sample(rgb=rgb.astype(np.uint8, copy=False), depth_m=depth_m, labels=labels,
                      name=f"{k + 1:04d}")
