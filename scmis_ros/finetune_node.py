"""finetune node: on-robot fine-tuning of the RGB-D segmenter (ESANet) on mixed frames.

Subscribes ``mixed/rgb`` (rgb8 / bgr8 / rgba8 / bgra8), ``mixed/depth`` (32FC1 m / 16UC1 mm)
and ``mixed/labels`` (remap them to the real camera topics to train on real frames only),
each raw or compressed the image_transport way (``transport``), grouped by stamp. Every
group goes into a bounded replay buffer (``buffer_size`` frames, resized to the training
size; the oldest frame is dropped when full) and into a single-slot prediction queue. Two
worker threads, never the executor:

- training: once ``min_buffer`` frames are in, one optimiser step per ``1/train_rate_hz`` s
  (0 = as fast as it can) on a random batch from the buffer by
  :class:`scmis_core.finetune.OnlineFinetuner` (the segmenter registry's architecture and
  loss; the node only converts messages and schedules); a JSON line per step on
  ``finetune/metrics`` (step, loss, batch pixel accuracy, buffer size, steps/s);
- prediction: the newest incoming frame is segmented and published on
  ``segmentation/labels`` (mono8 / mono16 ids, the frame's header; reliable keep-last,
  optionally also ``segmentation/labels/compressed``) while someone subscribes to it.

``/diagnostics`` reports the model, step, buffer, last loss and the counters; frames larger
than ``max_input_pixels`` are dropped with a throttled warning.

The metrics lines are also appended to ``checkpoint_dir/metrics.jsonl`` (default
``~/.ros/scmis/finetune``, never the folder the launch ran from). The state (weights, step,
config; the optimiser too with ``save_optimizer``) is saved atomically to
``checkpoint_dir/finetune.pt`` every ``checkpoint_every`` steps and on shutdown, as a
``segmenter`` checkpoint that :meth:`scmis_core.segment.Segmenter.from_checkpoint` loads; on
start the node resumes from it when it exists (else from ``init_checkpoint``, else random).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import yaml
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from std_msgs.msg import String

from scmis_core.finetune import DEFAULT_ARCH, OnlineFinetuner, load_start_state
from scmis_core.pretrained import check as check_checkpoint
from scmis_core.segment import SEGMENTERS

from .conversions import ImageConversionError, labels_encoding, stamp_ns
from .diagnostics import DIAG_PARAMS, ERROR, OK, WARN, Diagnostics, NodeStats
from .image_topics import (DECODERS, ImageInput, ImageOutput, admit_image, decode_labels,
                           input_params, output_params)
from .node_utils import (LatestSlot, Param, ParamStore, autostart, exit_soon,
                         lifecycle_state, log_info, qos_from_name, release_memory, run_node,
                         safe_publish)
from .sync import ApproximateTimeSync
from .synth_node import _device_check

#: Where the fine-tune node writes when checkpoint_dir is not set (ROS's per-user folder).
DEFAULT_DIR = "~/.ros/scmis/finetune"
CHECKPOINT_NAME = "finetune.pt"


def _yaml_dict_check(value: Any) -> str | None:
    try:
        parsed = yaml.safe_load(value) if value else {}
    except yaml.YAMLError as exc:
        return f"arch_kwargs: not valid YAML: {exc}"
    if not isinstance(parsed, dict):
        return f"arch_kwargs: expected a mapping like '{{widths: [8, 16]}}', found {value!r}"
    return None


PARAMS = [
    Param("arch", "", "segmenter architecture (scmis_core.segment.SEGMENTERS); empty = the "
          f"one of the checkpoint started from, else {DEFAULT_ARCH}",
          choices=("",) + tuple(SEGMENTERS), read_only=True),
    Param("arch_kwargs", "", "YAML mapping of architecture arguments, e.g. "
          "'{widths: [8, 16, 32]}'; empty = those of the checkpoint started from, else the "
          "architecture's defaults", read_only=True,
          check=_yaml_dict_check),
    Param("num_classes", 40, "classes (ids 1..N, 0 = void); must match init_checkpoint",
          lo=1, hi=65535, read_only=True),
    Param("init_checkpoint", "", "segmenter checkpoint to start from when there is nothing "
          "to resume, or shipped weights by name (rooms-judge); empty = random init",
          read_only=True, check=lambda v: None if v == "" else check_checkpoint(v, "segmenter")),
    Param("checkpoint_dir", DEFAULT_DIR, "folder of the fine-tune checkpoint "
          f"({CHECKPOINT_NAME}) and metrics.jsonl (~ is your home)", read_only=True,
          check=lambda v: None if v else "checkpoint_dir: expected a folder, found ''"),
    Param("save_optimizer", False, "keep the optimiser state in the checkpoint for an exact "
          "resume (AdamW: about three times the weights' size); false: weights only, a "
          "resume starts the optimiser afresh", read_only=True),
    Param("resume", True, f"resume from checkpoint_dir/{CHECKPOINT_NAME} when it exists",
          read_only=True),
    Param("device", "auto", "torch device: auto, cpu, cuda or cuda:N", read_only=True,
          check=_device_check),
    Param("autostart", True, "configure and activate at start (false: wait for `ros2 "
          "lifecycle set`)", read_only=True),
    Param("height", 64, "training height (frames are resized)", lo=8, hi=4096,
          read_only=True),
    Param("width", 64, "training width (frames are resized)", lo=8, hi=4096, read_only=True),
    Param("max_depth_m", 10.0, "depth mapped to +1 at the network input", lo=0.1, hi=1000.0,
          read_only=True),
    Param("buffer_size", 256, "replay buffer capacity (frames)", lo=1, hi=1_000_000,
          read_only=True),
    Param("min_buffer", 4, "frames needed before training starts", lo=1, hi=1_000_000),
    Param("batch_size", 4, "frames per training step", lo=1, hi=1024),
    Param("lr", 1e-3, "AdamW learning rate", lo=1e-8, hi=1.0),
    Param("train_rate_hz", 2.0, "training steps per second at most; 0 = no limit",
          lo=0.0, hi=10000.0),
    Param("max_steps", 0, "stop training after this many steps (total); 0 = never", lo=0,
          hi=2**31 - 1),
    Param("checkpoint_every", 50, "save every this many steps", lo=1, hi=2**31 - 1),
    Param("predict", True, "segment incoming frames and publish segmentation/labels"),
    Param("seed", 0, "seed of the initial weights and the batch sampling", lo=0,
          hi=2**31 - 1, read_only=True),
    Param("tolerance_s", 0.02, "largest stamp difference within one rgb/depth/labels group",
          lo=0.0, hi=10.0, read_only=True),
    *input_params(),
    *output_params(),
    *DIAG_PARAMS,
]
# read when the node is configured (activated, for the inputs): in this lifecycle node they
# may change while it is unconfigured
for _param in PARAMS:
    if _param.read_only and _param.name not in ("tolerance_s", "diagnostics_period_s"):
        _param.configure = True
#: input topic -> role
INPUTS = {"mixed/rgb": "rgb", "mixed/depth": "depth", "mixed/labels": "labels"}


class FinetuneNode(LifecycleNode):
    """Replay-buffer fine-tuning of a segmenter with predictions and metrics topics."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("finetune_node", **kwargs)
        self.tuner: OnlineFinetuner | None = None
        self.pred: ImageOutput | None = None
        self.pub_metrics: Any = None
        self.subs: list[ImageInput] = []
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._error = ""
        self.p = ParamStore(self, PARAMS, unconfigured=lambda: self.state == "unconfigured")
        self.num_classes = self.p["num_classes"]
        self.slot = LatestSlot()
        self.stats = NodeStats("received", "frames", "bad", "too_large", "dropped",
                               "processed", "published", "checkpoints")
        self.last_metrics: dict[str, Any] = {}
        self.sync = ApproximateTimeSync(3, int(round(self.p["tolerance_s"] * 1e9)), 10,
                                        callback=self._on_frame)
        self.diagnostics = Diagnostics(self, self.p, self.stats, self._diag_state)
        if self.p["autostart"]:
            autostart(self, lambda: self._error)

    # ----------------------------------------------------------------------------- lifecycle

    @property
    def state(self) -> str:
        """The lifecycle state's label."""
        return lifecycle_state(self)

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the segmenter (resumed, from init_checkpoint, or new) and create publishers."""
        self.ckpt_path = Path(self.p["checkpoint_dir"]).expanduser() / CHECKPOINT_NAME
        try:
            start_state, source, resume = load_start_state(
                self.ckpt_path, self.p["init_checkpoint"], self.p["resume"], self.p["arch"],
                self.p["num_classes"])
            self.tuner = OnlineFinetuner(
                self.p["num_classes"], height=self.p["height"], width=self.p["width"],
                arch=self.p["arch"],
                arch_kwargs=yaml.safe_load(self.p["arch_kwargs"]) if self.p["arch_kwargs"]
                else None,
                max_depth_m=self.p["max_depth_m"], lr=self.p["lr"],
                buffer_size=self.p["buffer_size"], seed=self.p["seed"],
                device=self.p["device"], state=start_state, state_path=source, resume=resume)
            self.metrics_path = self.ckpt_path.parent / "metrics.jsonl"
            self.metrics_path.parent.mkdir(parents=True, exist_ok=True)
        except Exception as exc:  # a bad checkpoint or folder: stay unconfigured, say why
            self._error = f"configure failed: {exc}"
            self.get_logger().error(self._error)
            return TransitionCallbackReturn.FAILURE
        self._error = ""
        self.num_classes = self.p["num_classes"]
        qos = qos_from_name(self.p["qos"], self.p["qos_depth"])
        self.pred = ImageOutput(self, "segmentation/labels", "labels", qos,
                                compressed=self.p["publish_compressed"],
                                create=self.create_lifecycle_publisher)
        self.pub_metrics = self.create_lifecycle_publisher(String, "finetune/metrics", 10)
        self.get_logger().info(f"{self.tuner.arch} ({self.num_classes} classes) on "
                               f"{self.tuner.device}, {self.tuner.started_from}; checkpoint "
                               f"{self.ckpt_path}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Subscribe, start training and prediction."""
        self.sync.clear()
        self.slot = LatestSlot()
        self._stop = threading.Event()
        self.subs = [ImageInput(self, topic, role, self._callback(i), self.p["transport"],
                                self.p["input_qos"], self.p["qos_depth"])
                     for i, (topic, role) in enumerate(INPUTS.items())]
        for sub in self.subs:
            sub.start()
        self._threads = [threading.Thread(target=self._train_loop, name="finetune-train",
                                          daemon=True),
                         threading.Thread(target=self._predict_loop, name="finetune-predict",
                                          daemon=True)]
        for thread in self._threads:
            thread.start()
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Unsubscribe, stop the workers, write the checkpoint (the model stays loaded)."""
        self._stop_workers()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Free the model and its memory."""
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Save, free everything and end the process."""
        self._stop_workers()
        self._teardown()
        exit_soon(self)
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """An exception in a transition: free everything, back to unconfigured."""
        self._stop_workers()
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def _stop_workers(self) -> None:
        for sub in self.subs:
            sub.stop()
        self.subs = []
        self._stop.set()
        self.slot.close()
        for thread in self._threads:
            thread.join(timeout=30.0)
        was_running, self._threads = bool(self._threads), []
        if was_running and self.tuner is not None and self.tuner.step > 0:
            path = self.save()
            log_info(self, f"saved {path} at step {self.tuner.step}")

    def _teardown(self) -> None:
        if self.context.ok():
            if self.pred is not None:
                self.pred.destroy(self.destroy_lifecycle_publisher)
            if self.pub_metrics is not None:
                self.destroy_lifecycle_publisher(self.pub_metrics)
        self.pred = self.pub_metrics = self.tuner = None
        self.sync.clear()
        release_memory()

    # --------------------------------------------------------------------- state / checkpoint

    def save(self) -> Path:
        """Write the checkpoint atomically (temporary file + rename)."""
        path = self.tuner.save(self.ckpt_path, self.last_metrics, self.p["batch_size"],
                               optimizer=self.p["save_optimizer"])
        self.stats.add("checkpoints")
        return path

    def _diag_state(self) -> tuple[int, str, dict[str, Any], bool]:
        self.stats.set("dropped", self.sync.dropped)
        state, tuner = self.state, self.tuner
        extra: dict[str, Any] = {"lifecycle_state": state, "model_loaded": tuner is not None,
                                 "inputs": "; ".join(s.describe() for s in self.subs)}
        if tuner is not None:
            extra.update(arch=tuner.arch, device=str(tuner.device), step=tuner.step,
                         buffer=len(tuner.buffer), loss=self.last_metrics.get("loss"))
        if self._error:
            return ERROR, self._error, extra, False
        if state == "unconfigured":
            return WARN, "unconfigured: no model loaded", extra, False
        return OK, "" if state == "active" else state, extra, state == "active"

    # --------------------------------------------------------------------------- messages

    def _callback(self, index: int):
        def on_message(msg: Any) -> None:
            if admit_image(self, self.stats, msg, self.p["max_input_pixels"], "a frame",
                           self._warn_bad):
                self.sync.add(index, stamp_ns(msg.header), msg)
        return on_message

    def _warn_bad(self, exc: Exception) -> None:
        self.stats.add("bad")
        self.get_logger().warning(f"dropped a bad frame: {exc}", throttle_duration_sec=5.0)

    def _on_frame(self, rgb_msg: Any, depth_msg: Any, labels_msg: Any) -> None:
        try:
            labels = decode_labels(labels_msg, self.num_classes)
            rgb = DECODERS["rgb"](rgb_msg)
            depth_m = DECODERS["depth"](depth_msg)
            if rgb.shape[:2] != labels.shape or depth_m.shape != labels.shape:
                raise ImageConversionError(f"sizes differ: rgb {rgb.shape[:2]}, depth "
                                           f"{depth_m.shape}, labels {labels.shape}")
        except (ImageConversionError, ValueError) as exc:
            self._warn_bad(exc)
            return
        self.stats.add("frames")
        self.tuner.add(rgb, depth_m, labels)
        if self.p["predict"] and self.pred.wanted():
            self.slot.put((time.perf_counter(), rgb, depth_m, labels_msg.header))

    # ---------------------------------------------------------------------------- workers

    def _train_loop(self) -> None:
        t_last = time.monotonic()
        rate_t0, rate_steps = time.monotonic(), 0
        while not self._stop.is_set():
            max_steps, rate = self.p["max_steps"], self.p["train_rate_hz"]
            if (max_steps and self.tuner.step >= max_steps) or \
                    len(self.tuner.buffer) < self.p["min_buffer"]:
                self._stop.wait(0.1)
                continue
            if rate > 0:
                wait = t_last + 1.0 / rate - time.monotonic()
                if wait > 0:
                    self._stop.wait(wait)
                    continue
            t_last = time.monotonic()
            try:
                metrics = self.tuner.train_step(self.p["batch_size"], self.p["lr"])
            except Exception as exc:  # keep the node alive; say what failed
                self.get_logger().error(f"training step failed: {type(exc).__name__}: {exc}",
                                        throttle_duration_sec=10.0)
                self._stop.wait(1.0)
                continue
            rate_steps += 1
            metrics["steps_per_s"] = round(rate_steps / max(time.monotonic() - rate_t0, 1e-6),
                                           3)
            self.last_metrics = metrics
            msg = String()
            msg.data = json.dumps(metrics, sort_keys=True)
            safe_publish(self, self.pub_metrics, msg)
            with open(self.metrics_path, "a") as log:
                log.write(msg.data + "\n")
            if self.tuner.step % self.p["checkpoint_every"] == 0:
                self.save()

    def _predict_loop(self) -> None:
        while not self.slot.closed:
            item = self.slot.take(timeout=0.2)
            if item is None:
                continue
            t_received, rgb, depth_m, header = item
            try:
                pred = self.tuner.predict(rgb, depth_m)
                sent = self.pred.publish(pred, labels_encoding(self.num_classes), header)
            except Exception as exc:
                if not self.context.ok():
                    return
                self.get_logger().error(f"prediction failed: {type(exc).__name__}: {exc}",
                                        throttle_duration_sec=10.0)
                continue
            self.stats.add("processed")
            self.stats.add("published", sent)
            self.stats.latency((time.perf_counter() - t_received) * 1e3)

    def close(self) -> None:
        """Stop the workers and write the final checkpoint (Ctrl-C, or after shutdown)."""
        self._stop_workers()
        self._teardown()


def main(args: list[str] | None = None) -> int:
    """``ros2 run scmis_ros finetune_node``."""
    return run_node(FinetuneNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
