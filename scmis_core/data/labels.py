"""Class tables and colour palettes (NYU40, SUN RGB-D 37, Cityscapes) and label colourisation."""

from __future__ import annotations

import numpy as np

#: NYU Depth v2 40-class names (Gupta et al. 2013); id i+1 is NYU40_CLASSES[i], 0 is void.
NYU40_CLASSES = (
    "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window",
    "bookshelf", "picture", "counter", "blinds", "desk", "shelves", "curtain", "dresser",
    "pillow", "mirror", "floor mat", "clothes", "ceiling", "books", "refridgerator",
    "television", "paper", "towel", "shower curtain", "box", "whiteboard", "person",
    "night stand", "toilet", "sink", "lamp", "bathtub", "bag", "otherstructure",
    "otherfurniture", "otherprop",
)

#: SUN RGB-D 37-class names (Song et al. 2015, the 37-class benchmark); id i+1, 0 is void.
SUNRGBD37_CLASSES = (
    "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window",
    "bookshelf", "picture", "counter", "blinds", "desk", "shelves", "curtain", "dresser",
    "pillow", "mirror", "floor_mat", "clothes", "ceiling", "books", "fridge", "tv", "paper",
    "towel", "shower_curtain", "box", "whiteboard", "person", "night_stand", "toilet", "sink",
    "lamp", "bathtub", "bag",
)

#: Cityscapes label ids 0..33 (the ``*_labelIds.png`` values); id 0 "unlabeled" is void.
CITYSCAPES_CLASSES = (
    "ego vehicle", "rectification border", "out of roi", "static", "dynamic", "ground",
    "road", "sidewalk", "parking", "rail track", "building", "wall", "fence", "guard rail",
    "bridge", "tunnel", "pole", "polegroup", "traffic light", "traffic sign", "vegetation",
    "terrain", "sky", "person", "rider", "car", "truck", "bus", "caravan", "trailer",
    "train", "motorcycle", "bicycle",
)


def voc_palette(n: int = 256) -> np.ndarray:
    """PASCAL-VOC bit-interleaved colour map, (n, 3) uint8; entry 0 is black (void)."""
    palette = np.zeros((n, 3), dtype=np.uint8)
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette[i] = (r, g, b)
    return palette


def colorize_labels(labels: np.ndarray, palette: np.ndarray | None = None) -> np.ndarray:
    """(H, W) class ids -> (H, W, 3) uint8 with the VOC palette (void black)."""
    palette = voc_palette() if palette is None else palette
    ids = np.clip(labels, 0, len(palette) - 1).astype(np.intp)
    return palette[ids]


def colorize_depth(depth_m: np.ndarray, max_depth_m: float = 10.0) -> np.ndarray:
    """(H, W) metres -> (H, W, 3) uint8 with a turbo-like ramp; invalid (<= 0) pixels black."""
    d = np.clip(np.nan_to_num(depth_m, nan=0.0) / max_depth_m, 0.0, 1.0)
    x = d[..., None]
    # Polynomial approximation of the "turbo" colour map (Mikhailov 2019), near = blue.
    r = 0.1357 + x * (4.5974 - x * (42.3277 - x * (130.5887 - x * (150.5666 - x * 58.1375))))
    g = 0.0914 + x * (2.1856 + x * (4.8052 - x * (14.0195 - x * (4.2109 + x * 2.7747))))
    b = 0.1067 + x * (12.5925 - x * (60.1097 - x * (109.0745 - x * (88.5066 - x * 26.8183))))
    rgb = np.clip(np.concatenate([r, g, b], axis=-1), 0.0, 1.0)
    out = (rgb * 255.0 + 0.5).astype(np.uint8)
    out[~(depth_m > 0)] = 0
    return out
