"""The ROS part of ``make demo``: everything end to end on procedural rooms, no robot.

``python -m scmis_ros.demo --out DIR [--checkpoint G.pt] [--segmenter S.pt] [--seconds 60]``
(by default the weights shipped with the package: the ``rooms`` generator and, as the
fine-tune start, the ``rooms-judge`` segmenter; names and paths go through
:func:`scmis_core.pretrained.resolve`)

1. records a rosbag2 from the rooms stream (``rooms_source`` -> ``bag_record``);
2. augments it with synthesized and class-mixed topics (``bag_augment``; sqlite3 in, mcap
   out) and writes a preview of its first frames;
3. runs the on-robot pipeline, rooms stream -> synth -> mix -> fine-tune, for ``--seconds``
   (through ``ros2 launch scmis_ros augment.launch.py`` when the launch tools and the
   installed package are found, else as plain node processes with the same parameter
   file), grabs one frame of every stage for a preview, then stops it with Ctrl-C (SIGINT)
   so that the fine-tune node writes its final checkpoint;
4. lists the outputs.

All nodes use DDS on loopback and the domain id ``--domain-id`` (default: ROS_DOMAIN_ID,
else one derived from the process id).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .bags import bag_summary


def _env(domain_id: int) -> dict[str, str]:
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id),
               ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", ROS_LOCALHOST_ONLY="1",
               PYTHONUNBUFFERED="1")
    env.setdefault("AMENT_PREFIX_PATH", sys.prefix)
    return env


def _node_cmd(module: str, params: dict[str, Any] | None = None,
              params_file: Path | None = None) -> list[str]:
    cmd = [sys.executable, "-m", f"scmis_ros.{module}", "--ros-args"]
    if params_file is not None:
        cmd += ["--params-file", str(params_file)]
    for key, value in (params or {}).items():
        text = json.dumps(value) if isinstance(value, (list, bool)) else str(value)
        cmd += ["-p", f"{key}:={text}"]
    return cmd


def _stop(proc: subprocess.Popen, timeout: float = 60.0) -> int:
    """Ctrl-C (SIGINT) to ``proc``; if it has not ended after ``timeout`` s, SIGTERM and then
    SIGKILL. A process started in a session of its own (``ros2 launch``) gets those two as a
    group, so that no node it started outlives the demo."""
    group = proc.poll() is None and os.getpgid(proc.pid) == proc.pid

    def kill(signum: int) -> None:
        try:
            if group:
                os.killpg(proc.pid, signum)
            elif proc.poll() is None:
                proc.send_signal(signum)
        except ProcessLookupError:
            pass

    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            kill(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
    kill(signal.SIGKILL)  # what is left of the group (nothing, after a clean shutdown)
    proc.wait()
    return proc.returncode


def record_bag(out: Path, size: tuple[int, int], frames: int, env: dict[str, str],
               logs: Path) -> Path:
    """Record ``frames`` rooms frames (rgb, depth, labels) into the sqlite3 bag ``out``."""
    with open(logs / "record_source.log", "wb") as log_src, \
            open(logs / "record.log", "wb") as log_rec:
        source = subprocess.Popen(_node_cmd("rooms_source", {
            "rate_hz": 4.0, "height": size[0], "width": size[1], "split": "test",
            "num_frames": frames}), env=env, stdout=log_src, stderr=subprocess.STDOUT)
        try:
            recorder = subprocess.run(_node_cmd("bag_record", {
                "output": str(out), "topics": ["/rgb", "/depth", "/labels"],
                "max_messages": frames, "overwrite": True, "storage": "sqlite3",
                "discovery_timeout_s": 60.0}), env=env, stdout=log_rec,
                stderr=subprocess.STDOUT, timeout=600)
        finally:
            _stop(source)
    if recorder.returncode != 0:
        raise RuntimeError(f"bag_record failed (exit {recorder.returncode}); see "
                           f"{logs / 'record.log'}")
    return out


def pipeline_params(path: Path, checkpoint: Path, segmenter: Path | None, size: tuple[int, int],
                    finetune_dir: Path, device: str) -> Path:
    """The parameter file of the pipeline nodes."""
    finetune: dict[str, Any] = {"checkpoint_dir": str(finetune_dir), "device": device,
                                "height": size[0], "width": size[1], "train_rate_hz": 0.0,
                                "checkpoint_every": 20, "min_buffer": 4, "batch_size": 4}
    if segmenter is not None:
        finetune["init_checkpoint"] = str(segmenter)
    nodes = {"rooms_source": {"rate_hz": 4.0, "height": size[0], "width": size[1],
                              "num_frames": 32},
             "synth_node": {"checkpoint": str(checkpoint), "device": device},
             "mix_node": {"mode": "rgbd", "ratio": 0.7},
             "finetune_node": finetune}
    path.write_text(yaml.safe_dump({name: {"ros__parameters": p}
                                    for name, p in nodes.items()}, sort_keys=False))
    return path


def _launch_available(env: dict[str, str]) -> bool:
    ros2 = Path(sys.executable).with_name("ros2")
    if not ros2.is_file():
        return False
    probe = subprocess.run([str(ros2), "pkg", "prefix", "scmis_ros"], env=env,
                           capture_output=True, text=True, timeout=120)
    return probe.returncode == 0


class Grabber:
    """A client node that keeps the latest message of each pipeline topic."""

    TOPICS = {"labels": "/labels", "rgb": "/rgb", "depth": "/depth",
              "synth_rgb": "/synth/rgb", "synth_depth": "/synth/depth",
              "mixed_rgb": "/mixed/rgb", "mixed_depth": "/mixed/depth",
              "prediction": "/segmentation/labels"}

    def __init__(self, domain_id: int) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import Image
        from std_msgs.msg import String

        from .conversions import stamp_ns
        from .node_utils import qos_from_name

        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node("scmis_demo_client", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.by_stamp: dict[str, dict[int, Any]] = {k: {} for k in self.TOPICS}
        self.metrics: list[dict[str, Any]] = []
        qos = qos_from_name("sensor_data", 5)
        for key, topic in self.TOPICS.items():
            def keep(msg: Any, key: str = key) -> None:
                store = self.by_stamp[key]
                store[stamp_ns(msg.header)] = msg
                while len(store) > 20:
                    store.pop(next(iter(store)))
            self.node.create_subscription(Image, topic, keep, qos)
        self.node.create_subscription(String, "/finetune/metrics",
                                      lambda m: self.metrics.append(json.loads(m.data)), 10)

    def spin(self, seconds: float) -> None:
        """Process messages for ``seconds``."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.05)

    def complete_frame(self) -> dict[str, Any] | None:
        """The newest stamp for which labels, real, synth and mixed images all arrived."""
        needed = [k for k in self.TOPICS if k != "prediction"]
        common = set.intersection(*(set(self.by_stamp[k]) for k in needed))
        if not common:
            return None
        stamp = max(common)
        frame = {k: self.by_stamp[k][stamp] for k in needed}
        if self.by_stamp["prediction"]:
            frame["prediction"] = self.by_stamp["prediction"][max(self.by_stamp["prediction"])]
        return frame

    def close(self) -> None:
        """Shut the client down."""
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()


def pipeline_preview(frame: dict[str, Any], path: Path) -> Path:
    """One row: labels | rgb | synth rgb | mixed rgb | depth | synth | mixed | prediction."""
    from scmis_core.data.labels import colorize_depth, colorize_labels
    from scmis_core.visualize import grid, save_png

    from .conversions import depth_m_from_image, labels_from_image, rgb_from_image

    labels = labels_from_image(frame["labels"])
    row = [colorize_labels(labels)]
    row += [rgb_from_image(frame[k]) for k in ("rgb", "synth_rgb", "mixed_rgb")]
    row += [colorize_depth(depth_m_from_image(frame[k]))
            for k in ("depth", "synth_depth", "mixed_depth")]
    if "prediction" in frame:
        pred = labels_from_image(frame["prediction"])
        row.append(colorize_labels(pred) if pred.shape == labels.shape else
                   np.full(labels.shape + (3,), 255, np.uint8))
    return save_png(grid([row]), path)


def run_pipeline(out: Path, params: Path, seconds: float, env: dict[str, str],
                 domain_id: int, logs: Path) -> dict[str, Any]:
    """Run rooms -> synth -> mix -> fine-tune for ``seconds``; grab a preview frame."""
    procs = []
    if _launch_available(env):
        how = "ros2 launch scmis_ros augment.launch.py"
        procs.append(subprocess.Popen(
            [str(Path(sys.executable).with_name("ros2")), "launch", "scmis_ros",
             "augment.launch.py", "source:=rooms", f"params_file:={params}"],
            env=env, stdout=open(logs / "pipeline.log", "wb"), stderr=subprocess.STDOUT,
            start_new_session=True))
    else:
        how = "node processes (ros2 launch or the installed package not found)"
        for module in ("rooms_source", "synth_node", "mix_node", "finetune_node"):
            procs.append(subprocess.Popen(
                _node_cmd(module, params_file=params), env=env,
                stdout=open(logs / f"{module}.log", "wb"), stderr=subprocess.STDOUT,
                start_new_session=True))
    grabber = Grabber(domain_id)
    preview = None
    try:
        grabber.spin(seconds)
        frame = grabber.complete_frame()
        if frame is not None:
            preview = pipeline_preview(frame, out / "pipeline_preview.png")
    finally:
        grabber.close()
        codes = [_stop(p) for p in procs]
    return {"how": how, "exit_codes": codes, "preview": str(preview) if preview else None,
            "metrics_seen": len(grabber.metrics),
            "last_metrics": grabber.metrics[-1] if grabber.metrics else None}


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m scmis_ros.demo``."""
    from scmis_core.data.registry import parse_size
    from scmis_core.pretrained import resolve

    from .node_utils import let_sigint_reach_children
    from .synth_node import resolve_checkpoint

    let_sigint_reach_children()  # the pipeline and the recorder are stopped with SIGINT

    parser = argparse.ArgumentParser(prog="python -m scmis_ros.demo",
                                     description="ROS 2 demo on procedural rooms: record a "
                                     "bag, augment it, run rooms -> synth -> mix -> "
                                     "fine-tune.")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--checkpoint", default="rooms", help="generator checkpoint or "
                        "shipped weights by name (default: rooms, shipped)")
    parser.add_argument("--segmenter", default="rooms-judge", help="segmenter checkpoint or "
                        "shipped name the pipeline fine-tunes (default: rooms-judge, shipped; "
                        "'' = random init)")
    parser.add_argument("--seconds", type=float, default=60.0, help="pipeline run time")
    parser.add_argument("--frames", type=int, default=12, help="frames in the recorded bag")
    parser.add_argument("--size", type=parse_size, default=(64, 64), help="rooms HxW")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--domain-id", type=int, default=None, help="ROS domain id")
    args = parser.parse_args(argv)
    domain = args.domain_id if args.domain_id is not None else int(
        os.environ.get("ROS_DOMAIN_ID") or 1 + os.getpid() % 100)
    out = Path(args.out)
    logs = out / "logs"
    try:
        checkpoint = resolve_checkpoint(args.checkpoint)
        segmenter = resolve(args.segmenter, "segmenter") if args.segmenter else None
        if segmenter is not None and not segmenter.is_file():
            raise FileNotFoundError(f"--segmenter {args.segmenter}: file not found")
        for stale in ("rooms_bag", "rooms_bag_augmented", "finetune"):
            shutil.rmtree(out / stale, ignore_errors=True)
        logs.mkdir(parents=True, exist_ok=True)
        env = _env(domain)
        t0 = time.perf_counter()
        print(f"[1/3] recording {args.frames} rooms frames into {out / 'rooms_bag'}",
              flush=True)
        bag = record_bag(out / "rooms_bag", args.size, args.frames, env, logs)
        print("[2/3] augmenting the bag (synthesized + class-mixed topics)", flush=True)
        from scmis_core.synthesize import Synthesizer

        from .bag_augment import augment_bag

        synth = Synthesizer.from_checkpoint(checkpoint, device=args.device)
        augmented = augment_bag(bag, out / "rooms_bag_augmented", synth, mode="rgbd",
                                ratio=0.7, storage="mcap", overwrite=True, progress=False,
                                preview=out / "bag_preview.png")
        del synth
        print(f"[3/3] running rooms -> synth -> mix -> fine-tune for {args.seconds:.0f} s",
              flush=True)
        params = pipeline_params(out / "pipeline_params.yaml", checkpoint, segmenter,
                                 args.size, out / "finetune", args.device)
        run = run_pipeline(out, params, args.seconds, env, domain, logs)
    except (FileNotFoundError, RuntimeError, ValueError, subprocess.TimeoutExpired) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    ckpt = out / "finetune" / "finetune.pt"
    metrics_log = out / "finetune" / "metrics.jsonl"
    lines = metrics_log.read_text().splitlines() if metrics_log.is_file() else []
    summary = {"bag": bag_summary(bag), "augmented": bag_summary(out / "rooms_bag_augmented"),
               "augment": augmented, "pipeline": run,
               "finetune_steps": json.loads(lines[-1])["step"] if lines else 0,
               "finetune_checkpoint": str(ckpt) if ckpt.is_file() else None,
               "seconds": round(time.perf_counter() - t0, 1)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"pipeline ran as {run['how']}; exit codes {run['exit_codes']}")
    if lines:
        last = json.loads(lines[-1])
        print(f"fine-tune: {last['step']} steps, last loss {last['loss']}, batch pixel "
              f"accuracy {last['pixel_accuracy']}")
    print("ROS demo outputs:")
    print(f"  {bag}/  recorded rooms stream ({summary['bag']['messages']} messages)")
    print(f"  {out / 'rooms_bag_augmented'}/  + synth/ and mixed/ topics "
          f"({summary['augmented']['messages']} messages, mcap)")
    print(f"  {out / 'bag_preview.png'}  labels | rgb real/synth/mixed | depth "
          "real/synth/mixed")
    if run["preview"]:
        print(f"  {run['preview']}  one live frame of every stage (+ prediction)")
    if summary["finetune_checkpoint"]:
        print(f"  {ckpt}  fine-tuned segmenter (metrics.jsonl beside it)")
    print(f"  {out / 'summary.json'}, logs in {logs}/")
    failed = [c for c in run["exit_codes"] if c not in (0, None)]
    return 0 if not failed and summary["finetune_checkpoint"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
