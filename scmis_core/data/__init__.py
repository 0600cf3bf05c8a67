"""Data sets (procedural rooms, NYUv2, SUN RGB-D, Cityscapes, folders), labels and transforms."""

from .base import LabelledDataset
from .sample import Sample

__all__ = ["LabelledDataset", "Sample"]
