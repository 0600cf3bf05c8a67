"""Data sets (procedural rooms, NYUv2, SUN RGB-D, Cityscapes, folders), labels and transforms.

Open any source by name with :func:`open_dataset` (or :func:`dataset_from_config`); wrap it
in :class:`TorchDataset` for network inputs. The procedural rooms source lives in
``scmis_core.data.rooms`` and is imported on first use.
"""

from .base import LabelledDataset
from .cityscapes import CityscapesDataset
from .folder import FilesDataset, FolderDataset
from .io import read_depth, read_depth_raw, read_labels, read_rgb, write_depth, write_labels
from .io import write_rgb
from .nyuv2 import NYUv2Dataset, NYUv2MatDataset
from .registry import dataset_from_config, open_dataset
from .sample import Sample
from .sunrgbd import SUNRGBDDataset, decode_sunrgbd_depth
from .transforms import (TorchDataset, center_crop, class_frequencies, hflip,
                         inverse_frequency_weights, one_hot, random_crop, random_hflip, resize,
                         resize_short_side, resize_short_side_random_crop, resize_to_cover)

__all__ = [
    "CityscapesDataset", "FilesDataset", "FolderDataset", "LabelledDataset", "NYUv2Dataset",
    "NYUv2MatDataset", "SUNRGBDDataset", "Sample", "TorchDataset", "center_crop",
    "class_frequencies", "dataset_from_config", "decode_sunrgbd_depth", "hflip",
    "inverse_frequency_weights", "one_hot", "open_dataset", "random_crop", "random_hflip",
    "read_depth", "read_depth_raw", "read_labels", "read_rgb", "resize", "resize_short_side",
    "resize_short_side_random_crop", "resize_to_cover", "write_depth", "write_labels",
    "write_rgb",
]
