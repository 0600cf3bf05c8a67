"""Performance benchmark: ``python -m scmis_core.bench [gen|train|all] ...``.

Everything is measured side by side in one run and reported with ratios, which are the
figures of merit (absolute numbers depend on the machine):

- ``gen``: generator inference GFLOP/s of eager, ``torch.compile`` and onnxruntime as a
  fraction of the machine's large-matmul GFLOP/s, per size, batch and precision
  (:mod:`scmis_core.bench_gen`, options of its own: ``python -m scmis_core.bench gen -h``).
- ``train``: GAN training steps/s (one D + one G update, the trainer's own step) per variant.

No test asserts on these timings.
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Callable

import torch

from .cli import add_device_argument, entry_point, parse_size
from .config import from_dict
from .runtime import select_device


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], Any], device: torch.device, min_seconds: float = 1.0,
              warmup: int = 2, max_iters: int = 200) -> float:
    """Median seconds per call over at least ``min_seconds`` (after ``warmup`` calls)."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times: list[float] = []
    start = time.perf_counter()
    while (time.perf_counter() - start < min_seconds or len(times) < 3) \
            and len(times) < max_iters:
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def bench_training(args: argparse.Namespace, device: torch.device) -> list[dict[str, Any]]:
    """Training steps/s of each variant with the trainer's own step on rooms data."""
    import tempfile

    from .train import Trainer

    rows = []
    height, width = args.train_size
    for variant in args.variants:
        cfg = from_dict({
            "data": {"height": height, "width": width, "num_workers": 0,
                     "rooms_train_size": 64, "rooms_test_size": 8},
            "model": {"variant": variant, "width": args.width,
                      "spade_hidden": args.spade_hidden, "num_scales": args.num_scales,
                      "disc_width": args.disc_width},
            "train": {"batch_size": args.train_batch, "device": str(device)},
        })
        with tempfile.TemporaryDirectory() as tmp:
            trainer = Trainer(cfg, tmp, device=device, progress=False)
            batches = trainer.stream.from_step(0)
            batch = next(batches)
            sec = time_call(lambda: trainer.train_step(batch), device, args.min_seconds,
                            warmup=1, max_iters=50)
        rows.append({"variant": variant, "size": f"{height}x{width}",
                     "batch": args.train_batch, "steps_per_s": 1.0 / sec})
        print(f"  {variant:<11} {height}x{width} b{args.train_batch}: "
              f"{1.0 / sec:7.3f} steps/s ({sec * 1e3:.0f} ms/step)", flush=True)
    base = next((r for r in rows if r["variant"] == "oasis"), None)
    if base is not None:
        for r in rows:
            if r is not base:
                print(f"  {r['variant']}/oasis training steps/s: "
                      f"{r['steps_per_s'] / base['steps_per_s']:.2f}x")
    return rows


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scmis_core.bench",
        description="Generator inference (gen: GFLOP/s as a fraction of the matmul "
                    "figure, see `gen -h`) and training throughput (train, see `train -h`).")
    parser.add_argument("what", nargs="?", default="all", choices=("gen", "train", "all"))
    add_device_argument(parser)
    parser.add_argument("--variants", nargs="+", default=["scmis", "oasis", "rgbd-oasis"])
    parser.add_argument("--width", type=int, default=16, help="generator width (paper 64)")
    parser.add_argument("--spade-hidden", type=int, default=32)
    parser.add_argument("--num-scales", type=int, default=5)
    parser.add_argument("--min-seconds", type=float, default=1.0,
                        help="time each case for at least this long")
    parser.add_argument("--train-size", type=parse_size, default=(64, 64))
    parser.add_argument("--train-batch", type=int, default=4)
    parser.add_argument("--disc-width", type=int, default=16)
    return parser


@entry_point
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m scmis_core.bench`` (expected failures: one line, exit 2)."""
    import sys

    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "gen":  # generator inference: options of its own too
        from .bench_gen import main as gen_main
        return gen_main(argv[1:])
    if argv and argv[0] == "train":  # the training benchmark has options of its own
        from .bench_train import main as train_main
        return train_main(argv[1:])
    args = build_parser().parse_args(argv)
    device = select_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device: {device} ({name}), torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}")
    if args.what in ("gen", "all"):
        from .bench_gen import main as gen_main
        gen_main(["--device", str(device), "--min-seconds", str(args.min_seconds)])
    if args.what in ("train", "all"):
        print(f"training steps (G+D, rooms data, disc_width {args.disc_width}):")
        bench_training(args, device)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
