"""Generator inference against the machine's limit: ``python -m scmis_core.bench gen``.

One run measures the machine's large-matmul GFLOP/s (fp32 and bf16) and the generator's
achieved GFLOP/s for each backend — ``eager`` (PyTorch), ``compiled`` (``torch.compile``,
inductor) and ``onnxruntime`` — for each image size, batch size and precision, and prints
every figure as a fraction of the matmul figure of the same precision (the best of the run:
the machine's limit for dense work). All backends time the same function,
:class:`~scmis_core.onnx_graph.SynthesisGraph` (label ids + noise -> RGB [-1, 1] + depth in
metres, spectral norm baked into the weights); FLOPs are those of its convolutions
(``FlopCounterMode``, counted on the meta device), 2 per multiply-add.

A matmul of the same precision is re-measured right before every case (``adjacent``), so a
case slowed by other processes on a shared machine shows as a low adjacent figure. Every
figure is the fastest of its timed calls (matmul and generator alike). On a CPU shared with
other work, ``--threads 1 --cpu-time`` counts the process's CPU seconds instead of wall time,
so time the core spent on other processes is not charged to either figure.
``--profile`` splits the eager fp32 time of the first case into convolutions and the
memory-bound rest (BatchNorm / SPADE modulation, activations, upsampling, copies), which says
why the fraction stays below the matmul figure.

Default run (short): 240x320, batch 1, fp32, the three backends. ``--full``: 240x320 and
480x640, batch 1 and 4, fp32 and bf16. Sizes are rounded to the network size the
:class:`~scmis_core.synthesize.Synthesizer` would use (multiples of ``2**num_scales``:
240x320 runs at 256x320 with 5 scales). bf16 is timed only where the bf16 matmul reaches a
quarter of the fp32 one (``--force-bf16`` overrides): CPUs without native bf16 instructions
run it two orders of magnitude slower; onnxruntime runs the fp32 export only.
On CUDA the figures also carry MFU against the device's dense peak (:data:`PEAK_TFLOPS`).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any, Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from .config import from_dict
from .data.registry import parse_size
from .models import build_generator
from .models.noise import noise_shape, sample_z
from .onnx_graph import SynthesisGraph
from .runtime import atomic_write_text, select_device

#: Dense peak TFLOP/s (no sparsity) by device name fragment and precision, for MFU.
PEAK_TFLOPS = {
    "H100": {"bf16": 989.0, "fp16": 989.0, "fp32": 67.0},
    "H200": {"bf16": 989.0, "fp16": 989.0, "fp32": 67.0},
    "A100": {"bf16": 312.0, "fp16": 312.0, "fp32": 19.5},
    "L40S": {"bf16": 362.0, "fp16": 362.0, "fp32": 91.6},
    "RTX 4090": {"bf16": 165.0, "fp16": 165.0, "fp32": 82.6},
    "TITAN RTX": {"bf16": 130.0, "fp16": 130.0, "fp32": 16.3},
}
BACKENDS = ("eager", "compiled", "onnxruntime")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def device_peak(device: torch.device, precision: str) -> float | None:
    """Dense peak TFLOP/s of a known CUDA device, else None."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, peaks in PEAK_TFLOPS.items():
        if key in name:
            return peaks[precision]
    return None


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_fn(fn: Callable[[], Any], device: torch.device, min_seconds: float = 1.0,
            warmup: int = 1, max_iters: int = 100, min_iters: int = 3,
            best: bool = False, clock: Callable[[], float] = time.perf_counter) -> float:
    """Median (``best``: fastest) seconds per call over at least ``min_seconds`` and
    ``min_iters`` calls. The fastest call is the one least disturbed by other processes on
    a shared CPU, the right figure when comparing against the machine's limit."""
    for _ in range(warmup):
        fn()
    sync(device)
    times: list[float] = []
    start = time.perf_counter()
    while (time.perf_counter() - start < min_seconds or len(times) < min_iters) \
            and len(times) < max_iters:
        t0 = clock()
        fn()
        sync(device)
        times.append(clock() - t0)
    times.sort()
    return times[0] if best else times[len(times) // 2]


def matmul_gflops(precision: str, device: torch.device, min_seconds: float = 0.5,
                  clock: Callable[[], float] = time.perf_counter) -> float:
    """GFLOP/s of a large square matmul (n grown until one product takes >= 20 ms on CPU;
    8192 on CUDA): the machine's dense-compute figure for ``precision``."""
    dtype = DTYPES[precision]
    n = 8192 if device.type == "cuda" else 256
    while True:
        a = torch.randn(n, n, device=device).to(dtype)
        b = torch.randn(n, n, device=device).to(dtype)
        t0 = time.perf_counter()
        torch.mm(a, b)
        sync(device)
        if device.type == "cuda" or time.perf_counter() - t0 >= 0.02 or n >= 4096:
            break
        n *= 2
    sec = time_fn(lambda: torch.mm(a, b), device, min_seconds, warmup=1, max_iters=50,
                  best=True, clock=clock)
    return 2 * n**3 / sec / 1e9


def network_size(height: int, width: int, num_scales: int) -> tuple[int, int]:
    """The size the Synthesizer runs the network at (nearest multiples of 2**num_scales)."""
    m = 2 ** num_scales
    return max(m, round(height / m) * m), max(m, round(width / m) * m)


def build_bench_generator(variant: str = "scmis", width: int = 16, spade_hidden: int = 32,
                          num_scales: int = 5, z_dim: int = 64, num_classes: int = 40,
                          seed: int = 0) -> torch.nn.Module:
    """A seeded, untrained generator (speed does not depend on the weights' values)."""
    cfg = from_dict({"model": {"variant": variant, "width": width, "spade_hidden": spade_hidden,
                               "num_scales": num_scales, "z_dim": z_dim}})
    torch.manual_seed(seed)
    return build_generator(cfg.model, num_classes).eval()


def graph_flops(generator: torch.nn.Module, num_classes: int, batch: int, height: int,
                width: int) -> int:
    """Convolution FLOPs of one SynthesisGraph call, counted on the meta device."""
    graph = SynthesisGraph(generator, num_classes, 10.0).to("meta")
    labels = torch.zeros(batch, height, width, dtype=torch.long, device="meta")
    args: tuple[torch.Tensor, ...] = (labels,)
    if graph.z_dim:
        args += (torch.zeros(noise_shape(generator, batch, height, width), device="meta"),)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        graph(*args)
    return counter.get_total_flops()


class CaseRunner:
    """Callables that run one generator on one backend, built once per backend."""

    def __init__(self, generator: torch.nn.Module, num_classes: int, device: torch.device,
                 channels_last: bool = False):
        self.generator = generator
        self.num_classes = num_classes
        self.device = device
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.graph = SynthesisGraph(generator, num_classes, 10.0, fmt).to(device)
        if channels_last:
            self.graph = self.graph.to(memory_format=torch.channels_last)
        self._onnx = None
        self.onnx_providers: list[str] = []

    def inputs(self, batch: int, height: int, width: int, seed: int = 0
               ) -> tuple[torch.Tensor, torch.Tensor]:
        from .export import blocky_labels

        labels = torch.from_numpy(blocky_labels(batch, height, width, self.num_classes, seed))
        z = sample_z(self.generator, batch, height, width, torch.Generator().manual_seed(seed),
                     device=self.device)
        return labels.to(self.device), z

    def skip_reason(self, backend: str, precision: str) -> str | None:
        if backend == "onnxruntime" and precision != "fp32":
            return "onnxruntime runs the fp32 export (no bf16 Conv kernels on its CPU provider)"
        if backend == "onnxruntime":
            try:
                self.onnx_runner()
            except RuntimeError as exc:  # package missing, no GPU provider, export failure
                return str(exc).splitlines()[0]
        return None

    def onnx_runner(self):
        if self._onnx is None:
            from .onnx_graph import OnnxGenerator, export_onnx

            data = export_onnx(self.generator, self.num_classes, max_depth_m=10.0)
            self._onnx = OnnxGenerator(data, self.device)
            self.onnx_providers = self._onnx.providers
        return self._onnx

    def make(self, backend: str, precision: str, labels: torch.Tensor, z: torch.Tensor
             ) -> Callable[[], Any]:
        """A no-argument callable running one batch (outputs discarded by the caller)."""
        if backend == "onnxruntime":
            runner = self.onnx_runner()
            labels_np, z_np = labels.cpu().numpy(), z.cpu().numpy()
            return lambda: runner(labels_np, z_np)
        net: Callable[..., Any] = self.graph
        if backend == "compiled":
            torch._dynamo.reset()  # one static graph per case, no recompile limit
            net = torch.compile(self.graph, dynamic=False)
        dtype = DTYPES[precision]

        def run():
            with torch.inference_mode(), torch.autocast(self.device.type, dtype=dtype,
                                                        enabled=precision != "fp32"):
                return net(labels, z)

        return run


def profile_breakdown(fn: Callable[[], Any]) -> dict[str, float]:
    """Seconds of one call by kind: ``conv`` (convolution kernels) vs ``memory`` (the
    elementwise / normalisation / resampling / copy ops) vs ``other``."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    conv_ops = ("convolution", "conv2d", "mkldnn_conv", "_slow_conv", "addmm", "mm")
    memory_ops = ("add", "mul", "batch_norm", "leaky_relu", "relu", "clamp", "tanh", "copy",
                  "upsample", "cat", "eq", "_to_copy", "contiguous", "fill", "sub", "div")
    out = {"conv": 0.0, "memory": 0.0, "other": 0.0}
    for event in prof.key_averages():
        name = event.key.split("::")[-1]
        sec = event.self_cpu_time_total / 1e6
        if any(k in name for k in conv_ops):
            out["conv"] += sec
        elif any(name.startswith(k) or k in name for k in memory_ops):
            out["memory"] += sec
        else:
            out["other"] += sec
    return out


def run_benchmark(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """All cases; returns {"machine": ..., "rows": [...], "skipped": [...]}."""
    threads = torch.get_num_threads()
    precisions = ["fp32", "bf16"] if args.full or args.bf16 else ["fp32"]
    sizes = args.sizes or ([(240, 320), (480, 640)] if args.full else [(240, 320)])
    batches = args.batches or ([1, 4] if args.full else [1])
    clock = time.process_time if args.cpu_time else time.perf_counter
    peak = {p: matmul_gflops(p, device, args.min_seconds, clock) for p in precisions}
    machine = {"device": str(device), "name": (torch.cuda.get_device_name(device)
                                               if device.type == "cuda" else "CPU"),
               "threads": threads, "torch": torch.__version__,
               "clock": "process CPU time" if args.cpu_time else "wall time",
               "loadavg_start": round(os.getloadavg()[0], 2),
               "matmul_gflops_start": {p: round(v, 2) for p, v in peak.items()}}
    print(f"device {machine['name']} ({device}), torch {torch.__version__}, {threads} "
          f"threads, load average {machine['loadavg_start']}")
    print("large matmul: " + ", ".join(f"{p} {v:.1f} GFLOP/s" for p, v in peak.items()),
          flush=True)
    bf16_ok = "bf16" not in peak or args.force_bf16 or device.type == "cuda" \
        or peak["bf16"] >= 0.25 * peak["fp32"]
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    breakdown = None
    for variant in args.variants:
        gen = build_bench_generator(variant, args.width, args.spade_hidden, args.num_scales,
                                    num_classes=args.num_classes)
        runner = CaseRunner(gen, args.num_classes, device, args.channels_last)
        for req_h, req_w in sizes:
            height, width = network_size(req_h, req_w, args.num_scales)
            for batch in batches:
                flops = graph_flops(gen, args.num_classes, batch, height, width)
                labels, z = runner.inputs(batch, height, width)
                for precision in precisions:
                    for backend in args.backends:
                        case = {"variant": variant, "backend": backend,
                                "size": f"{req_h}x{req_w}", "net_size": f"{height}x{width}",
                                "batch": batch, "precision": precision}
                        reason = runner.skip_reason(backend, precision)
                        if reason is None and precision == "bf16" and not bf16_ok:
                            reason = (f"bf16 matmul runs at {peak['bf16']:.2f} GFLOP/s, "
                                      f"{100 * peak['bf16'] / peak['fp32']:.1f} % of fp32: no "
                                      f"native bf16 on this CPU (--force-bf16 times it)")
                        if reason:
                            skipped.append({**case, "reason": reason})
                            print(f"  skip {backend} {precision} {case['size']} b{batch}: "
                                  f"{reason}", flush=True)
                            continue
                        adjacent = matmul_gflops(precision, device, args.min_seconds / 4,
                                                 clock)
                        peak[precision] = max(peak[precision], adjacent)
                        t0 = time.perf_counter()
                        fn = runner.make(backend, precision, labels, z)
                        fn()  # compile / first-run costs
                        setup_s = time.perf_counter() - t0
                        sec = time_fn(fn, device, args.min_seconds, warmup=1,
                                      max_iters=args.max_iters, best=True, clock=clock)
                        row = {**case, "ms_per_batch": 1e3 * sec, "images_per_s": batch / sec,
                               "gflop_per_image": flops / batch / 1e9,
                               "gflops": flops / sec / 1e9, "adjacent_matmul_gflops": adjacent,
                               "first_call_s": setup_s}
                        tp = device_peak(device, precision)
                        row["mfu"] = row["gflops"] / (1e3 * tp) if tp else None
                        rows.append(row)
                        print(format_row(row, peak[precision]), flush=True)
                        if args.profile and breakdown is None and backend == "eager" \
                                and precision == "fp32" and device.type == "cpu":
                            parts = profile_breakdown(fn)
                            total = sum(parts.values()) or 1.0
                            shares = {k: v / total for k, v in parts.items()}
                            # the profiler runs on wall time: apply its shares to the case's
                            # own (undisturbed) time
                            breakdown = {**case, **{f"{k}_share": round(v, 3)
                                                    for k, v in shares.items()},
                                         "conv_gflops": row["gflops"] / max(shares["conv"],
                                                                            1e-9)}
        del runner, gen
    for row in rows:
        row["fraction_of_matmul"] = row["gflops"] / peak[row["precision"]]
    machine["matmul_gflops"] = {p: round(v, 2) for p, v in peak.items()}
    machine["loadavg_end"] = round(os.getloadavg()[0], 2)
    return {"machine": machine, "model": {"width": args.width,
                                          "spade_hidden": args.spade_hidden,
                                          "num_scales": args.num_scales,
                                          "num_classes": args.num_classes},
            "rows": rows, "skipped": skipped, "profile": breakdown}


def format_row(r: dict[str, Any], peak: float) -> str:
    mfu = f"  MFU {100 * r['mfu']:.1f}%" if r.get("mfu") is not None else ""
    return (f"  {r['variant']:<6} {r['backend']:<11} {r['size']:>7} b{r['batch']:<2} "
            f"{r['precision']:<4} {r['ms_per_batch']:9.1f} ms {r['images_per_s']:8.2f} img/s "
            f"{r['gflops']:8.1f} GFLOP/s = {100 * r['gflops'] / peak:5.1f}% of matmul "
            f"(adjacent matmul {r['adjacent_matmul_gflops']:.1f}){mfu}")


def summary_table(result: dict[str, Any]) -> str:
    """Markdown table of the rows (for docs/performance.md)."""
    lines = ["| backend | size (network) | batch | precision | ms / batch | images/s | "
             "GFLOP/s | fraction of matmul |", "|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['backend']} | {r['size']} ({r['net_size']}) | {r['batch']} | "
                     f"{r['precision']} | {r['ms_per_batch']:.0f} | {r['images_per_s']:.2f} | "
                     f"{r['gflops']:.1f} | {100 * r['fraction_of_matmul']:.0f} % |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scmis_core.bench gen",
        description="Generator inference GFLOP/s of eager, compiled and onnxruntime as a "
                    "fraction of this machine's large-matmul GFLOP/s.")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N | auto")
    parser.add_argument("--full", action="store_true",
                        help="the whole grid: 240x320 and 480x640, batch 1 and 4, fp32 and "
                        "bf16")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--variants", nargs="+", default=["scmis"],
                        help="generator variants (e.g. scmis oasis rgbd-oasis)")
    parser.add_argument("--sizes", type=parse_size, nargs="+", default=None, help="HxW list")
    parser.add_argument("--batches", type=int, nargs="+", default=None)
    parser.add_argument("--bf16", action="store_true", help="also bf16 (implied by --full)")
    parser.add_argument("--force-bf16", action="store_true",
                        help="time bf16 even where the CPU has no native bf16")
    parser.add_argument("--width", type=int, default=16, help="generator width (paper 64)")
    parser.add_argument("--spade-hidden", type=int, default=32, help="(paper 128)")
    parser.add_argument("--num-scales", type=int, default=5)
    parser.add_argument("--num-classes", type=int, default=40)
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--threads", type=int, default=0,
                        help="intra-op threads of torch and onnxruntime (0 = torch's default)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time with this process's CPU seconds instead of wall time (with "
                        "--threads 1: the time others take from the core is not counted)")
    parser.add_argument("--min-seconds", type=float, default=1.0,
                        help="time each case for at least this long")
    parser.add_argument("--max-iters", type=int, default=20)
    parser.add_argument("--profile", action="store_true",
                        help="split the first eager fp32 case into conv vs memory-bound time")
    parser.add_argument("--json", default="", help="also write the results to this file")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m scmis_core.bench gen``."""
    args = build_parser().parse_args(argv)
    device = select_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.cpu_time and (device.type != "cpu" or torch.get_num_threads() != 1):
        raise SystemExit("--cpu-time counts CPU seconds of one thread: use it with "
                         "--threads 1 on the CPU")
    torch.set_flush_denormal(True)  # random weights must not hit slow denormal paths
    try:
        result = run_benchmark(args, device)
    finally:
        torch.set_flush_denormal(False)  # torch's default, for callers in the same process
    if result["profile"]:
        p = result["profile"]
        print(f"profile (eager fp32 {p['size']} b{p['batch']}): convolutions "
              f"{100 * p['conv_share']:.0f} % of the time at {p['conv_gflops']:.1f} GFLOP/s, "
              f"memory-bound ops (norm, SPADE modulation, activations, upsampling, copies) "
              f"{100 * p['memory_share']:.0f} %, other {100 * p['other_share']:.0f} %")
    by_key = {(r["variant"], r["size"], r["batch"], r["precision"], r["backend"]): r
              for r in result["rows"]}
    for (variant, size, batch, precision, backend), r in by_key.items():
        eager = by_key.get((variant, size, batch, precision, "eager"))
        if backend != "eager" and eager is not None:
            print(f"  {backend}/eager {variant} {size} b{batch} {precision}: "
                  f"{r['images_per_s'] / eager['images_per_s']:.2f}x")
    if args.markdown:
        print(summary_table(result))
    if args.json:
        atomic_write_text(args.json, json.dumps(result, indent=1, default=float) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
