"""Performance benchmark: ``python -m scmis_core.bench [gen|train|all] ...``.

Everything is measured side by side in one run and reported with ratios, which are the
figures of merit (absolute numbers depend on the machine):

- ``gen``: generator inference images/s of ``scmis`` vs ``oasis`` vs ``rgbd-oasis`` at the
  same width, for each batch size and image size; fp32 vs bf16 autocast; eager vs
  ``torch.compile`` (``--compile``). On CUDA also achieved TFLOP/s (FLOPs counted with
  ``torch.utils.flop_counter.FlopCounterMode``) and MFU against the device's dense peak.
- ``train``: GAN training steps/s (one D + one G update, the trainer's own step) per variant.

No test asserts on these timings.
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from .config import Config, from_dict
from .data.registry import parse_size
from .models import build_generator
from .runtime import select_device

#: Dense peak TFLOP/s (no sparsity) by device name fragment and precision, for MFU.
PEAK_TFLOPS = {
    "H100": {"bf16": 989.0, "fp16": 989.0, "fp32": 67.0},
    "H200": {"bf16": 989.0, "fp16": 989.0, "fp32": 67.0},
    "A100": {"bf16": 312.0, "fp16": 312.0, "fp32": 19.5},
    "L40S": {"bf16": 362.0, "fp16": 362.0, "fp32": 91.6},
    "RTX 4090": {"bf16": 165.0, "fp16": 165.0, "fp32": 82.6},
    "TITAN RTX": {"bf16": 130.0, "fp16": 130.0, "fp32": 16.3},
}


def device_peak(device: torch.device, precision: str) -> float | None:
    """Dense peak TFLOP/s of a known CUDA device, else None."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, peaks in PEAK_TFLOPS.items():
        if key in name:
            return peaks[precision]
    return None


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


def count_flops(fn: Callable[[], Any]) -> int:
    """FLOPs of one call (matmul/conv family, as FlopCounterMode counts them)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def generator_config(variant: str, width: int, spade_hidden: int, num_scales: int) -> Config:
    return from_dict({"model": {"variant": variant, "width": width,
                                "spade_hidden": spade_hidden, "num_scales": num_scales}})


def bench_generators(args: argparse.Namespace, device: torch.device) -> list[dict[str, Any]]:
    """Images/s of each variant x batch x size x precision x (eager, compiled)."""
    rows = []
    precisions = ["fp32", "bf16"] if not args.fp32_only else ["fp32"]
    modes = ["eager", "compiled"] if args.compile else ["eager"]
    for height, width in args.sizes:
        for batch in args.batches:
            for variant in args.variants:
                cfg = generator_config(variant, args.width, args.spade_hidden, args.num_scales)
                gen = build_generator(cfg.model, args.num_classes).to(device).eval()
                labels = torch.randint(0, args.num_classes, (batch, height, width),
                                       device=device)
                onehot = torch.nn.functional.one_hot(labels, args.num_classes)
                onehot = onehot.permute(0, 3, 1, 2).float()
                if args.channels_last:
                    gen = gen.to(memory_format=torch.channels_last)
                    onehot = onehot.contiguous(memory_format=torch.channels_last)
                z = torch.randn(batch, gen.z_dim, device=device)
                flops = count_flops(lambda: gen(onehot, z))
                for mode in modes:
                    net = torch.compile(gen) if mode == "compiled" else gen
                    for precision in precisions:
                        dtype = torch.bfloat16 if precision == "bf16" else None

                        def run(net=net, dtype=dtype):
                            with torch.no_grad(), torch.autocast(
                                    device.type, dtype=dtype or torch.float32,
                                    enabled=dtype is not None):
                                return net(onehot, z)

                        sec = time_call(run, device, args.min_seconds)
                        tflops = flops / sec / 1e12
                        peak = device_peak(device, precision)
                        rows.append({
                            "size": f"{height}x{width}", "batch": batch, "variant": variant,
                            "mode": mode, "precision": precision,
                            "images_per_s": batch / sec, "ms_per_batch": 1e3 * sec,
                            "gflop_per_image": flops / batch / 1e9, "tflops": tflops,
                            "mfu": tflops / peak if peak else None,
                        })
                        print(_format_row(rows[-1]), flush=True)
    return rows


def _format_row(r: dict[str, Any]) -> str:
    mfu = f"  MFU {100 * r['mfu']:.1f}%" if r.get("mfu") is not None else ""
    return (f"  {r['variant']:<11} {r['size']:>8} b{r['batch']:<3} {r['mode']:<8} "
            f"{r['precision']:<5} {r['images_per_s']:9.2f} img/s  "
            f"{r['gflop_per_image']:8.1f} GFLOP/img  {r['tflops'] * 1e3:9.1f} GFLOP/s{mfu}")


def generator_ratios(rows: list[dict[str, Any]]) -> list[str]:
    """scmis / oasis, rgbd-oasis / oasis, bf16 / fp32 and compiled / eager speed ratios."""
    index = {(r["size"], r["batch"], r["variant"], r["mode"], r["precision"]): r
             for r in rows}
    lines = []
    for (size, batch, variant, mode, precision), r in index.items():
        base = index.get((size, batch, "oasis", mode, precision))
        if variant != "oasis" and base is not None:
            lines.append(f"  {variant}/oasis images/s  {size} b{batch} {mode} {precision}: "
                         f"{r['images_per_s'] / base['images_per_s']:.2f}x")
        if precision == "bf16":
            fp32 = index.get((size, batch, variant, mode, "fp32"))
            if fp32 is not None:
                lines.append(f"  bf16/fp32 speed-up    {variant} {size} b{batch} {mode}: "
                             f"{r['images_per_s'] / fp32['images_per_s']:.2f}x")
        if mode == "compiled":
            eager = index.get((size, batch, variant, "eager", precision))
            if eager is not None:
                lines.append(f"  compiled/eager        {variant} {size} b{batch} {precision}: "
                             f"{r['images_per_s'] / eager['images_per_s']:.2f}x")
    return lines


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
        description="Generator inference and training throughput, measured side by side; "
                    "prints ratios (scmis vs oasis, bf16 vs fp32, compiled vs eager) and, "
                    "on CUDA, MFU.")
    parser.add_argument("what", nargs="?", default="all", choices=("gen", "train", "all"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--variants", nargs="+", default=["scmis", "oasis", "rgbd-oasis"])
    parser.add_argument("--width", type=int, default=16, help="generator width (paper 64)")
    parser.add_argument("--spade-hidden", type=int, default=32)
    parser.add_argument("--num-scales", type=int, default=5)
    parser.add_argument("--num-classes", type=int, default=40)
    parser.add_argument("--sizes", type=parse_size, nargs="+",
                        default=[(256, 256), (480, 640)], help="HxW list")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--fp32-only", action="store_true", help="skip bf16 autocast")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--min-seconds", type=float, default=1.0,
                        help="time each case for at least this long")
    parser.add_argument("--train-size", type=parse_size, default=(64, 64))
    parser.add_argument("--train-batch", type=int, default=4)
    parser.add_argument("--disc-width", type=int, default=16)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m scmis_core.bench``."""
    import sys

    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "train":  # the training benchmark has options of its own
        from .bench_train import main as train_main
        return train_main(argv[1:])
    args = build_parser().parse_args(argv)
    device = select_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device: {device} ({name}), torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}")
    if args.what in ("gen", "all"):
        print(f"generator inference (width {args.width}, spade_hidden {args.spade_hidden}, "
              f"{args.num_classes} classes):")
        rows = bench_generators(args, device)
        print("ratios:")
        print("\n".join(generator_ratios(rows)))
    if args.what in ("train", "all"):
        print(f"training steps (G+D, rooms data, disc_width {args.disc_width}):")
        bench_training(args, device)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
