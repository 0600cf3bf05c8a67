"""Node overhead benchmark: synth node end-to-end latency vs a bare ``synth()`` call.

``python -m scmis_ros.bench [--checkpoint CKPT] [--size 120x160] [--n 30]`` times, on the
same model and device:

1. bare: ``Synthesizer.synth(labels, seed)`` in this process, in a worker thread as the
   node runs it;
2. node: a synth node in a subprocess (loopback DDS, a private domain id); a client publishes
   one label image and waits for both the RGB and the depth answer carrying its stamp
   (ping-pong: no queueing).

The two are interleaved (bare, node, bare, node, ...) so that both see the same machine
load; medians over ``--n`` pairs after ``--warmup`` pairs.

It prints both medians, the node's own inference time (from its /diagnostics), the overhead
in ms and the ratio node / bare (the figure of merit: message conversion, DDS transport of
the images both ways, executor and worker hand-off). Without ``--checkpoint`` it uses the
``make demo`` generator, or else an untrained generator of ``config/rooms_small.yaml``
(same network, same cost). No test asserts on these timings.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np


def _parse_size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW such as 120x160, found {text!r}")
    if height < 8 or width < 8:
        raise argparse.ArgumentTypeError(f"expected sides >= 8, found {text!r}")
    return height, width


def _checkpoint(path: str, work: Path) -> tuple[Path, str]:
    from .synth_node import demo_checkpoint

    if path:
        return Path(path), "given"
    if demo_checkpoint().is_file():
        return demo_checkpoint(), "make demo"
    from .fixtures import write_generator_checkpoint

    repo_cfg = Path(__file__).resolve().parents[1] / "config" / "rooms_small.yaml"
    config = repo_cfg if repo_cfg.is_file() else None
    return (write_generator_checkpoint(work / "untrained.pt", config, overrides=()),
            f"untrained {'config/rooms_small.yaml' if config else 'default config'}")


class BareSynth:
    """``Synthesizer.synth`` timed in one long-lived worker thread, the way the synth node
    calls it (on CPU, torch's thread pool behaves differently in the main thread and in
    new threads, so those timings would not be the node's baseline)."""

    def __init__(self, checkpoint: Path, device: str) -> None:
        from scmis_core.synthesize import Synthesizer

        self.synth = Synthesizer.from_checkpoint(checkpoint, device=device)
        self._jobs: queue.Queue = queue.Queue()
        self._results: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._work, daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            labels, seed = job
            t0 = time.perf_counter()
            self.synth.synth(labels, seed=seed)
            if self.synth.device.type == "cuda":
                import torch
                torch.cuda.synchronize(self.synth.device)
            self._results.put(time.perf_counter() - t0)

    def time_once(self, labels: np.ndarray, seed: int) -> float:
        """Seconds of one ``synth`` call in the worker thread."""
        self._jobs.put((labels, seed))
        return self._results.get()

    def close(self) -> None:
        """Stop the worker thread."""
        self._jobs.put(None)
        self._thread.join()


class NodeClient:
    """A synth node subprocess (loopback DDS, private domain) and a ping-pong client."""

    def __init__(self, checkpoint: Path, device: str, domain_id: int,
                 timeout_s: float = 120.0) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from diagnostic_msgs.msg import DiagnosticArray
        from sensor_msgs.msg import Image

        from .conversions import stamp_ns
        from .diagnostics import status_dict
        from .node_utils import let_sigint_reach_children, qos_from_name

        env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id),
                   ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", ROS_LOCALHOST_ONLY="1",
                   PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in [str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")]
            if p)
        self.timeout_s = timeout_s
        self.log = tempfile.TemporaryFile()
        let_sigint_reach_children()  # close() stops the node with SIGINT
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scmis_ros.synth_node", "--ros-args",
             "-p", f"checkpoint:={checkpoint}", "-p", f"device:={device}",
             "-p", "diagnostics_period_s:=0.5"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node("scmis_bench_client", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        qos = qos_from_name("reliable", 5)
        self.answers: dict[str, dict[int, float]] = {"rgb": {}, "depth": {}}
        self.status: list[dict[str, Any]] = []
        for kind in ("rgb", "depth"):
            self.node.create_subscription(
                Image, f"synth/{kind}", lambda m, k=kind: self.answers[k].setdefault(
                    stamp_ns(m.header), time.perf_counter()), qos)
        self.node.create_subscription(
            DiagnosticArray, "/diagnostics", lambda m: self.status.extend(
                status_dict(s) for s in m.status if s.name.startswith("synth_node:")), 10)
        self.pub = self.node.create_publisher(Image, "labels", qos)
        if not self.spin_until(lambda: self.pub.get_subscription_count() > 0 and
                               self.node.count_publishers("synth/rgb") > 0, timeout_s):
            self.close()
            raise RuntimeError("the synth node did not come up")

    def spin_until(self, cond, seconds: float) -> bool:
        """Spin until ``cond()``; raise when the node process died."""
        end = time.monotonic() + seconds
        while time.monotonic() < end and not cond():
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise RuntimeError("the synth node exited: " +
                                   self.log.read().decode(errors="replace")[-2000:])
            self.executor.spin_once(timeout_sec=0.005)
        return cond()

    def time_once(self, msg: Any, index: int) -> float:
        """Seconds from publishing ``msg`` (stamped ``index``) to having RGB and depth."""
        msg.header.stamp.sec, msg.header.stamp.nanosec = 1000 + index, 0
        key = (1000 + index) * 10**9
        t0 = time.perf_counter()
        self.pub.publish(msg)
        if not self.spin_until(lambda: key in self.answers["rgb"] and
                               key in self.answers["depth"], self.timeout_s):
            raise RuntimeError(f"no answer to label image {index} within {self.timeout_s} s")
        return max(self.answers["rgb"][key], self.answers["depth"][key]) - t0

    def close(self) -> None:
        """Stop the client and the node."""
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()


def run_bench(checkpoint: Path, device: str, labels: np.ndarray, n: int, warmup: int,
              domain_id: int) -> dict[str, Any]:
    """Interleaved timings (bare call, node round trip, bare, ...) so that both see the same
    machine load; medians and p90 in ms."""
    from .conversions import numpy_to_image

    bare = BareSynth(checkpoint, device)
    labels = np.minimum(labels, bare.synth.num_classes).astype(np.uint8)
    msg = numpy_to_image(labels, "mono8")
    client = NodeClient(checkpoint, device, domain_id)
    bare_s, node_s = [], []
    try:
        for i in range(warmup + n):
            b = bare.time_once(labels, seed=i)
            t = client.time_once(msg, i)
            if i >= warmup:
                bare_s.append(b)
                node_s.append(t)
        client.spin_until(lambda: bool(client.status) and
                          int(client.status[-1].get("processed", 0)) >= warmup + n, 5)
        infer = client.status[-1].get("infer_ms_mean") if client.status else None
        infer = float(infer) if infer else None
    finally:
        client.close()
        bare.close()
    return {"device": str(bare.synth.device),
            "bare_ms": (statistics.median(bare_s) * 1e3,
                        float(np.percentile(bare_s, 90)) * 1e3),
            "node_ms": (statistics.median(node_s) * 1e3,
                        float(np.percentile(node_s, 90)) * 1e3),
            "node_infer_ms_mean": infer}


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m scmis_ros.bench`` (``python -m scmis_core.bench ros``)."""
    parser = argparse.ArgumentParser(prog="python -m scmis_ros.bench",
                                     description="synth node end-to-end latency vs bare "
                                                 "synth() on the same model")
    parser.add_argument("--checkpoint", default="", help="generator checkpoint (default: "
                        "the make-demo one, else an untrained rooms_small generator)")
    parser.add_argument("--size", type=_parse_size, default=(120, 160), help="label HxW")
    parser.add_argument("--n", type=int, default=30, help="timed calls / round trips")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls first")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--domain-id", type=int, default=None,
                        help="ROS domain id (default: a private one from the process id)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.n < 1 or args.warmup < 0:
        parser.error("--n must be >= 1 and --warmup >= 0")
    domain = args.domain_id if args.domain_id is not None else 1 + os.getpid() % 100
    from scmis_core.checkpoint import CheckpointError

    from .fixtures import label_map

    with tempfile.TemporaryDirectory(prefix="scmis_bench_") as work:
        try:
            checkpoint, origin = _checkpoint(args.checkpoint, Path(work))
            labels = label_map(*args.size, num_classes=40, seed=0)
            out = run_bench(checkpoint, args.device, labels, args.n, args.warmup, domain)
        except (CheckpointError, FileNotFoundError, RuntimeError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    (bare_med, bare_p90), (node_med, node_p90) = out["bare_ms"], out["node_ms"]
    result = {"checkpoint": str(checkpoint), "model": origin, "device": out["device"],
              "size": f"{args.size[0]}x{args.size[1]}", "n": args.n,
              "bare_synth_ms_median": round(bare_med, 2),
              "bare_synth_ms_p90": round(bare_p90, 2),
              "node_end_to_end_ms_median": round(node_med, 2),
              "node_end_to_end_ms_p90": round(node_p90, 2),
              "node_infer_ms_mean": out["node_infer_ms_mean"],
              "overhead_ms": round(node_med - bare_med, 2),
              "ratio_node_over_bare": round(node_med / bare_med, 3)}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"synth node overhead ({result['model']} model, {result['device']}, "
          f"{result['size']} labels, {args.n} runs)")
    print(f"  bare synth()          median {result['bare_synth_ms_median']:9.2f} ms   p90 "
          f"{result['bare_synth_ms_p90']:9.2f} ms")
    print(f"  node end to end       median {result['node_end_to_end_ms_median']:9.2f} ms   "
          f"p90 {result['node_end_to_end_ms_p90']:9.2f} ms   (node's own inference "
          f"{result['node_infer_ms_mean']} ms)")
    print(f"  overhead {result['overhead_ms']:.2f} ms   ratio node / bare "
          f"{result['ratio_node_over_bare']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
