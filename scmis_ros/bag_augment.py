"""Augment a recorded rosbag2 with synthesized and class-mixed RGB-D topics.

``python -m scmis_ros.bag_augment IN_BAG OUT_BAG --checkpoint CKPT`` (or ``ros2 run scmis_ros
augment_bag ...``) reads a rosbag2 (sqlite3 or mcap, via the ``rosbags`` library; no ROS
install needed), finds the label topic and the real colour / depth / camera_info topics by
name and type (:func:`scmis_ros.bag_io.find_topics`; raw ``sensor_msgs/Image`` or
``CompressedImage`` as image_transport lays it out: ``.../compressed`` jpeg / png,
``.../compressedDepth``), and writes a new bag holding every original message untouched
(same bytes, same timestamps, same connections) plus, in the label topic's namespace (for
predicted labels: the camera's, e.g. ``/camera/camera`` for realsense):

- ``synth/rgb`` and ``synth/depth`` (metres): one per label image, same header and bag
  timestamp, noise seed ``seed + i`` for the i-th label image, and ``synth/camera_info``;
- ``mixed/rgb``, ``mixed/depth``, ``mixed/labels``, ``mixed/camera_info``: the class-mix
  (``--mode``, ``--ratio``) of each real frame whose colour (+ depth) match a label image
  by stamp (``--tolerance-s``), header of the label image;
- with ``--labels-from SEGMENTER.pt`` (bags without labels, e.g. straight from a robot):
  ``labels`` predicted from each colour + depth pair by that segmenter checkpoint, then the
  topics above for every pair (header of the colour image).

New image topics travel like the input: a compressed colour stream gives
``synth/rgb/compressed`` (same codec), compressedDepth gives ``synth/depth/compressedDepth``
(same encoding), compressed streams give png labels on ``.../labels/compressed``; raw gives
rgb8 / 32FC1 / mono8 Images. camera_info is the input camera_info nearest in stamp (the
colour stream's, scaled to the output size), else the NYU Kinect intrinsics scaled.

A message that cannot be decoded or used is handled by ``--on-corrupt`` (stop: one error
line, no output; skip: copied untouched, counted, warned). The input bag is opened read-only
and never changed. The output is written into a hidden temporary folder beside OUT_BAG and
renamed into place when complete, so an interrupted or failed run leaves nothing (temporary
folders of killed runs are removed by the next run); an existing OUT_BAG is refused unless
``--overwrite``, which replaces only a bag written by scmis (never the input, a folder
containing it, or a folder holding anything but the bag).
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from tqdm import tqdm

from scmis_core.augment import MIX_MODES, class_mix
from scmis_core.cli import (OneLineArgumentParser, entry_point, finite_float, writable_folder,
                            writable_parent)
from scmis_core.output_dirs import OutputDirError, check_output_dir

from .bag_io import (CAMERA_INFO_TYPE, Topics, Transport, bag_info_text,
                     base_topic, camera_namespace, decode, encode, find_topics)
from .bags import (STORAGES, BagError, atomic_bag_writer, copy_connection, iter_messages,
                   open_bag, storage_of, typestore)
from .camera_info import CameraInfoBuffer, CameraInfoError, CameraModel, make_camera_info
from .conversions import ImageConversionError, stamp_ns
from .sync import ApproximateTimeSync

ON_CORRUPT = ("stop", "skip")
_STOP_HINT = " (--on-corrupt skip: skip such messages and go on)"
#: Corrupt messages reported one by one (then only counted).
WARN_LIMIT = 10
#: Any camera_info is nearer than this (ns): the bag's intrinsics do not change.
_ANY_STAMP = 2**62

__all__ = ["augment_bag", "find_topics", "main", "output_namespace", "write_preview"]


class CorruptMessage(ValueError):
    """One message of a used topic cannot be decoded or used (one-line reason)."""


def output_namespace(labels_topic: str) -> str:
    """Namespace of the generated topics: the label topic's (``/cam/labels`` -> ``/cam``)."""
    name = labels_topic.rstrip("/")
    if "/" not in name.lstrip("/"):
        return ""
    parent = name.rsplit("/", 1)[0]
    return parent if parent.startswith("/") else "/" + parent


def _decode_cdr(store: Any, raw: bytes, msgtype: str, where: str) -> Any:
    """Deserialize one message; a payload that is no valid CDR of ``msgtype`` (flipped or
    truncated bytes: rosbags raises SerdeError, struct.error, IndexError, ...) is a
    :class:`CorruptMessage`."""
    try:
        return store.deserialize_cdr(raw, msgtype)
    except Exception as exc:  # noqa: BLE001 - every decoder failure means a corrupt payload
        raise CorruptMessage(f"{where}: cannot decode the {msgtype} payload "
                             f"({type(exc).__name__}: {' '.join(str(exc).split())[:120]})"
                             ) from None


class _Scan:
    """What the first pass over the used topics found: frames matched by stamp, the
    transport of each stream, the camera infos, and corrupt camera_info messages."""

    def __init__(self) -> None:
        self.matches: dict[int, dict[str, int]] = {}
        self.transports: dict[str, Transport] = {}
        self.cameras = CameraInfoBuffer(capacity=1 << 30)
        self.corrupt: list[str] = []


def _scan(reader: Any, conns: dict[str, Any], key: str, tolerance_ns: int, store: Any,
          where: str, on_corrupt: str) -> _Scan:
    """First pass: for each frame (``key`` message index: labels, or colour when labels are
    predicted) the indices of the colour / depth messages that match it by header stamp."""
    roles = [r for r in (key, "labels", "rgb", "depth") if conns.get(r) is not None]
    roles = list(dict.fromkeys(roles))  # the key role first, each role once
    sync = ApproximateTimeSync(len(roles), tolerance_ns, queue_size=30) \
        if len(roles) > 1 else None
    index = {r: 0 for r in roles}
    by_id = {conns[r].id: r for r in roles}
    info = conns.get("camera_info")
    scan = _Scan()
    wanted = [conns[r] for r in roles] + ([info] if info is not None else [])
    for conn, _, raw in iter_messages(reader, wanted, where):
        if info is not None and conn.id == info.id:
            try:
                msg = _decode_cdr(store, raw, CAMERA_INFO_TYPE, f"topic {conn.topic}")
                scan.cameras.add(stamp_ns(msg.header), msg)
            except (CorruptMessage, CameraInfoError) as exc:
                if on_corrupt == "stop":
                    raise BagError(f"bag {where}: topic {conn.topic}: {exc}{_STOP_HINT}"
                                   ) from None
                scan.corrupt.append(f"{exc}")
            continue
        role = by_id[conn.id]
        i = index[role]
        index[role] += 1
        try:
            msg = _decode_cdr(store, raw, conn.msgtype, f"topic {conn.topic}, message {i}")
        except CorruptMessage as exc:
            if on_corrupt == "stop":
                raise BagError(f"bag {where}: {exc}{_STOP_HINT}") from None
            continue  # the second pass counts it
        scan.transports.setdefault(role, Transport.of(conn.msgtype, msg))
        if sync is None:
            scan.matches[i] = {}
            continue
        for group in sync.add(roles.index(role), stamp_ns(msg.header), i):
            found = dict(zip(roles, group))
            scan.matches[found.pop(key)] = found
    return scan


def _out_transports(topics: Topics, scan: _Scan, types: dict[str, str]) -> dict[str, Transport]:
    """Transport of the new topics per role: the input stream's, else the main stream's
    (colour, else labels) carried over."""
    main = next((scan.transports.get(r) or Transport.of(types[topics.get(r)])
                 for r in ("rgb", "labels") if topics.get(r)), Transport())
    return {role: (scan.transports.get(role) or Transport.of(types[topics.get(role)]))
            if topics.get(role) else main.for_role(role) for role in ("labels", "rgb", "depth")}


class _Frames:
    """Second pass: copies every message and writes what each completed frame produces."""

    def __init__(self, augment: dict[str, Any], writer: Any, store: Any, scan: _Scan,
                 topics: dict[str, str], transports: dict[str, Transport],
                 camera_topic: str | None):
        self.a, self.writer, self.store, self.scan = augment, writer, store, scan
        self.transports = transports
        self.conns = {}
        for key, topic in topics.items():
            role = key.split("_")[-1]
            msgtype = CAMERA_INFO_TYPE if role == "info" else transports[role].msgtype
            self.conns[key] = writer.add_connection(topic, msgtype, typestore=store)
        self.camera_topic = camera_topic
        self.counts = {"copied": 0, "labelled": 0, "synthesized": 0, "mixed": 0,
                       "camera_info": 0, "corrupt": 0}
        self.rows: list[dict[str, Any]] = []
        self.camera_sources: set[str] = set()

    def write(self, key: str, timestamp: int, raw: bytes) -> None:
        self.writer.write(self.conns[key], timestamp, raw)

    def image(self, key: str, role: str, array: np.ndarray, header: Any, ts: int) -> None:
        self.write(key, ts, encode(role, array, header, self.transports[role], self.store))

    def camera_info(self, key: str, header: Any, shape: tuple[int, int], ts: int) -> None:
        stamp = stamp_ns(header)
        model = (self.scan.cameras.match(stamp, self.a["tolerance_ns"]) or
                 self.scan.cameras.match(stamp, _ANY_STAMP))
        if model is None:
            model = CameraModel.nyu(*shape)
            self.camera_sources.add("NYU Kinect intrinsics scaled to the output size")
        else:
            self.camera_sources.add(f"{self.camera_topic} (nearest stamp, scaled to the "
                                    "output size)")
        msg = make_camera_info(model.scaled(*shape), header,
                               self.store.types[CAMERA_INFO_TYPE],
                               self.store.types["sensor_msgs/msg/RegionOfInterest"])
        self.write(key, ts, bytes(self.store.serialize_cdr(msg, CAMERA_INFO_TYPE)))
        self.counts["camera_info"] += 1

    def synthesize(self, entry: dict[str, Any], index: int, ts: int) -> None:
        """synth/rgb, synth/depth, synth/camera_info of one label map."""
        labels, header = entry["labels"], entry["header"]
        rgb, depth_m = self.a["synthesizer"].synth(labels, seed=self.a["seed"] + index)
        if rgb is not None:
            self.image("synth_rgb", "rgb", rgb, header, ts)
        if depth_m is not None:
            self.image("synth_depth", "depth", depth_m, header, ts)
        self.camera_info("synth_info", header, labels.shape, ts)
        entry.update(synth_rgb=rgb, synth_depth=depth_m)
        self.counts["synthesized"] += 1

    def predict(self, entry: dict[str, Any], ts: int) -> None:
        """labels (and the mixed/labels payload) of a colour + depth pair."""
        try:
            labels = self.a["labels_from"].predict_frame(entry["rgb"], entry.get("depth"))
        except ValueError as exc:
            raise CorruptMessage(f"frame of colour image {entry['index']}: the segmenter "
                                 f"cannot use it: {exc}") from None
        raw = encode("labels", labels, entry["header"], self.transports["labels"], self.store)
        self.write("labels", ts, raw)
        entry.update(labels=labels, labels_raw=raw)
        self.counts["labelled"] += 1

    def mix(self, entry: dict[str, Any], index: int, ts: int) -> tuple[Any, Any]:
        labels = entry["labels"]
        rgb, depth_m = entry["rgb"], entry.get("depth")
        where = f"frame {index}"
        if rgb.shape[:2] != labels.shape or (depth_m is not None and
                                             depth_m.shape != labels.shape):
            raise CorruptMessage(f"{where}: sizes differ: rgb {rgb.shape[:2]}, depth "
                                 f"{None if depth_m is None else depth_m.shape}, labels "
                                 f"{labels.shape}")
        rng = np.random.default_rng([self.a["seed"], index])
        try:
            mixed_rgb, mixed_depth, _ = class_mix(rgb, depth_m, labels, entry["synth_rgb"],
                                                  entry["synth_depth"], self.a["ratio"],
                                                  self.a["mode"], rng)
        except ValueError as exc:
            raise CorruptMessage(f"{where}: class mix failed: {exc}") from None
        header = entry["header"]
        self.image("mixed_rgb", "rgb", mixed_rgb, header, ts)
        if mixed_depth is not None:
            self.image("mixed_depth", "depth", mixed_depth, header, ts)
        self.write("mixed_labels", ts, entry["labels_raw"])
        self.camera_info("mixed_info", header, labels.shape, ts)
        self.counts["mixed"] += 1
        return mixed_rgb, mixed_depth


def augment_bag(input_bag: str | Path, output_bag: str | Path, synthesizer: Any, *,
                labels_topic: str | None = None, rgb_topic: str | None = None,
                depth_topic: str | None = None, camera_info_topic: str | None = None,
                labels_from: Any = None, labels_source: str = "", mode: str = "rgb",
                ratio: float = 0.5,
                seed: int = 0, storage: str | None = None, overwrite: bool = False,
                namespace: str | None = None, tolerance_s: float = 0.02,
                progress: bool = True, preview: str | Path | None = None,
                preview_rows: int = 4, other_inputs: Sequence[str | Path] = (),
                on_corrupt: str = "stop", warn: Callable[[str], None] | None = None
                ) -> dict[str, Any]:
    """Write ``output_bag`` = ``input_bag`` + synthesized (+ mixed) topics; see module doc.

    ``synthesizer`` is a :class:`scmis_core.synthesize.Synthesizer` (anything with
    ``synth(labels, seed)`` and ``num_classes``); ``labels_from`` a
    :class:`scmis_core.segment.Segmenter` (``predict_frame(rgb, depth_m)``, ``num_classes``)
    that predicts the labels from the colour + depth pairs instead of reading a label topic
    (``labels_source``: its name, for the summary).
    ``preview``: a PNG of the first ``preview_rows`` frames (labels | real rgb | synth rgb |
    mixed rgb | the same for depth), written after the bag. ``output_bag`` must not be,
    contain or lie inside the input bag or ``other_inputs`` (the checkpoints); with
    ``overwrite`` only a bag written by scmis is replaced (:mod:`scmis_core.output_dirs`).
    Returns a summary dict. Raises :class:`BagError` with a one-line reason for missing
    topics, empty or unreadable bags; nothing is written then.

    A message of the label / rgb / depth / camera_info topic that cannot be decoded (flipped
    or truncated payload), converted (wrong encoding or size) or used is corrupt:
    ``on_corrupt="stop"`` raises :class:`BagError` naming the topic, the message and what was
    wrong (no output); ``"skip"`` copies it untouched like every input message, generates
    nothing from it (nor its frame's mix), reports it through ``warn`` (first
    :data:`WARN_LIMIT`; default: stderr) and counts it in the summary (``corrupt``); a bag in
    which no frame is usable still fails.
    """
    input_bag, output_bag = Path(input_bag), Path(output_bag)
    if mode not in MIX_MODES:
        raise ValueError(f"mode: expected one of {', '.join(MIX_MODES)}, found {mode!r}")
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"ratio: expected a value in [0, 1], found {ratio}")
    if on_corrupt not in ON_CORRUPT:
        raise ValueError(f"on_corrupt: expected one of {', '.join(ON_CORRUPT)}, found "
                         f"{on_corrupt!r}")
    if labels_from is not None and labels_from.num_classes != synthesizer.num_classes:
        raise ValueError(f"--labels-from: the segmenter predicts {labels_from.num_classes} "
                         f"classes, the generator takes {synthesizer.num_classes}")
    warn = warn or (lambda text: print(f"warning: {text}", file=sys.stderr))
    protected = [input_bag, *other_inputs]
    try:  # before any work; checked again when the new bag is renamed into place
        check_output_dir(output_bag, overwrite=overwrite, inputs=protected, kind="rosbag2")
    except OutputDirError as exc:
        raise BagError(str(exc)) from None
    t_start = time.perf_counter()
    store = typestore()
    predicted = labels_from is not None
    with open_bag(input_bag) as reader:
        storage = storage or storage_of(input_bag)
        if reader.message_count == 0:
            raise BagError(f"bag {input_bag}: contains no messages")
        types = {c.topic: c.msgtype for c in reader.connections}
        topics = find_topics(types, labels_topic, rgb_topic, depth_topic, camera_info_topic,
                             need_labels=not predicted)
        if predicted and topics.rgb is None:
            raise BagError(f"bag {input_bag}: --labels-from needs a colour topic; none found "
                           f"among {', '.join(sorted(types))}; name it with --rgb-topic")
        mixing = topics.rgb is not None and (topics.depth is not None or mode == "rgb")
        if mode in ("depth", "rgbd") and topics.rgb is not None and topics.depth is None:
            raise BagError(f"mode {mode} needs a real depth topic; none found (topics: "
                           f"{', '.join(sorted(types))}); name it with --depth-topic")
        by_topic = {c.topic: c for c in reader.connections}
        conns = {role: by_topic[t] for role in ("labels", "rgb", "depth", "camera_info")
                 if (t := topics.get(role))}
        if not mixing and not predicted:
            conns.pop("rgb", None)
            conns.pop("depth", None)
        key = "rgb" if predicted else "labels"
        if namespace is not None:
            ns = namespace.rstrip("/")
        elif predicted:
            ns = camera_namespace([base_topic(t, types[t]) for t in (topics.rgb, topics.depth)
                                   if t])
        else:
            ns = output_namespace(base_topic(topics.labels, types[topics.labels]))
        scan = _scan(reader, conns, key, int(round(tolerance_s * 1e9)), store,
                     str(input_bag), on_corrupt)
        transports = _out_transports(topics, scan, types)
        new_topics = {"synth_rgb": transports["rgb"].topic(f"{ns}/synth/rgb"),
                      "synth_depth": transports["depth"].topic(f"{ns}/synth/depth"),
                      "synth_info": f"{ns}/synth/camera_info"}
        if predicted:
            new_topics["labels"] = transports["labels"].topic(f"{ns}/labels")
        if mixing:  # mixed/labels: the label payload as it is (input or predicted)
            new_topics.update(mixed_rgb=transports["rgb"].topic(f"{ns}/mixed/rgb"),
                              mixed_depth=transports["depth"].topic(f"{ns}/mixed/depth"),
                              mixed_labels=transports["labels"].topic(f"{ns}/mixed/labels"),
                              mixed_info=f"{ns}/mixed/camera_info")
        clash = sorted(set(new_topics.values()) & set(types))
        if clash:
            raise BagError(f"bag {input_bag}: already has {', '.join(clash)} (augmented "
                           "before?); pass --namespace for other topic names")
        wanted: dict[str, dict[int, int]] = {"labels": {}, "rgb": {}, "depth": {}}
        if mixing or predicted:
            for k, found in scan.matches.items():
                for role, idx in found.items():
                    wanted[role][idx] = k
        settings = {"synthesizer": synthesizer, "labels_from": labels_from, "seed": seed,
                    "ratio": ratio, "mode": mode, "tolerance_ns": int(round(tolerance_s * 1e9))}
        with atomic_bag_writer(output_bag, storage, overwrite, inputs=protected,
                               tool="scmis_ros.bag_augment") as writer:
            out_conns = {c.id: copy_connection(writer, c, store) for c in reader.connections}
            run = _Frames(settings, writer, store, scan, new_topics, transports,
                          topics.camera_info)
            corrupt: list[str] = []
            dropped: set[int] = set()  # frames that lost a message: never mixed
            pending: dict[int, dict[str, Any]] = {}

            def skip(text: str, frame: int | None) -> None:
                run.counts["corrupt"] += 1
                if len(corrupt) < WARN_LIMIT:
                    warn(f"bag {input_bag}: {text}; skipped")
                corrupt.append(text)
                if frame is not None:
                    pending.pop(frame, None)
                    dropped.add(frame)

            for text in scan.corrupt:
                skip(text, None)
            by_id = {c.id: r for r, c in conns.items() if r != "camera_info"}
            index = {r: 0 for r in by_id.values()}
            bar = tqdm(total=reader.message_count, desc=f"augment {input_bag.name}",
                       unit="msg", disable=not progress, file=sys.stderr)
            for conn, timestamp, raw in iter_messages(reader, None, str(input_bag)):
                writer.write(out_conns[conn.id], timestamp, raw)
                run.counts["copied"] += 1
                bar.update(1)
                role = by_id.get(conn.id)
                if role is None:
                    continue
                idx = index[role]
                index[role] += 1
                where = f"topic {conn.topic}, message {idx}"
                frame = idx if role == key else wanted[role].get(idx)
                try:
                    msg = _decode_cdr(store, raw, conn.msgtype, where)
                    if role == "labels":
                        labels = decode("labels", msg, synthesizer.num_classes)
                        entry = {"labels": labels, "labels_raw": raw, "header": msg.header}
                        run.synthesize(entry, idx, timestamp)
                        if not mixing and len(run.rows) < preview_rows:
                            run.rows.append(entry)
                        if not mixing or idx not in scan.matches or idx in dropped:
                            continue
                        pending.setdefault(idx, {}).update(entry)
                    else:
                        if frame is None or frame in dropped or frame not in scan.matches:
                            continue
                        entry = pending.setdefault(frame, {"index": frame})
                        entry[role] = decode(role, msg)
                        if role == key:
                            entry.update(header=msg.header, ts=timestamp)
                    entry = pending[frame]
                    if not {key, *scan.matches[frame]} <= entry.keys():
                        continue
                    del pending[frame]
                    if predicted:
                        run.predict(entry, timestamp)
                        run.synthesize(entry, frame, timestamp)
                    mixed = run.mix(entry, frame, timestamp) if mixing else (None, None)
                except (CorruptMessage, ImageConversionError, ValueError) as exc:
                    text = str(exc) if isinstance(exc, CorruptMessage) else (
                        f"{where}: {exc}" if isinstance(exc, ImageConversionError)
                        else f"{where}: synthesis failed: {exc}")
                    if on_corrupt == "stop":
                        raise BagError(f"bag {input_bag}: {text}{_STOP_HINT}") from None
                    skip(text, frame)
                    continue
                if len(run.rows) < preview_rows:
                    run.rows.append({**entry, "mixed_rgb": mixed[0], "mixed_depth": mixed[1]})
            bar.close()
            if run.counts["synthesized"] == 0:
                what = (f"colour + depth pair (--tolerance-s {tolerance_s})" if predicted
                        else f"label message on {topics.labels}")
                raise BagError(f"bag {input_bag}: no usable {what}" + (
                    f" ({run.counts['corrupt']} corrupt messages skipped; first: "
                    f"{corrupt[0]})" if corrupt else ""))
            if len(corrupt) > WARN_LIMIT:
                warn(f"bag {input_bag}: {len(corrupt)} corrupt messages skipped in all")
    if preview is not None and run.rows:
        write_preview(run.rows, preview)
    return {"input": str(input_bag), "output": str(output_bag), "storage": storage,
            "labels_topic": None if predicted else topics.labels,
            "labels_from": (labels_source or "segmenter") if predicted else None,
            "rgb_topic": topics.rgb if mixing or predicted else None,
            "depth_topic": topics.depth if mixing or predicted else None,
            "camera_info_topic": topics.camera_info,
            "camera_info_from": sorted(run.camera_sources),
            "transports": {r: t.kind + (f" {t.codec}" if t.codec else "")
                           for r, t in transports.items()},
            "new_topics": new_topics, **run.counts,
            "corrupt_messages": corrupt[:WARN_LIMIT],
            "preview": str(preview) if preview is not None and run.rows else None,
            "seconds": round(time.perf_counter() - t_start, 2)}


def write_preview(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """A PNG grid, one row per frame: labels | rgb: real, synth, mixed | depth: the same."""
    from scmis_core.data.labels import colorize_depth, colorize_labels
    from scmis_core.visualize import grid, save_png

    cells = []
    for row in rows:
        shape = row["labels"].shape
        blank = np.full(shape + (3,), 255, np.uint8)
        line = [colorize_labels(row["labels"])]
        for key in ("rgb", "synth_rgb", "mixed_rgb"):
            line.append(row[key] if row.get(key) is not None else blank)
        for key in ("depth", "synth_depth", "mixed_depth"):
            line.append(colorize_depth(row[key]) if row.get(key) is not None else blank)
        cells.append(line)
    return save_png(grid(cells), path)


def summary_text(result: dict[str, Any]) -> str:
    """The output bag as ``ros2 bag info`` shows it, then what was added."""
    lines = [bag_info_text(result["output"]), "",
             f"augmented {result['input']} -> {result['output']} in {result['seconds']} s: "
             f"{result['copied']} messages copied untouched, "
             + (f"{result['labelled']} label maps predicted, " if result["labels_from"]
                else "")
             + f"{result['synthesized']} synthesized, {result['mixed']} mixed, "
             f"{result['camera_info']} camera_info, {result['corrupt']} corrupt skipped",
             "new topics: " + ", ".join(result["new_topics"].values()),
             "camera_info from: " + ("; ".join(result["camera_info_from"]) or "-")]
    if result["preview"]:
        lines.append(f"preview: {result['preview']}")
    return "\n".join(lines)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@entry_point
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m scmis_ros.bag_augment`` / ``ros2 run scmis_ros
    augment_bag``: expected failures end with one ``error:`` line and exit code 2."""
    parser = OneLineArgumentParser(
        prog="python -m scmis_ros.bag_augment",
        description="Add synthesized and class-mixed RGB-D topics (and camera_info; with "
                    "--labels-from, predicted labels) to a copy of a rosbag2 (sqlite3 or "
                    "mcap); raw or compressed image topics, new ones in the same transport. "
                    "The input bag is never modified.")
    parser.add_argument("input", help="input rosbag2 folder")
    parser.add_argument("output", help="output rosbag2 folder (must not exist unless "
                        "--overwrite)")
    parser.add_argument("--checkpoint", default="", help="generator checkpoint (.pt) or "
                        "shipped weights by name; default: rooms (shipped)")
    parser.add_argument("--labels-from", default=None, metavar="SEGMENTER",
                        help="predict the labels from the colour + depth pairs with this "
                        "segmenter checkpoint (scmis-segment train, a fine-tune checkpoint, "
                        "or the shipped rooms-judge) instead of reading a label topic")
    parser.add_argument("--labels-topic", default=None, help="label image topic (default: "
                        "the image topic named like .../labels)")
    parser.add_argument("--rgb-topic", default=None, help="real colour topic, raw or "
                        "compressed (default: found by name; none = no mixing)")
    parser.add_argument("--depth-topic", default=None, help="real depth topic, raw or "
                        "compressedDepth (default: found by name)")
    parser.add_argument("--camera-info-topic", default=None, help="camera_info copied to "
                        "the new topics (default: the one beside the colour stream; none: NYU "
                        "Kinect intrinsics)")
    parser.add_argument("--mode", default="rgb", choices=MIX_MODES, help="class-mix mode")
    parser.add_argument("--ratio", type=finite_float, default=0.5,
                        help="fraction of classes mixed")
    parser.add_argument("--seed", type=int, default=0, help="noise seed of the first frame "
                        "(then +1 per frame) and of the class choice")
    parser.add_argument("--tolerance-s", type=finite_float, default=0.02,
                        help="largest stamp difference between matched rgb/depth/labels")
    parser.add_argument("--storage", default=None, choices=sorted(STORAGES),
                        help="storage of the output (default: the input's)")
    parser.add_argument("--namespace", default=None, help="namespace of the new topics "
                        "(default: the label topic's, or the camera's)")
    parser.add_argument("--on-corrupt", default="stop", choices=ON_CORRUPT,
                        help="a label/rgb/depth message that cannot be decoded or used: stop "
                        "with an error (default; no output), or skip it with a counted "
                        "warning (it is still copied untouched)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing output bag written by this command (never "
                        "a folder holding other files, the input, or one containing it)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--preview", default=None, help="also write a PNG of the first "
                        "frames (labels | rgb real/synth/mixed | depth real/synth/mixed)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON "
                        "instead of the ros2-bag-info-style text")
    args = parser.parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        from scmis_core.pretrained import resolve
        from scmis_core.synthesize import Synthesizer

        from .synth_node import resolve_checkpoint

        checkpoint = resolve_checkpoint(args.checkpoint)
        labels_from = (str(resolve(args.labels_from, "segmenter")) if args.labels_from
                       else None)  # a shipped name (rooms-judge) -> its file
        inputs = [args.input, checkpoint, labels_from]
        # before loading the models: refuse a bad or unwritable output at once
        check_output_dir(args.output, overwrite=args.overwrite, kind="rosbag2", inputs=inputs)
        writable_folder(Path(args.output).parent, f"output {args.output}: folder")
        if args.preview:
            writable_parent(args.preview, "--preview")
        segmenter = None
        if args.labels_from:
            from scmis_core.segment import Segmenter

            segmenter = Segmenter.from_checkpoint(labels_from, device=args.device)
        synth = Synthesizer.from_checkpoint(checkpoint, device=args.device)
        result = augment_bag(args.input, args.output, synth, labels_from=segmenter,
                             labels_source=args.labels_from or "",
                             labels_topic=args.labels_topic, rgb_topic=args.rgb_topic,
                             depth_topic=args.depth_topic,
                             camera_info_topic=args.camera_info_topic, mode=args.mode,
                             ratio=args.ratio, seed=args.seed, storage=args.storage,
                             overwrite=args.overwrite, namespace=args.namespace,
                             tolerance_s=args.tolerance_s, progress=not args.no_progress,
                             preview=args.preview, other_inputs=inputs[1:],
                             on_corrupt=args.on_corrupt)
    except KeyboardInterrupt:
        # the clean-up is done: a second Ctrl-C during interpreter shutdown (a user pressing
        # twice, or one delivered late under load) must not turn exit code 130 into a death
        # by SIGINT
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("interrupted: no output written", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(json.dumps(result, indent=2) if args.json else summary_text(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
