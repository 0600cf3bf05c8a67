"""One-command GPU check: ``python -m scmis_core.gpu_check`` (``bench/gpu_check.sh``).

For a single NVIDIA GPU machine with PyTorch and no network: within ``--budget-s`` seconds
(default 450, so that the whole script stays under 8 minutes) it runs, most important first,

1. the CUDA-marked tests (``pytest -m gpu``: autocast bf16 / fp16 + GradScaler,
   channels_last, torch.compile, SyncBatchNorm conversion, exact resume on CUDA);
2. the bf16 and fp32 large-matmul TFLOP/s of the device;
3. paper-width SCMIS-G inference (width 64, SPADE hidden 128, 5 scales, 40 classes) at
   640x480: images/s for batch 1 / 8 / 32 and the batch-1 latency, bf16 + channels_last, eager
   PyTorch vs onnxruntime's CUDA provider (fp32 export; skipped with the reason where the
   installed onnxruntime has no CUDA provider);
4. training images/s for the ``rooms_small`` and ``nyu40_paper`` shapes (their model, batch
   and image size; procedural rooms frames, one batch reused so the data loader is not timed)
   with bf16 autocast + channels_last, and MFU against the device's bf16 dense peak;
5. a one-process NCCL DistributedDataParallel smoke step with SyncBatchNorm;
6. the compiled variants (inference and training with ``torch.compile``), as far as the
   budget allows.

and prints one JSON object on stdout (progress goes to stderr); ``--json PATH`` also writes
it. A section that does not fit in the remaining budget, or needs what this machine lacks, is
recorded under ``skipped`` with the reason; an exception is recorded under ``failed`` and
makes the exit status 1.

``--dry-run`` runs the same code on tiny shapes on the CPU (width-4 models, 32x32 training
frames, 32x48 inference), with the CUDA-only parts skipped with a reason: it is what CI runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import torch

from .bench_gen import (CaseRunner, build_bench_generator, device_peak, graph_flops,
                        matmul_gflops, time_fn)

REPO = Path(__file__).resolve().parents[1]

#: The issue's anchors (H100-class GPU): inference images/s at 640x480 bf16, batch-1 latency
#: (a 30 Hz camera), training MFU.
ANCHORS = {"inference_images_per_s_640x480": 160.0, "batch1_latency_ms": 33.0,
           "training_mfu": 0.40}

#: Paper-width generator (157.9 M parameters) and its dry-run stand-in.
PAPER_G = {"width": 64, "spade_hidden": 128, "num_scales": 5, "z_dim": 64}
TINY_G = {"width": 4, "spade_hidden": 8, "num_scales": 3, "z_dim": 8}
TINY_TRAIN = ["data.height=32", "data.width=32", "model.width=4", "model.num_scales=3",
              "model.spade_hidden=8", "model.z_dim=8", "model.disc_width=8",
              "model.disc_head_width=16", "train.batch_size=2"]


def sig(value: float, digits: int = 4) -> float:
    """``value`` to ``digits`` significant digits (tiny dry-run figures stay readable)."""
    return float(f"{value:.{digits}g}")


def log(message: str) -> None:
    print(f"[gpu_check {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Check:
    """The result being built, the time budget and the section runner."""

    def __init__(self, budget_s: float, dry_run: bool):
        self.start = time.perf_counter()
        self.budget_s = budget_s
        self.dry_run = dry_run
        self.result: dict[str, Any] = {"dry_run": dry_run, "budget_s": budget_s,
                                       "skipped": [], "failed": []}

    def remaining(self) -> float:
        return self.budget_s - (time.perf_counter() - self.start)

    def skip(self, name: str, reason: str) -> None:
        log(f"skip {name}: {reason}")
        self.result["skipped"].append({"section": name, "reason": reason})

    def section(self, name: str, fn: Callable[[], Any], need_s: float = 0.0,
                cuda_only: str = "") -> Any:
        """Run ``fn`` and store its value under ``name``; skip it with the reason when the
        budget cannot hold ``need_s`` more seconds or (``cuda_only``) there is no CUDA."""
        if cuda_only and (self.dry_run or not torch.cuda.is_available()):
            why = "--dry-run" if self.dry_run else "no CUDA device"
            self.skip(name, f"{cuda_only} ({why})")
            return None
        if self.remaining() < need_s:
            self.skip(name, f"time budget: {self.remaining():.0f} s left, about {need_s:.0f} s "
                            "needed")
            return None
        log(f"{name} ...")
        t0 = time.perf_counter()
        try:
            value = fn()
        except Exception as exc:  # record and go on: one broken part must not hide the rest
            lines = traceback.format_exception_only(type(exc), exc)
            self.result["failed"].append({"section": name, "error": "".join(lines).strip()[:2000]})
            log(f"{name} FAILED: {lines[-1].strip()}")
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            return None
        self.result[name] = value
        log(f"{name} done in {time.perf_counter() - t0:.1f} s")
        return value


# --------------------------------------------------------------------------------------------
# Sections.


def environment() -> dict[str, Any]:
    info: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__,
                            "cuda_available": torch.cuda.is_available(),
                            "host_cpus": os.cpu_count()}
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(device=torch.cuda.get_device_name(0), cuda=torch.version.cuda,
                    capability=f"{props.major}.{props.minor}",
                    memory_gib=round(props.total_memory / 2**30, 1),
                    multiprocessors=props.multi_processor_count,
                    cudnn=torch.backends.cudnn.version())
    try:
        import onnxruntime as ort

        info.update(onnxruntime=ort.__version__,
                    onnxruntime_providers=ort.get_available_providers())
    except ImportError:
        info["onnxruntime"] = None
    return info


def gpu_test_files() -> list[str]:
    """Test files that carry the ``gpu`` marker (only those are collected: other modules
    may import packages this machine lacks, e.g. ROS)."""
    return sorted(str(p.relative_to(REPO)) for p in (REPO / "test").glob("test_*.py")
                  if "mark.gpu" in p.read_text(errors="replace"))


def run_gpu_tests(timeout_s: float) -> dict[str, Any]:
    """``pytest -m gpu`` on the files that use the marker, in a subprocess; counts from its
    JUnit XML and the first line of each failure."""
    files = gpu_test_files()
    if not files:
        return {"files": [], "tests": 0, "note": "no test file uses the gpu marker"}
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "junit.xml"
        cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider",
               f"--junitxml={xml}", *files]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                                  timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"pytest -m gpu did not finish within {timeout_s:.0f} s") from None
        out: dict[str, Any] = {"files": files, "exit_code": proc.returncode,
                               "seconds": round(time.perf_counter() - t0, 1)}
        if not xml.is_file():
            raise RuntimeError(f"pytest -m gpu wrote no report (exit {proc.returncode}): "
                               f"{proc.stdout[-1500:]}{proc.stderr[-1500:]}")
        suites = ET.parse(xml).getroot()
        suite = suites if suites.tag == "testsuite" else suites.find("testsuite")
        for key in ("tests", "failures", "errors", "skipped"):
            out[key] = int(suite.get(key, 0))
        problems, skips = [], set()
        for case in suite.iter("testcase"):
            for tag in ("failure", "error"):
                node = case.find(tag)
                if node is not None:
                    msg = (node.get("message") or node.text or "").strip().splitlines()
                    problems.append(f"{case.get('name')}: {msg[0][:300] if msg else tag}")
            node = case.find("skipped")
            if node is not None:
                skips.add((node.get("message") or "").strip()[:200])
        out["problems"] = problems
        out["skip_reasons"] = sorted(skips)
    if out["failures"] or out["errors"] or proc.returncode not in (0, 5):
        raise RuntimeError(f"pytest -m gpu: {out['failures']} failed, {out['errors']} errors: "
                           f"{problems[:5]}")
    return out


def matmul(device: torch.device) -> dict[str, Any]:
    out = {f"{p}_tflops": sig(matmul_gflops(p, device, 1.0) / 1e3) for p in ("bf16", "fp32")}
    peak = device_peak(device, "bf16")
    out["bf16_spec_peak_tflops"] = peak
    return out


def inference(device: torch.device, dry_run: bool, budget: Check, compiled: bool
              ) -> dict[str, Any]:
    """Paper-width SCMIS-G at 640x480 (dry run: a width-4 model at 32x48 on the CPU)."""
    spec = TINY_G if dry_run else PAPER_G
    gen = build_bench_generator("scmis", spec["width"], spec["spade_hidden"],
                                spec["num_scales"], spec["z_dim"], 40)
    height, width = (32, 48) if dry_run else (480, 640)
    batches = (1, 2) if dry_run else (1, 8, 32)
    precision = "fp32" if device.type == "cpu" else "bf16"
    runner = CaseRunner(gen, 40, device, channels_last=device.type == "cuda")
    peak = device_peak(device, precision)
    rows = []
    backend = "compiled" if compiled else "eager"
    flops_1 = graph_flops(gen, 40, 1, height, width)  # convolution FLOPs scale with the batch
    for batch in batches:
        if budget.remaining() < (90 if compiled else 20):  # a compile takes about a minute
            budget.skip(f"inference {backend} b{batch}", "time budget")
            continue
        labels, z = runner.inputs(batch, height, width)
        flops = flops_1 * batch
        t0 = time.perf_counter()
        fn = runner.make(backend, precision, labels, z)
        fn()
        first = time.perf_counter() - t0
        sec = time_fn(fn, device, min_seconds=2.0 if not dry_run else 0.1, max_iters=50)
        tflops = flops / sec / 1e12
        rows.append({"backend": f"torch-{backend}", "precision": precision,
                     "channels_last": device.type == "cuda", "size": f"{width}x{height}",
                     "batch": batch, "images_per_s": sig(batch / sec),
                     "ms_per_batch": sig(1e3 * sec), "tflops": sig(tflops),
                     "mfu": sig(tflops / peak) if peak else None,
                     "first_call_s": round(first, 1)})
        log(f"  {rows[-1]}")
        del fn, labels, z
        if device.type == "cuda":
            torch.cuda.empty_cache()
    params = sum(p.numel() for p in gen.parameters())
    return {"model": {**spec, "params_m": round(params / 1e6, 1),
                      "gflop_per_image": round(flops_1 / 1e9, 1)},
            "rows": rows}


def onnxruntime_inference(device: torch.device, dry_run: bool, budget: Check
                          ) -> dict[str, Any] | None:
    """onnxruntime on the same model and inputs (fp32 export; CUDA provider on a GPU, the CPU
    provider in the dry run). Host<->device copies of inputs / outputs are included."""
    try:
        import onnxruntime as ort
    except ImportError:
        budget.skip("onnxruntime", "onnxruntime is not installed")
        return None
    if device.type == "cuda" and "CUDAExecutionProvider" not in ort.get_available_providers():
        budget.skip("onnxruntime", f"this onnxruntime {ort.__version__} has no CUDA provider "
                    f"({', '.join(ort.get_available_providers())}); carry an onnxruntime-gpu "
                    "wheel for the CUDA comparison")
        return None
    spec = TINY_G if dry_run else PAPER_G
    gen = build_bench_generator("scmis", spec["width"], spec["spade_hidden"],
                                spec["num_scales"], spec["z_dim"], 40)
    height, width = (32, 48) if dry_run else (480, 640)
    runner = CaseRunner(gen, 40, device)
    flops_1 = graph_flops(gen, 40, 1, height, width)
    t0 = time.perf_counter()
    runner.onnx_runner()
    export_s = time.perf_counter() - t0
    rows = []
    for batch in ((1, 2) if dry_run else (1, 8)):
        labels, z = runner.inputs(batch, height, width)
        fn = runner.make("onnxruntime", "fp32", labels, z)
        sec = time_fn(fn, device, min_seconds=2.0 if not dry_run else 0.1, max_iters=30)
        flops = flops_1 * batch
        rows.append({"backend": "onnxruntime", "providers": runner.onnx_providers,
                     "precision": "fp32", "size": f"{width}x{height}", "batch": batch,
                     "images_per_s": sig(batch / sec), "ms_per_batch": sig(1e3 * sec),
                     "tflops": sig(flops / sec / 1e12)})
        log(f"  {rows[-1]}")
    return {"export_and_session_s": round(export_s, 1), "rows": rows}


def train_overrides(name: str, device: torch.device, dry_run: bool, compile_: bool
                    ) -> list[str]:
    """The config's model, batch and image size on procedural rooms frames (no data set
    needed), bf16 autocast + channels_last on CUDA, torch.compile on or off."""
    batch_hint = 2 if dry_run else None
    over = ["data.source=rooms", "data.root=", "data.num_workers=0", "data.cache=false",
            "data.rooms_test_size=4", f"train.device={device}", "train.log_every=1000",
            f"train.compile={str(compile_).lower()}"]
    if device.type == "cuda":
        over += ["train.amp=bf16", "train.channels_last=true"]
    if dry_run:
        over += TINY_TRAIN
    from .config import load_config

    cfg = load_config(REPO / "config" / f"{name}.yaml", over)
    batch = batch_hint or cfg.train.batch_size
    return over + [f"data.rooms_train_size={2 * batch}"]


def training(name: str, device: torch.device, dry_run: bool, compile_: bool,
             flops_cache: dict[str, int]) -> dict[str, Any]:
    """Images/s of the trainer's own step (one D + one G update) for a config's shapes."""
    from torch.utils.flop_counter import FlopCounterMode

    from .config import load_config
    from .train import Trainer

    cfg = load_config(REPO / "config" / f"{name}.yaml",
                      train_overrides(name, device, dry_run, compile_))
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, tmp, device=device, progress=False)
        batches = trainer.stream.from_step(0)
        batch = next(batches)
        t0 = time.perf_counter()
        trainer.train_step(batch)  # compile / cuDNN autotune / allocator warm-up
        first = time.perf_counter() - t0
        sec = time_fn(lambda: trainer.train_step(batch), device,
                      min_seconds=3.0 if not dry_run else 0.0, warmup=0 if dry_run else 1,
                      max_iters=30, min_iters=1 if dry_run else 3)
        if name not in flops_cache and not compile_:
            # FlopCounterMode sees only its own thread: count a step on one intra-op thread,
            # where the trainer runs D's passes in one piece (train.split_d needs >= 2
            # threads); the split passes do the same arithmetic
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                with FlopCounterMode(display=False) as counter:
                    trainer.train_step(batch)
            finally:
                torch.set_num_threads(threads)
            flops_cache[name] = counter.get_total_flops()
        if hasattr(batches, "close"):
            batches.close()
        trainer = batch = None  # free the GPU memory before the next section
    if device.type == "cuda":
        torch.cuda.empty_cache()
    bsz = cfg.train.batch_size
    flops = flops_cache.get(name)
    peak = device_peak(device, "bf16")
    row = {"config": name, "compile": compile_, "size": f"{cfg.data.height}x{cfg.data.width}",
           "batch": bsz, "model_width": cfg.model.width,
           "amp": cfg.train.amp if device.type == "cuda" else "none (CPU)",
           "channels_last": bool(cfg.train.channels_last and device.type == "cuda"),
           "images_per_s": sig(bsz / sec), "ms_per_step": sig(1e3 * sec),
           "first_step_s": round(first, 1)}
    if flops:
        row["tflop_per_step"] = sig(flops / 1e12)
        row["tflops"] = sig(flops / sec / 1e12)
        row["mfu"] = sig(flops / sec / 1e12 / peak) if peak else None
    log(f"  {row}")
    return row


def ddp_smoke(dry_run: bool, timeout_s: float = 180.0) -> dict[str, Any]:
    """The DDP step runs in a subprocess of its own (a hung collective cannot stall us)."""
    cmd = [sys.executable, "-m", "scmis_core.gpu_check", "--ddp-worker"]
    if dry_run:
        cmd.append("--dry-run")
    try:
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                              timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"DDP smoke step did not finish within {timeout_s:.0f} s") from None
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"DDP smoke step failed (exit {proc.returncode}): "
                           f"{proc.stderr.strip()[-1500:]}")
    return json.loads(lines[-1])


def ddp_worker(dry_run: bool) -> int:
    """One process, world size 1: SyncBatchNorm conversion, DDP forward/backward/step."""
    import torch.distributed as dist
    from torch import nn

    from .data.transforms import one_hot
    from .export import blocky_labels
    from .models.noise import sample_z

    cuda = torch.cuda.is_available() and not dry_run
    backend = "nccl" if cuda else "gloo"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=0,
                            world_size=1)
    try:
        device = torch.device("cuda", 0) if cuda else torch.device("cpu")
        gen = build_bench_generator("scmis", 8, 16, 3, 8, 40).train()
        sync_bn = 0
        if cuda:  # SyncBatchNorm runs on CUDA only
            gen = nn.SyncBatchNorm.convert_sync_batchnorm(gen)
            sync_bn = sum(isinstance(m, nn.SyncBatchNorm) for m in gen.modules())
        gen.to(device)
        model = nn.parallel.DistributedDataParallel(gen, device_ids=[0] if cuda else None)
        labels = torch.from_numpy(blocky_labels(2, 64, 64, 40, 0)).to(device)
        onehot = one_hot(labels, 40)
        z = sample_z(gen, 2, 64, 64, device=device)
        before = [p.detach().clone() for p in gen.parameters()]
        opt = torch.optim.Adam(gen.parameters(), lr=1e-3)
        out = model(onehot, z)
        loss = sum(v.float().square().mean() for v in out.values())
        loss.backward()
        grads_finite = all(torch.isfinite(p.grad).all().item() for p in gen.parameters()
                           if p.grad is not None)
        opt.step()
        changed = sum(not torch.equal(a, p.detach()) for a, p in zip(before, gen.parameters()))
        probe = torch.ones(1, device=device)
        dist.all_reduce(probe)
        result = {"backend": backend, "world_size": dist.get_world_size(),
                  "sync_batchnorm_layers": sync_bn, "loss": round(float(loss), 6),
                  "grads_finite": bool(grads_finite), "params_changed": int(changed),
                  "all_reduce_ok": float(probe.item()) == 1.0}
        if not cuda:
            result["note"] = ("gloo on the CPU; SyncBatchNorm conversion skipped (it needs "
                              "CUDA)")
    finally:
        dist.destroy_process_group()
    ok = result["grads_finite"] and result["params_changed"] > 0 and result["all_reduce_ok"]
    print(json.dumps(result), flush=True)
    return 0 if ok else 1


def anchor_checks(result: dict[str, Any]) -> dict[str, Any]:
    """The figures next to the issue's anchors (H100-class numbers; informative)."""
    out: dict[str, Any] = {}
    rows = (result.get("inference") or {}).get("rows", [])
    rows += (result.get("inference_compiled") or {}).get("rows", [])
    if rows:
        out["best_inference_images_per_s"] = max(r["images_per_s"] for r in rows)
        b1 = [r["ms_per_batch"] for r in rows if r["batch"] == 1]
        out["best_batch1_latency_ms"] = min(b1) if b1 else None
    train = [r.get("mfu") for r in result.get("training", []) if r.get("mfu") is not None]
    out["best_training_mfu"] = max(train) if train else None
    out["anchors"] = ANCHORS
    return out


def run(args: argparse.Namespace, check: Check) -> dict[str, Any]:
    res = check.result
    res["date"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    device = torch.device("cuda", 0) if torch.cuda.is_available() and not args.dry_run \
        else torch.device("cpu")
    res["device"] = str(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    check.section("environment", environment)
    if args.skip_tests:
        check.skip("tests", "--skip-tests")
    else:
        check.section("tests", lambda: run_gpu_tests(min(args.tests_timeout_s,
                                                         max(30.0, check.remaining() - 240))),
                      need_s=60)
    check.section("matmul", lambda: matmul(device), need_s=10)
    check.section("inference", lambda: inference(device, args.dry_run, check, False),
                  need_s=40)
    check.section("onnxruntime", lambda: onnxruntime_inference(device, args.dry_run, check),
                  need_s=90 if not args.dry_run else 5)
    flops: dict[str, int] = {}
    res["training"] = []
    for name in ("rooms_small", "nyu40_paper"):
        row = check.section(f"training {name}",
                            lambda n=name: training(n, device, args.dry_run, False, flops),
                            need_s=40 if not args.dry_run else 5)
        if row:
            res["training"].append(row)
        res.pop(f"training {name}", None)
    check.section("ddp", lambda: ddp_smoke(args.dry_run), need_s=30 if not args.dry_run else 5)
    compile_reason = "torch.compile is timed on CUDA only (minutes of inductor compile on " \
                     "a CPU)"
    check.section("inference_compiled", lambda: inference(device, args.dry_run, check, True),
                  need_s=150, cuda_only=compile_reason)
    for name in ("rooms_small", "nyu40_paper"):
        row = check.section(f"training {name} compiled",
                            lambda n=name: training(n, device, args.dry_run, True, flops),
                            need_s=170, cuda_only=compile_reason)
        if row:
            res["training"].append(row)
        res.pop(f"training {name} compiled", None)
    res["summary"] = anchor_checks(res)
    res["elapsed_s"] = round(time.perf_counter() - check.start, 1)
    return res


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scmis_core.gpu_check",
        description="One-command GPU check: CUDA tests, inference and training throughput, "
                    "MFU, onnxruntime-CUDA, a DDP smoke step; one JSON on stdout.")
    parser.add_argument("--dry-run", action="store_true",
                        help="the same code on tiny shapes on the CPU, CUDA parts skipped")
    parser.add_argument("--budget-s", type=float, default=450.0,
                        help="stop starting new sections after this many seconds")
    parser.add_argument("--tests-timeout-s", type=float, default=180.0)
    parser.add_argument("--skip-tests", action="store_true", help="do not run pytest -m gpu")
    parser.add_argument("--json", default="", help="also write the JSON to this file")
    parser.add_argument("--ddp-worker", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m scmis_core.gpu_check``."""
    args = build_parser().parse_args(argv)
    if args.ddp_worker:
        return ddp_worker(args.dry_run)
    check = Check(args.budget_s, args.dry_run)
    try:
        result = run(args, check)
    except KeyboardInterrupt:  # the shell wrapper's time limit: print what was measured
        result = check.result
        result["failed"].append({"section": "interrupted",
                                 "error": "stopped by SIGINT (time limit of gpu_check.sh)"})
        result["elapsed_s"] = round(time.perf_counter() - check.start, 1)
    text = json.dumps(result, default=str)
    print(text, flush=True)
    if args.json:
        from .runtime import atomic_write_text

        atomic_write_text(args.json, json.dumps(result, indent=1, default=str) + "\n")
    return 1 if result["failed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
