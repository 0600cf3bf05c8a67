"""rosbag2 helpers on the ``rosbags`` library: open with clear errors, copy connections,
write atomically (temp folder + rename), and resolve message classes for rclpy.

Works for both storage formats of rosbag2 (``sqlite3`` and ``mcap``) without a ROS install.
"""

from __future__ import annotations

import importlib
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

import yaml
from rosbags.rosbag2 import Reader, ReaderError, StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from scmis_core.output_dirs import (OutputDirError, check_output_dir, remove_stale_temps,
                                    replace_output_dir, temp_dir_beside)

STORAGES = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}


class BagError(RuntimeError):
    """A bag is missing, unreadable, empty, or lacks what was asked for."""


def typestore() -> Any:
    """The rosbags type store of the ROS 2 distribution in use (Kilted)."""
    return get_typestore(Stores.ROS2_KILTED)


def storage_of(path: str | Path) -> str:
    """Storage identifier (``sqlite3`` / ``mcap``) from a bag folder's metadata.yaml."""
    meta = Path(path) / "metadata.yaml"
    try:
        info = yaml.safe_load(meta.read_text())["rosbag2_bagfile_information"]
        return str(info["storage_identifier"])
    except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
        raise BagError(f"bag {path}: cannot read the storage format from {meta}: "
                       f"{type(exc).__name__}: {exc}") from None


@contextmanager
def open_bag(path: str | Path) -> Iterator[Reader]:
    """Open a rosbag2 folder read-only (rosbags never writes to it); clear errors."""
    path = Path(path)
    if not path.exists():
        raise BagError(f"bag {path}: not found")
    if path.is_dir() and not (path / "metadata.yaml").is_file():
        raise BagError(f"bag {path}: not a rosbag2 folder (no metadata.yaml)")
    try:
        reader = Reader(path)
        reader.open()
    except (ReaderError, OSError, KeyError, ValueError, yaml.YAMLError) as exc:
        raise BagError(f"bag {path}: not a readable rosbag2 (corrupt or unsupported): "
                       f"{type(exc).__name__}: {exc}") from None
    except Exception as exc:  # sqlite / mcap parser errors have library-specific types
        raise BagError(f"bag {path}: not a readable rosbag2 (corrupt or unsupported): "
                       f"{type(exc).__name__}: {exc}") from None
    try:
        yield reader
    finally:
        reader.close()


def iter_messages(reader: Reader, connections: list[Any] | None = None, where: str = ""
                  ) -> Iterator[tuple[Any, int, bytes]]:
    """``reader.messages()`` with storage errors turned into :class:`BagError`."""
    try:
        yield from reader.messages(connections or ())
    except (ReaderError, OSError, ValueError, KeyError) as exc:
        raise BagError(f"bag {where or reader.path}: reading failed (corrupt?): "
                       f"{type(exc).__name__}: {exc}") from None
    except Exception as exc:
        if isinstance(exc, (BagError, KeyboardInterrupt)):
            raise
        raise BagError(f"bag {where or reader.path}: reading failed (corrupt?): "
                       f"{type(exc).__name__}: {exc}") from None


def copy_connection(writer: Writer, conn: Any, store: Any = None) -> Any:
    """Add ``conn`` (from a reader) to ``writer`` with its type, definition and QoS."""
    msgdef = conn.msgdef.data if conn.msgdef is not None else ""
    kwargs: dict[str, Any] = {}
    if msgdef and conn.digest:
        kwargs.update(msgdef=msgdef, rihs01=conn.digest)
    else:  # older bags carry no definitions: take them from the type store
        store = store or typestore()
        if conn.msgtype not in store.types:
            raise BagError(f"topic {conn.topic}: type {conn.msgtype} has no message "
                           "definition in the bag nor in the rosbags type store")
        kwargs.update(typestore=store)
    ext = conn.ext
    return writer.add_connection(conn.topic, conn.msgtype,
                                 serialization_format=getattr(ext, "serialization_format",
                                                              "cdr"),
                                 offered_qos_profiles=list(getattr(ext, "offered_qos_profiles",
                                                                   [])),
                                 **kwargs)


@contextmanager
def atomic_bag_writer(output: str | Path, storage: str, overwrite: bool = False,
                      inputs: Iterable[str | Path | None] = (), tool: str = ""
                      ) -> Iterator[Writer]:
    """A :class:`Writer` whose bag appears at ``output`` only when the block completes.

    The bag is written into a hidden temporary folder beside ``output``
    (``.NAME.tmp-HOST-PID-*``; those of killed runs are removed first) and renamed into place
    at the end; on any exception (Ctrl-C included) the temporary folder is removed and nothing
    appears. ``output`` must not be, contain or lie inside one of ``inputs``. An existing
    ``output`` is refused unless ``overwrite``, and even then unless it is a bag written by
    scmis (marker file) holding nothing but the bag's files; it is replaced only after the new
    bag is complete (:mod:`scmis_core.output_dirs`).
    """
    output = Path(output)
    if storage not in STORAGES:
        raise BagError(f"storage: expected one of {', '.join(STORAGES)}, found {storage!r}")
    inputs = list(inputs)
    try:
        check_output_dir(output, overwrite=overwrite, inputs=inputs, kind="rosbag2")
    except OutputDirError as exc:
        raise BagError(str(exc)) from None
    try:
        remove_stale_temps(output)
        tmp = temp_dir_beside(output)
    except OSError as exc:
        raise BagError(f"output {output}: cannot write there ({exc.strerror or exc})") from None
    writer = Writer(tmp / output.name, version=Writer.VERSION_LATEST,
                    storage_plugin=STORAGES[storage])
    try:
        writer.open()
        yield writer
        writer.close()
        try:
            replace_output_dir(tmp / output.name, output, overwrite=overwrite, inputs=inputs,
                               kind="rosbag2", tool=tool)
        except OutputDirError as exc:
            raise BagError(str(exc)) from None
    except BaseException:
        if writer.storage is not None:
            try:
                writer.abort()
            except Exception:  # the temp folder is removed below anyway
                pass
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def message_class(msgtype: str) -> Any:
    """``pkg/msg/Name`` -> the rclpy message class (``BagError`` when not importable)."""
    parts = msgtype.split("/")
    if len(parts) != 3:
        raise BagError(f"message type {msgtype!r}: expected pkg/msg/Name")
    try:
        return getattr(importlib.import_module(f"{parts[0]}.{parts[1]}"), parts[2])
    except (ImportError, AttributeError):
        raise BagError(f"message type {msgtype}: its Python package {parts[0]} is not "
                       "installed") from None


def bag_summary(path: str | Path) -> dict[str, Any]:
    """{topic: {type, count}} and totals of a bag (for reports and tests)."""
    with open_bag(path) as reader:
        return {"storage": storage_of(path), "messages": reader.message_count,
                "duration_s": reader.duration / 1e9,
                "topics": {t: {"type": info.msgtype, "count": info.msgcount}
                           for t, info in sorted(reader.topics.items())}}
