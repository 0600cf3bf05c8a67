"""synth node: label images in, synthesized RGB + metric depth out (docs/ros.md).

A managed (lifecycle) node. ``configure`` loads the generator, ``activate`` subscribes and
starts publishing, ``deactivate`` stops, ``cleanup`` frees the model and its memory,
``shutdown`` ends the process cleanly. With ``autostart`` (default) the node configures and
activates itself at start; the launch files leave it unconfigured with ``autostart:=false``:

    ros2 lifecycle set /synth_node configure   # then activate / deactivate / cleanup / shutdown

Topics (remappable): subscribes ``labels`` (sensor_msgs/Image mono8, 8UC1, mono16, 16UC1 class
ids, or a png CompressedImage on ``labels/compressed``: ``transport``) and, for
``synth/camera_info``, ``camera_info``; publishes ``synth/rgb`` (rgb8), ``synth/depth`` (32FC1
metres), optionally ``synth/depth_mm`` (16UC1 millimetres), ``synth/rgb/compressed`` and
``synth/depth/compressedDepth`` (``publish_compressed``), ``synth/camera_info`` with every
pair (the input camera_info matched by stamp, else the configured intrinsics, scaled to the
output size) and ``synth/points`` (PointCloud2 XYZRGB, ``publish_points``) — each with the
input's header (same stamp and frame_id) — and ``/diagnostics``.

Behaviour: reliable keep-last outputs (received by reliable and best-effort subscribers);
the subscription callback only stores the newest label image in a single-slot queue (an
older one not yet taken is dropped and counted), and a worker thread runs the generator, so
a slow model never blocks the executor nor piles up frames. Nothing is computed while no one
subscribes to an output (the publishers' matched events). A bad message (wrong encoding or
size, ids out of range, empty data) or one larger than ``max_input_pixels`` is dropped with
a throttled warning.

    ros2 run scmis_ros synth_node --ros-args -p checkpoint:=runs/rooms_small/final.pt \\
        -r labels:=/camera/labels
"""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, PointCloud2

from scmis_core.data.transforms import resize_nearest
from scmis_core.pretrained import check as check_checkpoint
from scmis_core.pretrained import resolve
from scmis_core.synthesize import BACKENDS, Synthesizer

from .camera_info import CameraInfoBuffer, CameraModel, fill_camera_info
from .conversions import ImageConversionError, depth_m_to_mm, stamp_ns
from .diagnostics import DIAG_PARAMS, ERROR, OK, WARN, Diagnostics, NodeStats
from .image_topics import (ImageInput, ImageOutput, decode_labels, input_params,
                           message_pixels, output_params)
from .node_utils import (LatestSlot, Param, ParamStore, RateLimiter, autostart, exit_soon,
                         lifecycle_state, log_info, qos_from_name, release_memory, run_node,
                         safe_publish)
from .pointcloud import depth_to_organized, depth_to_points, fill_pointcloud2

#: Where ``make demo`` leaves its procedural-rooms generator (relative to the working folder
#: unless ``SCMIS_DEMO_DIR`` says otherwise).
DEMO_CHECKPOINT = Path("train") / "final.pt"
_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")
#: images of at least this many pixels give their memory back to the system afterwards
_TRIM_PIXELS = 512 * 512


def demo_checkpoint() -> Path:
    """The checkpoint path ``make demo`` writes: ``$SCMIS_DEMO_DIR/train/final.pt``."""
    return Path(os.environ.get("SCMIS_DEMO_DIR", "demo_out")) / DEMO_CHECKPOINT


#: The generator used when none is given: the one shipped in the package.
DEFAULT_CHECKPOINT = "rooms"


def resolve_checkpoint(path: str) -> Path:
    """A checkpoint path or shipped weights by name (empty = :data:`DEFAULT_CHECKPOINT`) ->
    the file (:func:`scmis_core.pretrained.resolve`); a clear error when it does not exist."""
    resolved = resolve(path or DEFAULT_CHECKPOINT, "gan")
    if not resolved.is_file():
        raise FileNotFoundError(f"checkpoint: file not found: {path!r}")
    return resolved


def load_class_remap(path: str | Path, num_classes: int | None = None) -> np.ndarray:
    """A YAML/JSON mapping ``{input_id: model_id}`` -> lookup table (65536,) int64.

    Ids not listed keep their value. Model ids must lie in 0..num_classes (when given).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"class_remap: file not found: {path}")
    try:
        table = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f"class_remap {path}: not valid YAML/JSON: {exc}") from None
    if isinstance(table, dict) and "remap" in table:
        table = table["remap"]
    if not isinstance(table, dict) or not table:
        raise ValueError(f"class_remap {path}: expected a non-empty mapping input_id: "
                         f"model_id, found {type(table).__name__}")
    lut = np.arange(65536, dtype=np.int64)
    for key, value in table.items():
        try:
            src, dst = int(key), int(value)
        except (TypeError, ValueError):
            raise ValueError(f"class_remap {path}: expected integer ids, found "
                             f"{key!r}: {value!r}") from None
        if not 0 <= src <= 65535:
            raise ValueError(f"class_remap {path}: input id {src} outside 0..65535")
        if dst < 0 or (num_classes is not None and dst > num_classes):
            raise ValueError(f"class_remap {path}: model id {dst} (for {src}) outside "
                             f"0..{num_classes}")
        lut[src] = dst
    return lut


def _device_check(value: Any) -> str | None:
    if not _DEVICE_RE.match(str(value)):
        return f"device: expected auto, cpu, cuda or cuda:N, found {value!r}"
    return None


def _remap_check(value: Any) -> str | None:
    if value == "":
        return None
    try:
        load_class_remap(value)
    except (FileNotFoundError, ValueError) as exc:
        return str(exc)
    return None


PARAMS = [
    Param("checkpoint", DEFAULT_CHECKPOINT, "generator checkpoint (.pt) or shipped weights "
          "by name; empty = rooms (shipped)", read_only=True, configure=True,
          check=lambda v: None if v == "" else check_checkpoint(v, "gan")),
    Param("device", "auto", "torch device: auto, cpu, cuda or cuda:N", read_only=True,
          configure=True, check=_device_check),
    Param("backend", "torch", "inference backend: torch, or onnxruntime (the generator's ONNX "
          "graph on CUDA / TensorRT / CPU execution providers; needs the optional onnx + "
          "onnxruntime packages)", choices=BACKENDS, read_only=True, configure=True),
    Param("autostart", True, "configure and activate at start (false: wait for `ros2 "
          "lifecycle set`)", read_only=True),
    Param("seed", -1, "noise seed of variant 0 (variant k uses seed+k); -1 = fresh noise "
          "for every message", lo=-1, hi=2**31 - 1),
    Param("variants", 1, "images synthesized (and published) per label image, each with the "
          "input header", lo=1, hi=16),
    Param("class_remap", "", "YAML/JSON file {input_id: model_id} applied to incoming labels "
          "(unlisted ids unchanged); empty = none", check=_remap_check),
    Param("output_height", 0, "output height in pixels; 0 = the label image's", lo=0,
          hi=4096),
    Param("output_width", 0, "output width in pixels; 0 = the label image's", lo=0, hi=4096),
    Param("max_rate_hz", 0.0, "at most this many label images per second are synthesized "
          "(others skipped); 0 = no limit", lo=0.0, hi=1000.0),
    *input_params(),
    *output_params(),
    Param("publish_depth_mm", False, "also publish synth/depth_mm (16UC1 millimetres)",
          read_only=True, configure=True),
    Param("publish_camera_info", True, "publish synth/camera_info with every pair",
          read_only=True, configure=True),
    Param("points_organized", True, "synth/points as an organized HxW cloud with NaN where "
          "the depth is invalid (depth_image_proc's layout; RViz and PCL expect it); false: "
          "a 1xN cloud of the valid points", read_only=True),
    Param("publish_points", False, "publish synth/points (PointCloud2 XYZRGB)",
          read_only=True, configure=True),
    Param("camera_info_tolerance_s", 0.005, "largest stamp difference between a label image "
          "and the input camera_info copied for it (s); without a match the latest one is "
          "used, without any the configured intrinsics", lo=0.0, hi=10.0),
    Param("camera_height", 480, "image height the configured intrinsics belong to", lo=1,
          hi=16384, read_only=True, configure=True),
    Param("camera_width", 640, "image width the configured intrinsics belong to", lo=1,
          hi=16384, read_only=True, configure=True),
    Param("camera_fx", 0.0, "configured focal length x (pixels); 0 = the NYUv2 Kinect "
          "intrinsics (fx, fy, cx, cy) at camera_height x camera_width", lo=0.0, hi=1e6,
          read_only=True, configure=True),
    Param("camera_fy", 0.0, "configured focal length y (pixels)", lo=0.0, hi=1e6,
          read_only=True, configure=True),
    Param("camera_cx", 0.0, "configured principal point x (pixels)", lo=-1e6, hi=1e6,
          read_only=True, configure=True),
    Param("camera_cy", 0.0, "configured principal point y (pixels)", lo=-1e6, hi=1e6,
          read_only=True, configure=True),
    *DIAG_PARAMS,
]
# every output is reliable keep-last; compressed copies follow publish_compressed
for _param in PARAMS:
    if _param.name in ("qos", "qos_depth", "publish_compressed", "compressed_format",
                       "transport", "input_qos"):
        _param.configure = True


class SynthNode(LifecycleNode):
    """Label images -> synthesized RGB (rgb8) + depth (32FC1 m) with the input header."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("synth_node", **kwargs)
        self.synth: Synthesizer | None = None
        self._lut: np.ndarray | None = None
        self._checked_remap: tuple[str, np.ndarray | None] | None = None
        self._active = False
        self._configure_error = ""
        self.outputs: dict[str, ImageOutput] = {}
        self._extra_pubs: dict[str, Any] = {}
        self._matched: dict[str, Any] = {}
        self.input: ImageInput | None = None
        self._info_sub: Any = None
        self.infos = CameraInfoBuffer(64)
        self.camera: CameraModel | None = None
        self.p = ParamStore(self, PARAMS, on_change=self._on_change, check=self._check_param,
                            unconfigured=lambda: self.state == "unconfigured")
        self.slot = LatestSlot()
        self.rate = RateLimiter()
        self.stats = NodeStats("received", "processed", "published", "dropped", "bad",
                               "too_large", "skipped_no_subscribers", "skipped_rate",
                               "failed", "in_progress")
        self._worker: threading.Thread | None = None
        self._last_pixels, self._trimmed = 0, 0.0
        self.diagnostics = Diagnostics(self, self.p, self.stats, self._diag_state)
        if self.p["autostart"]:
            autostart(self, lambda: self._configure_error)

    # ----------------------------------------------------------------------------- lifecycle

    @property
    def state(self) -> str:
        """The lifecycle state's label (unconfigured, inactive, active, finalized, ...)."""
        return lifecycle_state(self)

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the generator and the class remap, create the publishers, start the worker."""
        try:
            path = resolve_checkpoint(self.p["checkpoint"])
            synth = Synthesizer.from_checkpoint(path, device=self.p["device"],
                                                backend=self.p["backend"])
            lut = self._load_remap(self.p["class_remap"], synth.num_classes)
            self.camera = self._configured_camera()
        except Exception as exc:  # missing / corrupt checkpoint, bad remap: stay unconfigured
            self._configure_error = f"configure failed: {exc}"
            self.get_logger().error(self._configure_error)
            return TransitionCallbackReturn.FAILURE
        self.synth, self._lut, self._configure_error = synth, lut, ""
        self.get_logger().info(f"loaded {path} (step {synth.step}, {synth.num_classes} "
                               f"classes, outputs {', '.join(synth.outputs)}) on "
                               f"{', '.join(synth.providers)}")
        qos = qos_from_name(self.p["qos"], self.p["qos_depth"])
        comp = {"compressed": self.p["publish_compressed"],
                "compressed_format": self.p["compressed_format"],
                "create": self.create_lifecycle_publisher}
        self.outputs = {"rgb": ImageOutput(self, "synth/rgb", "rgb", qos, **comp),
                        "depth": ImageOutput(self, "synth/depth", "depth", qos, **comp)}
        if self.p["publish_depth_mm"]:
            self.outputs["depth_mm"] = ImageOutput(self, "synth/depth_mm", "depth", qos,
                                                   create=self.create_lifecycle_publisher)
        self._extra_pubs = {}
        for name, kind, flag in (("synth/camera_info", CameraInfo, "publish_camera_info"),
                                 ("synth/points", PointCloud2, "publish_points")):
            if self.p[flag]:
                self._extra_pubs[name] = self._matched_publisher(kind, name, qos)
        self.slot = LatestSlot()
        self._worker = threading.Thread(target=self._run, name="synth-worker", daemon=True)
        self._worker.start()
        return TransitionCallbackReturn.SUCCESS

    def _matched_publisher(self, kind: Any, topic: str, qos: Any) -> Any:
        from rclpy.event_handler import PublisherEventCallbacks

        from .image_topics import _Matched

        self._matched[topic] = _Matched()
        return self.create_lifecycle_publisher(
            kind, topic, qos, event_callbacks=PublisherEventCallbacks(
                matched=self._matched[topic]))

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Subscribe to the inputs and publish from now on."""
        self.input = ImageInput(self, "labels", "labels", self._on_labels,
                                self.p["transport"], self.p["input_qos"], self.p["qos_depth"])
        self.input.start()
        if self.p["publish_camera_info"]:
            self._info_sub = self.create_subscription(CameraInfo, "camera_info",
                                                      self._on_camera_info,
                                                      qos_profile_sensor_data)
        self._active = True
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop subscribing and publishing (the model stays loaded)."""
        self._stop_inputs()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop the worker, destroy the publishers, free the model and its memory."""
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Free everything and end the process (after the service has answered)."""
        self._teardown()
        exit_soon(self)
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """An exception in a transition: free everything, back to unconfigured."""
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def _stop_inputs(self) -> None:
        self._active = False
        if self.input is not None:
            self.input.stop()
            self.input = None
        if self._info_sub is not None:
            self.destroy_subscription(self._info_sub)
            self._info_sub = None
        self.slot.clear()

    def _teardown(self) -> None:
        self._stop_inputs()
        self.slot.close()
        if self._worker is not None:
            self._worker.join(timeout=30.0)
            self._worker = None
        if self.context.ok():
            for out in self.outputs.values():
                out.destroy(self.destroy_lifecycle_publisher)
            for pub in self._extra_pubs.values():
                self.destroy_lifecycle_publisher(pub)
        self.outputs, self._extra_pubs, self._matched = {}, {}, {}
        self.synth = self._lut = None
        self.infos = CameraInfoBuffer(64)
        release_memory()

    # ---------------------------------------------------------------------------- parameters

    def _configured_camera(self) -> CameraModel:
        h, w, fx = self.p["camera_height"], self.p["camera_width"], self.p["camera_fx"]
        if fx <= 0:
            return CameraModel.nyu(h, w)
        return CameraModel.from_intrinsics(h, w, fx, self.p["camera_fy"] or fx,
                                           self.p["camera_cx"], self.p["camera_cy"])

    @staticmethod
    def _load_remap(path: str, num_classes: int) -> np.ndarray | None:
        return load_class_remap(path, num_classes) if path else None

    def _check_param(self, name: str, value: Any) -> str | None:
        """Checks against the loaded model, before a new value is accepted."""
        if name != "class_remap" or self.synth is None:
            return None
        try:
            self._checked_remap = (value, self._load_remap(value, self.synth.num_classes))
        except (FileNotFoundError, ValueError) as exc:  # e.g. ids beyond the model's classes
            return str(exc)
        return None

    def _on_change(self, updates: dict[str, Any]) -> None:
        if "class_remap" in updates and self.synth is not None:
            value = updates["class_remap"]
            checked = self._checked_remap
            # the table validated a moment ago (the file is read only once per change)
            if checked and checked[0] == value:
                self._lut = checked[1]
            else:
                self._lut = self._load_remap(value, self.synth.num_classes)

    # ------------------------------------------------------------------------------ messages

    def _wanted(self) -> bool:
        return any(out.wanted() for out in self.outputs.values()) or \
            any(m.count > 0 for m in self._matched.values())

    def _on_camera_info(self, msg: CameraInfo) -> None:
        try:
            self.infos.add(stamp_ns(msg.header), msg)
        except ValueError as exc:
            self.stats.add("bad")
            self.get_logger().warning(f"dropped a bad camera_info: {exc}",
                                      throttle_duration_sec=5.0)

    def _on_labels(self, msg: Any) -> None:
        """Executor callback: cheap bookkeeping only; the worker does the synthesis."""
        self.stats.add("received")
        if not self._active:
            return
        if not self._wanted():
            self.stats.add("skipped_no_subscribers")
            return
        try:
            pixels = message_pixels(msg)
        except ImageConversionError as exc:
            self._warn_bad(msg, exc)
            return
        limit = self.p["max_input_pixels"]
        if pixels > limit:
            self.stats.add("too_large")
            self.get_logger().warning(
                f"dropped a label image of {pixels} pixels (frame_id "
                f"{msg.header.frame_id!r}): larger than max_input_pixels {limit}",
                throttle_duration_sec=5.0)
            return
        if not self.rate.allow(self.p["max_rate_hz"]):
            self.stats.add("skipped_rate")
            return
        if self.slot.put((time.perf_counter(), msg)):
            self.stats.add("dropped")

    def _warn_bad(self, msg: Any, exc: Exception) -> None:
        self.stats.add("bad")
        self.get_logger().warning(f"dropped a bad label image (frame_id "
                                  f"{msg.header.frame_id!r}): {exc}",
                                  throttle_duration_sec=5.0)

    def _labels(self, msg: Any) -> np.ndarray:
        labels = decode_labels(msg)
        if self._lut is not None:
            labels = self._lut[labels]
        hi = int(labels.max())
        if hi > self.synth.num_classes:
            raise ImageConversionError(f"labels: expected class ids in 0.."
                                       f"{self.synth.num_classes}, found max {hi}")
        out_h = self.p["output_height"] or labels.shape[0]
        out_w = self.p["output_width"] or labels.shape[1]
        if out_h * out_w > self.p["max_input_pixels"]:
            raise ImageConversionError(f"output size {out_h}x{out_w}: expected at most "
                                       f"max_input_pixels {self.p['max_input_pixels']} pixels")
        self._last_pixels = max(labels.size, out_h * out_w)
        if (out_h, out_w) != labels.shape:
            labels = resize_nearest(labels, out_h, out_w)
        return labels

    def _camera_for(self, header: Any, height: int, width: int) -> CameraModel:
        """The input camera_info of this stamp (else the latest, else the configured camera)
        scaled to the output size; one that cannot be scaled to plausible intrinsics gives
        way to the configured camera with a throttled warning (never a lost frame)."""
        tolerance = int(round(self.p["camera_info_tolerance_s"] * 1e9))
        model = self.infos.match(stamp_ns(header), tolerance) or self.infos.latest() or \
            self.camera
        try:
            return model.scaled(height, width)
        except ValueError as exc:
            self.stats.add("bad_camera_info")
            self.get_logger().warning(f"camera_info of frame_id {model.frame_id!r} does not "
                                      f"scale to {width}x{height} ({exc}); using the "
                                      "configured intrinsics", throttle_duration_sec=5.0)
            return self.camera.scaled(height, width)

    def process(self, msg: Any) -> int:
        """Synthesize and publish the variants of one label image; returns pairs published."""
        labels = self._labels(msg)
        header = msg.header
        seed0 = self.p["seed"]
        published = 0
        for k in range(self.p["variants"]):
            t0 = time.perf_counter()
            rgb, depth_m = self.synth.synth(labels, seed=None if seed0 < 0 else seed0 + k)
            self.stats.timing("infer", (time.perf_counter() - t0) * 1e3)
            if not self._active or not self.context.ok():
                break
            if rgb is not None:
                self.outputs["rgb"].publish(rgb, "rgb8", header)
            if depth_m is not None:
                self.outputs["depth"].publish(depth_m, "32FC1", header)
                if "depth_mm" in self.outputs:
                    self.outputs["depth_mm"].publish(depth_m_to_mm(depth_m), "16UC1", header)
            self._publish_geometry(header, labels.shape, rgb, depth_m)
            published += 1
        return published

    def _publish_geometry(self, header: Any, shape: tuple[int, int], rgb: Any,
                          depth_m: Any) -> None:
        info_pub = self._extra_pubs.get("synth/camera_info")
        points_pub = self._extra_pubs.get("synth/points")
        want_info = info_pub is not None and self._matched["synth/camera_info"].count > 0
        want_points = (points_pub is not None and depth_m is not None and
                       self._matched["synth/points"].count > 0)
        if not (want_info or want_points):
            return
        camera = self._camera_for(header, *shape)
        if want_info:
            safe_publish(self, info_pub, fill_camera_info(CameraInfo(), camera, header))
        if want_points:
            points = (depth_to_organized if self.p["points_organized"] else
                      depth_to_points)(depth_m, rgb, camera)
            cloud = fill_pointcloud2(PointCloud2(), points, header)
            safe_publish(self, points_pub, cloud)

    def _run(self) -> None:
        slot = self.slot
        while not slot.closed:
            item = slot.take(timeout=0.2)
            if item is None:
                continue
            t_received, msg = item
            self.stats.set("in_progress", 1)
            try:
                published = self.process(msg)
            except (ImageConversionError, ValueError) as exc:
                self._warn_bad(msg, exc)
                continue
            except Exception as exc:  # keep the node alive; say what went wrong
                if not self.context.ok():
                    return
                self.get_logger().error(f"synthesis failed: {type(exc).__name__}: {exc}",
                                        throttle_duration_sec=5.0)
                self.stats.add("failed")
                continue
            finally:
                self.stats.set("in_progress", 0)
                self._trim_when_idle(slot)
            self.stats.add("processed")
            self.stats.add("published", published)
            self.stats.latency((time.perf_counter() - t_received) * 1e3)

    def _trim_when_idle(self, slot: LatestSlot) -> None:
        """After a large image, give its buffers back to the system (at most every 2 s, and
        only when no frame waits)."""
        now = time.monotonic()
        if self._last_pixels >= _TRIM_PIXELS and len(slot) == 0 and now - self._trimmed > 2.0:
            release_memory(collect=False)
            self._trimmed = now
        self._last_pixels = 0

    # ------------------------------------------------------------------------- diagnostics

    def _diag_state(self) -> tuple[int, str, dict[str, Any], bool]:
        state = self.state
        extra: dict[str, Any] = {"lifecycle_state": state, "model_loaded": self.synth is not None,
                                 "queue_len": len(self.slot)}
        if self.synth is not None:
            extra.update(num_classes=self.synth.num_classes, device=str(self.synth.device),
                         model_step=self.synth.step)
        if self.input is not None:
            extra["input"] = self.input.describe()
        if self._configure_error:
            return ERROR, self._configure_error, extra, False
        if state == "unconfigured":
            return WARN, "unconfigured: no model loaded", extra, False
        if state == "inactive":
            return OK, "inactive: model loaded, not publishing", extra, False
        if state == "active":
            return OK, "", extra, True
        return OK, state, extra, False

    def close(self) -> None:
        """Stop the worker and free the model (called before the node is destroyed)."""
        self._teardown()
        log_info(self, "stopped: " + ", ".join(f"{k} {v}" for k, v in self.stats.snapshot()
                                               .items() if v not in (None, 0)))


def main(args: list[str] | None = None) -> int:
    """``ros2 run scmis_ros synth_node``."""
    return run_node(SynthNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
