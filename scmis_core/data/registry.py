"""Open any data source by name: ``open_dataset("nyuv2", root, "train")``.

Sources (the names of :data:`scmis_core.config.DATA_SOURCES`):

=============  ==============================================  ==========================
source         root                                            keyword arguments
=============  ==============================================  ==========================
rooms          unused (procedural)                             size, height, width, seed,
                                                               noise
nyuv2          folder in the NYUv2 layout                      --
nyuv2-mat      ``nyu_depth_v2_labeled.mat``                    mapping, splits
sunrgbd        folder in the SUN RGB-D layout                  --
cityscapes     Cityscapes root (leftImg8bit/, gtFine/)         --
folder         generic folder with ``classes.yaml``            --
=============  ==============================================  ==========================

Sources are imported lazily, so a missing optional module only matters when it is used.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Any, Callable

from ..cli import CliError, OneLineArgumentParser, parse_size  # noqa: F401 (re-exported)
from ..config import DATA_SOURCES, DataConfig
from .base import LabelledDataset

#: source name -> (module, class name); every name of config.DATA_SOURCES is listed.
_SOURCES: dict[str, tuple[str, str]] = {
    "rooms": ("scmis_core.data.rooms", "RoomsDataset"),
    "nyuv2": ("scmis_core.data.nyuv2", "NYUv2Dataset"),
    "nyuv2-mat": ("scmis_core.data.nyuv2", "NYUv2MatDataset"),
    "sunrgbd": ("scmis_core.data.sunrgbd", "SUNRGBDDataset"),
    "cityscapes": ("scmis_core.data.cityscapes", "CityscapesDataset"),
    "folder": ("scmis_core.data.folder", "FolderDataset"),
}
assert set(_SOURCES) == set(DATA_SOURCES), "registry and config.DATA_SOURCES disagree"


def source_class(source: str) -> Callable[..., LabelledDataset]:
    """The data-set class of ``source`` (imported on first use)."""
    if source not in _SOURCES:
        raise ValueError(f"unknown data source {source!r}; expected one of "
                         f"{', '.join(DATA_SOURCES)}")
    module_name, class_name = _SOURCES[source]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise ImportError(f"data source {source!r} needs {module_name}, which is not "
                          "available in this installation") from None
    if not hasattr(module, class_name):
        raise ImportError(f"data source {source!r} needs {module_name}.{class_name}, which "
                          "is not defined in this installation")
    return getattr(module, class_name)


def open_dataset(source: str, root: str = "", split: str = "train",
                 **kwargs: Any) -> LabelledDataset:
    """Open ``split`` of data source ``source`` at ``root``.

    ``rooms`` ignores ``root`` and takes ``size``, ``height``, ``width``, ``seed``, ``noise``,
    ``homes``, ``views_per_home``;
    ``nyuv2-mat`` takes ``mapping`` and ``splits`` (paths of classMapping40.mat / splits.mat).
    Every other source needs ``root``.
    """
    cls = source_class(source)
    if source == "rooms":
        return cls(split=split, **kwargs)
    if not root:
        raise ValueError(f"data source {source!r}: expected the path of the data set as root, "
                         "found an empty string")
    return cls(root, split=split, **kwargs)


def dataset_from_config(data_cfg: DataConfig, split: str) -> LabelledDataset:
    """Open ``split`` of the source described by ``data_cfg``.

    For ``rooms`` the frames are generated at ``data_cfg.height`` x ``data_cfg.width`` with
    ``rooms_test_size`` frames for the test split (``data_cfg.test_split`` or "test") and
    ``rooms_train_size`` otherwise; with ``rooms_homes`` > 0 the other splits hold
    ``rooms_homes`` x ``rooms_views_per_home`` views of homes and the test split
    ``rooms_test_size`` views of other homes. If ``data_cfg.num_classes`` is not 0 it must
    match the source's class count.
    """
    if data_cfg.source == "rooms":
        is_test = split in (data_cfg.test_split, "test")
        size = data_cfg.rooms_test_size if is_test else data_cfg.rooms_train_size
        homes = {}
        if data_cfg.rooms_homes:
            homes = {"homes": data_cfg.rooms_homes,
                     "views_per_home": data_cfg.rooms_views_per_home}
            if not is_test:
                size = data_cfg.rooms_homes * data_cfg.rooms_views_per_home
        dataset = open_dataset("rooms", split=split, size=size, height=data_cfg.height,
                               width=data_cfg.width, seed=data_cfg.seed, **homes)
        description = {"source": "rooms", "split": split, "size": size,
                       "height": data_cfg.height, "width": data_cfg.width,
                       "seed": data_cfg.seed, **homes}
    else:
        dataset = open_dataset(data_cfg.source, data_cfg.root, split)
        description = {"source": data_cfg.source, "root": str(Path(data_cfg.root).resolve()),
                       "split": split}
    if getattr(data_cfg, "cache", False):
        from .frame_cache import CachedDataset, files_fingerprint, renderer_fingerprint

        if data_cfg.source == "rooms":
            description["renderer"] = renderer_fingerprint()
        else:  # the files' sizes and times: an edited data set is never served stale
            description["files"] = files_fingerprint(data_cfg.root)
        dataset = CachedDataset(dataset, description, data_cfg.cache_dir or None)
    if data_cfg.num_classes and data_cfg.num_classes != dataset.num_classes:
        raise ValueError(f"data.num_classes: expected {dataset.num_classes} (the classes of "
                         f"source {data_cfg.source}), found {data_cfg.num_classes}")
    return dataset


# --- data-source options of the command-line tools (the rest lives in scmis_core.cli) ------

def add_source_arguments(parser: argparse.ArgumentParser, required: bool = True,
                         default: str | None = None) -> None:
    """The options that select a data source (--source, --root, --seed, --mapping, --splits).

    ``required=False`` with a ``default`` source for tools that have another input too.
    """
    parser.add_argument("--source", required=required, default=default, choices=DATA_SOURCES,
                        help="data source to read" +
                             (f" (default {default})" if default else ""))
    parser.add_argument("--root", default="",
                        help="path of the data set (folder, or the .mat file for nyuv2-mat); "
                             "unused for rooms")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the procedural rooms frames (default 0)")
    parser.add_argument("--homes", type=int, default=0, metavar="N",
                        help="rooms: frames are views of N homes (split train; other splits: "
                             "other homes), --views-per-home each; 0 = every frame its own "
                             "home (default)")
    parser.add_argument("--views-per-home", type=int, default=25, metavar="V",
                        help="rooms with --homes: views of each home (default 25)")
    parser.add_argument("--mapping", default=None,
                        help="nyuv2-mat: classMapping40.mat (default: next to the .mat)")
    parser.add_argument("--splits", default=None,
                        help="nyuv2-mat: splits.mat (default: next to the .mat; without it a "
                             "non-standard fallback split is used, with a warning)")


def open_from_args(args: argparse.Namespace, split: str, size: tuple[int, int] | None,
                   rooms_frames: int) -> LabelledDataset:
    """Open ``split`` of the source named by :func:`add_source_arguments` options.

    Procedural rooms frames are generated at ``size`` (default 240x320), ``rooms_frames`` of
    them; with ``--homes N`` the split is the N x ``--views-per-home`` views of its homes.
    """
    kwargs: dict[str, Any] = {}
    homes, views = getattr(args, "homes", 0), getattr(args, "views_per_home", 25)
    if homes < 0 or views < 1:
        raise CliError(f"--homes / --views-per-home: expected N >= 0 and V >= 1, found "
                       f"{homes} and {views}")
    if homes and args.source != "rooms":
        raise CliError(f"--homes: only the rooms source has homes, found --source "
                       f"{args.source}")
    if args.source == "rooms":
        height, width = size if size is not None else (240, 320)
        kwargs = {"size": rooms_frames, "height": height, "width": width, "seed": args.seed}
        if homes:  # every split: N homes (train: train homes; others: unseen homes)
            kwargs.update(size=homes * views, homes=homes, views_per_home=views)
    elif args.source == "nyuv2-mat":
        kwargs = {"mapping": args.mapping, "splits": args.splits}
    return open_dataset(args.source, args.root, split, **kwargs)
