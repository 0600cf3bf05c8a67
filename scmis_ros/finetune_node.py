"""finetune node: on-robot fine-tuning of the RGB-D segmenter (ESANet) on mixed frames.

Subscribes ``mixed/rgb`` (rgb8 / bgr8), ``mixed/depth`` (32FC1 m / 16UC1 mm) and
``mixed/labels`` (remap them to the real camera topics to train on real frames only),
grouped by stamp. Every group goes into a bounded replay buffer (``buffer_size`` frames,
resized to the training size; the oldest frame is dropped when full) and into a single-slot
prediction queue. Two worker threads, never the executor:

- training: once ``min_buffer`` frames are in, one optimiser step per ``1/train_rate_hz`` s
  (0 = as fast as it can) on a random batch from the buffer, with the segmenter registry's
  architecture and loss (:data:`scmis_core.segment.SEGMENTERS`,
  :func:`scmis_core.segment.segmentation_loss`); a JSON line per step on
  ``finetune/metrics`` (step, loss, batch pixel accuracy, buffer size, steps/s);
- prediction: the newest incoming frame is segmented and published on
  ``segmentation/labels`` (mono8 / mono16 ids, the frame's header).

The metrics lines are also appended to ``checkpoint_dir/metrics.jsonl``. The state (weights,
optimiser, step, config) is saved atomically to
``checkpoint_dir/finetune.pt`` every ``checkpoint_every`` steps and on shutdown, as a
``segmenter`` checkpoint that :meth:`scmis_core.segment.Segmenter.from_checkpoint` loads; on
start the node resumes from it when it exists (else from ``init_checkpoint``, else random).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import yaml
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import String

from scmis_core.checkpoint import (CheckpointError, load_checkpoint, load_module_state,
                                   save_checkpoint)
from scmis_core.config import DataConfig
from scmis_core.data.labels import NYU40_CLASSES
from scmis_core.data.transforms import resize_nearest
from scmis_core.depth_range import metres_to_unit
from scmis_core.runtime import select_device
from scmis_core.segment import SEGMENTERS, multiscale_loss, segmentation_loss

from .conversions import (ImageConversionError, depth_m_from_image, labels_encoding,
                          labels_from_image, numpy_to_image, rgb_from_image, stamp_ns)
from .node_utils import (QOS_PROFILES, LatestSlot, Param, ParamStore, file_check,
                         log_info, qos_from_name, run_node, safe_publish)
from .sync import ApproximateTimeSync
from .synth_node import _device_check

CHECKPOINT_NAME = "finetune.pt"
#: Architecture when neither the parameter nor a checkpoint names one (ESANet, as the paper).
DEFAULT_ARCH = "esanet" if "esanet" in SEGMENTERS else "unet-rgbd"


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
          "to resume; empty = random init", read_only=True,
          check=file_check("init_checkpoint")),
    Param("checkpoint_dir", "finetune_out", "folder of the fine-tune checkpoint "
          f"({CHECKPOINT_NAME})", read_only=True,
          check=lambda v: None if v else "checkpoint_dir: expected a folder, found ''"),
    Param("resume", True, f"resume from checkpoint_dir/{CHECKPOINT_NAME} when it exists",
          read_only=True),
    Param("device", "auto", "torch device: auto, cpu, cuda or cuda:N", read_only=True,
          check=_device_check),
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
    Param("qos", "sensor_data", "QoS profile of the image topics", choices=QOS_PROFILES,
          read_only=True),
    Param("qos_depth", 5, "history depth of the image topics", lo=1, hi=100, read_only=True),
]


class ReplayBuffer:
    """At most ``capacity`` (rgb, depth_m, labels) frames; the oldest leaves first."""

    def __init__(self, capacity: int, seed: int = 0) -> None:
        self.frames: deque[tuple[np.ndarray, np.ndarray, np.ndarray]] = deque(maxlen=capacity)
        self.capacity = capacity
        self.added = 0
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self.frames)

    def add(self, rgb: np.ndarray, depth_m: np.ndarray, labels: np.ndarray) -> None:
        """Store one frame (arrays are kept, not copied)."""
        with self._lock:
            self.frames.append((rgb, depth_m, labels))
            self.added += 1

    def sample(self, count: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """``count`` frames drawn uniformly with replacement."""
        with self._lock:
            idx = self._rng.integers(0, len(self.frames), size=count)
            return [self.frames[i] for i in idx]


def to_tensors(frames: list[tuple[np.ndarray, np.ndarray, np.ndarray]], max_depth_m: float
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Frames -> rgb (B,3,H,W) in [-1,1], depth (B,1,H,W) in [-1,1], labels (B,H,W) int64."""
    rgb = torch.from_numpy(np.stack([f[0] for f in frames])).permute(0, 3, 1, 2)  # (B,3,H,W)
    depth = torch.from_numpy(np.stack([f[1] for f in frames]))[:, None]  # (B,1,H,W)
    labels = torch.from_numpy(np.stack([f[2] for f in frames]))  # (B,H,W)
    return rgb.float() / 127.5 - 1.0, metres_to_unit(depth, max_depth_m), labels


class FinetuneNode(Node):
    """Replay-buffer fine-tuning of a segmenter with predictions and metrics topics."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("finetune_node", **kwargs)
        self.p = ParamStore(self, PARAMS)
        self.device = select_device(self.p["device"])
        self.ckpt_path = Path(self.p["checkpoint_dir"]) / CHECKPOINT_NAME
        state, source, resume = self._load_start_state()
        self.arch = self.p["arch"] or (state["config"]["arch"] if state else DEFAULT_ARCH)
        if self.p["arch_kwargs"]:
            self.arch_kwargs = yaml.safe_load(self.p["arch_kwargs"])
        else:  # the checkpoint's architecture arguments, else the architecture's defaults
            self.arch_kwargs = dict(state["config"].get("arch_kwargs", {})) if state else {}
        torch.manual_seed(self.p["seed"])
        self.num_classes = self.p["num_classes"]
        self.class_names = list(NYU40_CLASSES) if self.num_classes == len(NYU40_CLASSES) \
            else [f"class_{i}" for i in range(1, self.num_classes + 1)]
        self.model = SEGMENTERS[self.arch](self.num_classes, **self.arch_kwargs)
        self.model.to(self.device)
        # models that offer side outputs get ESANet's multi-scale supervision
        self.side_outputs = "return_sides" in inspect.signature(self.model.forward).parameters
        multiple = int(getattr(self.model, "multiple", 1))
        if self.p["height"] % multiple or self.p["width"] % multiple:
            raise ValueError(f"height/width: expected multiples of {multiple} for "
                             f"{self.arch}, found {self.p['height']}x{self.p['width']}")
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=self.p["lr"],
                                     weight_decay=1e-4)
        self.step = 0
        self.started_from = "random initial weights"
        if state is not None:
            self.started_from = self._restore(state, source, resume)
        self.metrics_path = Path(self.p["checkpoint_dir"]) / "metrics.jsonl"
        self.metrics_path.parent.mkdir(parents=True, exist_ok=True)
        self.model_lock = threading.Lock()
        self.buffer = ReplayBuffer(self.p["buffer_size"], self.p["seed"])
        self.slot = LatestSlot()
        self.counts = {"frames": 0, "bad": 0, "predicted": 0, "checkpoints": 0}
        self.last_metrics: dict[str, Any] = {}
        qos = qos_from_name(self.p["qos"], self.p["qos_depth"])
        self.pub_pred = self.create_publisher(Image, "segmentation/labels", qos)
        self.pub_metrics = self.create_publisher(String, "finetune/metrics", 10)
        self.sync = ApproximateTimeSync(3, int(round(self.p["tolerance_s"] * 1e9)), 10,
                                        callback=self._on_frame)
        self.subs = [self.create_subscription(Image, topic, self._callback(i), qos)
                     for i, topic in enumerate(("mixed/rgb", "mixed/depth", "mixed/labels"))]
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._train_loop, name="finetune-train",
                                          daemon=True),
                         threading.Thread(target=self._predict_loop, name="finetune-predict",
                                          daemon=True)]
        for thread in self._threads:
            thread.start()
        self.get_logger().info(f"{self.arch} ({self.num_classes} classes) on "
                               f"{self.device}, {self.started_from}; checkpoint "
                               f"{self.ckpt_path}")

    # --------------------------------------------------------------------- state / checkpoint

    def _load_start_state(self) -> tuple[dict[str, Any] | None, Path | None, bool]:
        """(checkpoint state, its path, is-resume): the resume checkpoint when it exists,
        else ``init_checkpoint``, else (None, None, False)."""
        if self.p["resume"] and self.ckpt_path.is_file():
            path, resume = self.ckpt_path, True
        elif self.p["init_checkpoint"]:
            path, resume = Path(self.p["init_checkpoint"]), False
        else:
            return None, None, False
        state = load_checkpoint(path, map_location="cpu", kind="segmenter")
        arch = state["config"].get("arch")
        if arch not in SEGMENTERS:
            raise CheckpointError(f"checkpoint {path}: unknown segmenter {arch!r}; expected "
                                  f"one of {', '.join(SEGMENTERS)}")
        if (self.p["arch"] and arch != self.p["arch"]) or \
                int(state.get("num_classes", -1)) != self.p["num_classes"]:
            raise CheckpointError(f"checkpoint {path}: {arch} for {state.get('num_classes')} "
                                  f"classes, but this node runs {self.p['arch'] or arch} for "
                                  f"{self.p['num_classes']} (parameters arch / num_classes)")
        return state, path, resume

    def _restore(self, state: dict[str, Any], path: Path, resume: bool) -> str:
        """Load weights (and, when resuming, optimiser and step); describe what happened."""
        load_module_state(self.model, state["models"]["segmenter"], path, "segmenter")
        if resume:
            if "segmenter" in state.get("optimizers", {}):
                self.opt.load_state_dict(state["optimizers"]["segmenter"])
            self.step = int(state["step"])
            return f"resumed from {path} at step {self.step}"
        return f"initialised from {path}"

    def state_dict(self) -> dict[str, Any]:
        """The checkpoint content (a ``segmenter`` checkpoint plus the optimiser)."""
        return {"kind": "segmenter", "step": self.step, "num_classes": self.num_classes,
                "class_names": self.class_names,
                "config": {"arch": self.arch, "arch_kwargs": self.arch_kwargs,
                           "data": {**dataclasses.asdict(DataConfig()),
                                    "height": self.p["height"], "width": self.p["width"],
                                    "max_depth_m": self.p["max_depth_m"]},
                           "lr": self.p["lr"], "batch_size": self.p["batch_size"],
                           "seed": self.p["seed"], "source": "finetune_node"},
                "models": {"segmenter": {k: v.detach().cpu().clone() for k, v in
                                         self.model.state_dict().items()}},
                "optimizers": {"segmenter": self.opt.state_dict()},
                "metrics": dict(self.last_metrics)}

    def save(self) -> Path:
        """Write the checkpoint atomically (temporary file + rename)."""
        with self.model_lock:
            state = self.state_dict()
        path = save_checkpoint(state, self.ckpt_path)
        self.counts["checkpoints"] += 1
        return path

    # --------------------------------------------------------------------------- messages

    def _callback(self, index: int):
        def on_message(msg: Image) -> None:
            self.sync.add(index, stamp_ns(msg.header), msg)
        return on_message

    def _on_frame(self, rgb_msg: Image, depth_msg: Image, labels_msg: Image) -> None:
        try:
            labels = labels_from_image(labels_msg, self.num_classes)
            rgb = rgb_from_image(rgb_msg)
            depth_m = depth_m_from_image(depth_msg)
            if rgb.shape[:2] != labels.shape or depth_m.shape != labels.shape:
                raise ImageConversionError(f"sizes differ: rgb {rgb.shape[:2]}, depth "
                                           f"{depth_m.shape}, labels {labels.shape}")
        except ImageConversionError as exc:
            self.counts["bad"] += 1
            self.get_logger().warning(f"dropped a bad frame: {exc}", throttle_duration_sec=5.0)
            return
        self.counts["frames"] += 1
        height, width = self.p["height"], self.p["width"]
        self.buffer.add(cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA),
                        resize_nearest(depth_m, height, width),
                        resize_nearest(labels, height, width))
        if self.p["predict"] and self.pub_pred.get_subscription_count() > 0:
            self.slot.put((rgb, depth_m, labels_msg.header))

    # ---------------------------------------------------------------------------- workers

    def train_step(self) -> dict[str, Any]:
        """One optimiser step on a random batch from the buffer; returns its metrics."""
        frames = self.buffer.sample(self.p["batch_size"])
        rgb, depth, labels = to_tensors(frames, self.p["max_depth_m"])
        rgb, depth, labels = rgb.to(self.device), depth.to(self.device), labels.to(self.device)
        with self.model_lock:
            for group in self.opt.param_groups:
                group["lr"] = self.p["lr"]
            self.model.train()
            if self.side_outputs:
                logits, sides = self.model(rgb, depth, return_sides=True)  # (B, N, H, W), ...
                loss = multiscale_loss(logits, sides, labels)
            else:
                logits = self.model(rgb, depth)  # (B, N, H, W) over ids 1..N
                loss = segmentation_loss(logits, labels)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.step += 1
            valid = labels > 0
            pred = logits.detach().argmax(1) + 1  # (B, H, W) ids 1..N
            acc = float((pred[valid] == labels[valid]).float().mean()) if valid.any() \
                else float("nan")
        return {"step": self.step, "loss": round(float(loss.detach()), 5),
                "pixel_accuracy": round(acc, 4), "buffer": len(self.buffer),
                "frames_seen": self.buffer.added}

    def _train_loop(self) -> None:
        t_last = time.monotonic()
        rate_t0, rate_steps = time.monotonic(), 0
        while not self._stop.is_set():
            max_steps, rate = self.p["max_steps"], self.p["train_rate_hz"]
            if (max_steps and self.step >= max_steps) or len(self.buffer) < self.p["min_buffer"]:
                self._stop.wait(0.1)
                continue
            if rate > 0:
                wait = t_last + 1.0 / rate - time.monotonic()
                if wait > 0:
                    self._stop.wait(wait)
                    continue
            t_last = time.monotonic()
            try:
                metrics = self.train_step()
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
            if self.step % self.p["checkpoint_every"] == 0:
                self.save()

    def predict(self, rgb: np.ndarray, depth_m: np.ndarray) -> np.ndarray:
        """Segment one frame at the training size; ids (H, W) at the frame's size."""
        height, width = self.p["height"], self.p["width"]
        small = [(cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA),
                  resize_nearest(depth_m, height, width),
                  np.zeros((height, width), np.int64))]
        rgb_t, depth_t, _ = to_tensors(small, self.p["max_depth_m"])
        with self.model_lock, torch.no_grad():
            self.model.eval()
            pred = self.model(rgb_t.to(self.device), depth_t.to(self.device)).argmax(1) + 1
        return resize_nearest(pred[0].cpu().numpy(), *rgb.shape[:2])

    def _predict_loop(self) -> None:
        while not self.slot.closed:
            item = self.slot.take(timeout=0.2)
            if item is None:
                continue
            rgb, depth_m, header = item
            try:
                pred = self.predict(rgb, depth_m)
            except Exception as exc:
                self.get_logger().error(f"prediction failed: {type(exc).__name__}: {exc}",
                                        throttle_duration_sec=10.0)
                continue
            if safe_publish(self, self.pub_pred,
                            numpy_to_image(pred, labels_encoding(self.num_classes), header)):
                self.counts["predicted"] += 1

    def close(self) -> None:
        """Stop the workers and write the final checkpoint."""
        self._stop.set()
        self.slot.close()
        for thread in self._threads:
            thread.join(timeout=30.0)
        if self.step > 0:
            path = self.save()
            log_info(self, f"saved {path} at step {self.step}")


def main(args: list[str] | None = None) -> int:
    """``ros2 run scmis_ros finetune_node``."""
    return run_node(FinetuneNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
