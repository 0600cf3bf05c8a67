"""Stand-in inputs for tests, the benchmark and smoke runs: a seeded, untrained generator
checkpoint in the trainer's format (seconds to write, no training) and label images.

An untrained generator exercises exactly the same code path as a trained one (same network,
same inference API, same output sizes); only the pixel values are meaningless.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from scmis_core.checkpoint import save_checkpoint
from scmis_core.config import load_config
from scmis_core.data.labels import NYU40_CLASSES
from scmis_core.models import build_generator

#: Overrides of the tiny test generator (32x32 network, width 4).
TINY_OVERRIDES = ("data.height=32", "data.width=32", "model.width=4", "model.num_scales=3",
                  "model.spade_hidden=8", "model.disc_width=8")


def write_generator_checkpoint(path: str | Path, config: str | Path | None = None,
                               overrides: tuple[str, ...] | list[str] = TINY_OVERRIDES,
                               seed: int = 0) -> Path:
    """Write an untrained generator checkpoint (``kind: gan``, NYU40 classes) to ``path``.

    ``config`` / ``overrides`` select the architecture as for ``python -m scmis_core.train``;
    the weights come from ``torch.manual_seed(seed)``. Loadable by
    :meth:`scmis_core.synthesize.Synthesizer.from_checkpoint`.
    """
    cfg = load_config(config, list(overrides))
    num_classes = len(NYU40_CLASSES)  # ids 1..40, 0 = void
    torch.manual_seed(seed)
    gen = build_generator(cfg.model, num_classes)
    state = {"kind": "gan", "config": cfg.to_dict(), "num_classes": num_classes,
             "class_names": list(NYU40_CLASSES), "step": 0,
             "models": {"G": gen.state_dict()}}
    return save_checkpoint(state, path)


def label_map(height: int, width: int, num_classes: int = 40, seed: int = 0) -> np.ndarray:
    """A seeded blocky label map (H, W) uint8 with ids 1..num_classes (a few big regions)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(1, num_classes + 1, size=(4, 4), dtype=np.uint8)
    rows = np.minimum(np.arange(height) * 4 // height, 3)
    cols = np.minimum(np.arange(width) * 4 // width, 3)
    return coarse[rows[:, None], cols[None, :]]


def write_rooms_bag(path: str | Path, storage: str = "sqlite3", frames: int = 4,
                    height: int = 32, width: int = 48, namespace: str = "/camera",
                    period_ns: int = 100_000_000, jitter_ns: int = 3_000_000,
                    seed: int = 0) -> Path:
    """A rosbag2 of procedural-rooms frames: ``NS/rgb``, ``NS/depth``, ``NS/labels``
    (Image, with slightly different stamps per topic, as real drivers give) plus an unrelated
    ``/chatter`` (std_msgs/String) topic. Written with rosbags (no ROS install needed)."""
    from rosbags.rosbag2 import Writer

    from scmis_core.data.rooms import RoomsDataset

    from .bags import STORAGES, typestore
    from .conversions import make_image

    store = typestore()
    image_cls = store.types["sensor_msgs/msg/Image"]
    header_cls = store.types["std_msgs/msg/Header"]
    time_cls = store.types["builtin_interfaces/msg/Time"]
    string_cls = store.types["std_msgs/msg/String"]
    data = RoomsDataset(size=frames, height=height, width=width, seed=seed, split="bag")
    writer = Writer(path, version=Writer.VERSION_LATEST, storage_plugin=STORAGES[storage])
    writer.open()
    try:
        conns = {name: writer.add_connection(f"{namespace}/{name}", "sensor_msgs/msg/Image",
                                             typestore=store)
                 for name in ("rgb", "depth", "labels")}
        chatter = writer.add_connection("/chatter", "std_msgs/msg/String", typestore=store)
        t0 = 1_700_000_000_000_000_000
        for i in range(frames):
            sample = data[i]
            images = {"rgb": (sample.rgb, "rgb8"), "depth": (sample.depth_m, "32FC1"),
                      "labels": (sample.labels.astype(np.uint8), "mono8")}
            for k, (name, (array_in, encoding)) in enumerate(images.items()):
                stamp = t0 + i * period_ns + k * jitter_ns
                header = header_cls(stamp=time_cls(sec=stamp // 1_000_000_000,
                                                   nanosec=stamp % 1_000_000_000),
                                    frame_id="camera")
                msg = make_image(array_in, encoding, header, image_cls)
                writer.write(conns[name], stamp + 1_000_000,
                             store.serialize_cdr(msg, "sensor_msgs/msg/Image"))
            text = string_cls(data=f"frame {i}")
            writer.write(chatter, t0 + i * period_ns + 50_000_000,
                         store.serialize_cdr(text, "std_msgs/msg/String"))
    finally:
        writer.close()
    return Path(path)
