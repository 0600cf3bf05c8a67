"""Training throughput, new path vs old path: ``python -m scmis_core.bench train``.

Times the trainer's real loop (batches from its own data stream, then one D and one G
update) for two or more configurations built from one ``--config`` and interleaves them in
rounds, so that load from other processes hits every path alike. Printed: images/s of each
path and the ratio to the old path.

Paths:

- ``new``: the config as given (for ``config/rooms_small.yaml``: frames from the
  memory-mapped cache, no loader worker processes, one generator forward shared by the D
  and G updates, D passes split over two threads, fused EMA and Adam updates, eq. 4's real
  features from D's backbone alone, 32-wide head);
- ``old``: the same config with the settings of the previous release (rooms ray cast in a
  loader worker, per-tensor EMA and Adam, one D pass on all threads, a full D pass for the
  real features, 64-wide pyramid-pooling head, logits at full resolution, LabelMix every
  step), see :data:`OLD_PATH`;
- with ``--ablations``: ``new`` with one optimisation switched off at a time, each against
  ``old`` in a process of its own (:data:`ABLATIONS`);
- with ``--bound``: ``new@1-thread``, the new path's own trainer on one intra-op thread, and
  ``new@1-thread-half``, the same on the first half of each batch. From them two bounds of
  what two cores can give: twice the one-thread images/s (the same step split over two cores
  without any loss), and the batch over the half-batch step time (a split by halves, each
  core running its half at once, with no cost for the split itself).

``--no-cache``, ``--no-share-fake``, ``--no-split-d``, ``--no-fused-ema``,
``--no-fused-adam``, ``--head-width``, ``--workers`` switch an optimisation off in the new
path itself; dotted overrides (``model.disc_logit_stride=2`` ...) change it further. Cache,
workers, fused EMA, the split D passes, fused Adam and the backbone-only features leave a
step's numbers unchanged up to float rounding; the shared forward changes which noise draw
the G update uses (not its distribution); head width, logit stride and lazy LabelMix change
the discriminator's training (docs/performance.md has what they do to quality).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from typing import Any

import torch

from .config import apply_overrides, from_dict, load_config

#: Overrides that restore the training path of the previous release (5e01fee).
OLD_PATH = {"data.cache": "false", "data.num_workers": "1", "train.fused_ema": "false",
            "train.share_fake": "false", "train.split_d": "false", "train.fused_adam": "false",
            "train.real_features_only": "false",
            "model.disc_head_width": "64", "model.disc_logit_stride": "1",
            "loss.labelmix_every": "1"}

#: Names of the new path's trainer timed on one intra-op thread (``--bound``): on whole
#: batches, and on the first half of each batch.
ONE_CORE = "new@1-thread"
ONE_CORE_HALF = "new@1-thread-half"

#: One optimisation of the new path each: name -> the override that switches it off.
ABLATIONS = {"no-cache": {"data.cache": "false", "data.num_workers": "1"},
             "no-fused-ema": {"train.fused_ema": "false"},
             "no-fused-adam": {"train.fused_adam": "false"},
             "no-share-fake": {"train.share_fake": "false"},
             "no-split-d": {"train.split_d": "false"},
             "no-real-features-only": {"train.real_features_only": "false"},
             "head-64": {"model.disc_head_width": "64"},
             "logit-stride-1": {"model.disc_logit_stride": "1"},
             "labelmix-every-1": {"loss.labelmix_every": "1"}}


def _config(base: dict[str, Any], overrides: dict[str, str]):
    return from_dict(apply_overrides(base, [f"{k}={v}" for k, v in overrides.items()]))


class _Path:
    """One trainer and its batch iterator, timed in chunks of steps."""

    def __init__(self, name: str, cfg, threads: int, *, share: "_Path | None" = None,
                 batch_size: int | None = None):
        """``share``: time the trainer and batches of that path (separately, e.g. with other
        ``threads``) instead of building a trainer; ``batch_size``: use the first images of
        each batch only (default: the whole batch)."""
        from .train import Trainer

        self.name = name
        self.cfg = cfg
        self.threads = threads
        self.batch_size = batch_size or cfg.train.batch_size
        self.seconds = 0.0
        self.images = 0
        self.tmp: tempfile.TemporaryDirectory | None = None
        if share is not None:
            self.trainer, self.batches, self.setup_s = share.trainer, share.batches, 0.0
            return
        self.tmp = tempfile.TemporaryDirectory(prefix=f"bench-{name}-")
        t0 = time.perf_counter()
        self.trainer = Trainer(cfg, self.tmp.name, progress=False)
        self.setup_s = time.perf_counter() - t0
        self.batches = self.trainer.stream.from_step(0)

    def run(self, steps: int, timed: bool = True) -> None:
        torch.set_num_threads(self.threads)
        t0 = time.perf_counter()
        for _ in range(steps):
            batch = next(self.batches)
            if self.batch_size != self.cfg.train.batch_size:
                batch = {k: v[:self.batch_size] for k, v in batch.items()}
            self.trainer.train_step(batch)
        if timed:
            self.seconds += time.perf_counter() - t0
            self.images += steps * self.batch_size

    @property
    def seconds_per_step(self) -> float:
        return self.seconds * self.batch_size / self.images if self.images else float("nan")

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds else float("nan")

    def close(self) -> None:
        if self.tmp is not None:  # the owner of the trainer
            self.batches.close()
            self.tmp.cleanup()


def _print_bound(paths: list[_Path]) -> None:
    """What two cores could give at best: the one-thread step of the new path over two cores
    without any loss, and each core running half the batch (a split by halves, no cost of
    its own)."""
    by_name = {p.name: p for p in paths}
    new, old, one, half = (by_name[k] for k in ("new", "old", ONE_CORE, ONE_CORE_HALF))
    batch = new.cfg.train.batch_size
    bounds = {"two-core bound": (one.seconds_per_step / 2,
                                 f"the {ONE_CORE} step over two cores without any loss"),
              "halves bound": (half.seconds_per_step,
                               f"each core one {ONE_CORE_HALF} step at once, nothing else")}
    for name, (seconds, what) in bounds.items():
        rate = batch / seconds
        print(f"{name} ({what}): {rate:.2f} img/s ({seconds:.3f} s/step)  "
              f"bound/old = {rate / old.images_per_s:.2f}x; new reaches "
              f"{new.images_per_s / rate:.0%} of it")


def _timed(fn, repeats: int) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats


def profile_step(path: _Path, repeats: int = 3) -> None:
    """Where a step's time goes: the phases timed one by one, then torch.profiler's top ops."""
    from torch.profiler import ProfilerActivity, profile

    from .data.transforms import one_hot

    torch.set_num_threads(path.threads)
    tr = path.trainer
    batch = tr._to_device(next(path.batches))
    labels = batch["labels"]
    onehot = one_hot(labels, tr.num_classes, check=False)
    real = tr.disc_view(batch["rgb"], batch["depth"])

    def g_forward_backward():
        tr.G.zero_grad(set_to_none=True)
        out = tr.G(onehot, tr.sample_noise(len(labels)))
        sum(v.mean() for v in out.values()).backward()

    def d_update():
        with torch.no_grad():
            fake = tr.G(onehot, tr.sample_noise(len(labels)))
        fake = tr.disc_view(fake.get("rgb"), fake.get("depth"))
        tr.D.zero_grad(set_to_none=True)
        total, _ = tr.d_loss(tr.D, real, fake, labels, generator=tr.noise_gen)
        total.backward()

    def g_loss_through_d():
        with torch.no_grad():
            fake = tr.G(onehot, tr.sample_noise(len(labels)))
        fake = {k: v.requires_grad_(True) for k, v in fake.items()}
        tr.D.requires_grad_(False)
        total, _ = tr.g_loss(labels, discriminator=tr.D,
                             fake=tr.disc_view(fake.get("rgb"), fake.get("depth")),
                             real=real, depth_fake=fake.get("depth"),
                             depth_real_m=batch["depth_m"])
        total.backward()
        tr.D.requires_grad_(True)

    def g_forward_nograd():
        with torch.no_grad():
            tr.G(onehot, tr.sample_noise(len(labels)))

    phases = {
        "data (one batch from the stream)": lambda: next(path.batches),
        "G forward, no grad": g_forward_nograd,
        "G forward + backward": g_forward_backward,
        "D update (D on real, fake, LabelMix mix; eq. 2 + 7-8; backward)": d_update,
        "G losses through D (eq. 2 G form, eq. 4, eq. 6; backward)": g_loss_through_d,
        "EMA update": tr._update_ema,
        "optimiser steps (Adam G + D)": lambda: (tr.opt_g.step(), tr.opt_d.step()),
        "full train_step": lambda: tr.train_step(next(path.batches)),
    }
    print(f"phases of one step ({path.name}; mean of {repeats}; the G-loss phase includes "
          "one G forward without grad):")
    for name, fn in phases.items():
        print(f"  {name:<66} {_timed(fn, repeats) * 1e3:8.1f} ms")
    refresh = _timed(tr.refresh_bn_stats, 1)
    grid = _timed(tr.sample_grid, 1)
    every = tr.cfg.train.sample_every
    print(f"  BN re-estimation {refresh * 1e3:.0f} ms + sample grid {grid * 1e3:.0f} ms, once "
          f"every {every} steps (train.sample_every) and per checkpoint: "
          f"{(refresh + grid) / every * 1e3:.1f} ms per step")
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(repeats):
            tr.train_step(next(path.batches))
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


def _ablations(new: dict[str, str], threads: int, args: argparse.Namespace) -> None:
    """Each optimisation switched off in turn, each measured against the old path in a
    process of its own. In one process, a trainer built after another one had run was up to
    2x slower than the same trainer built first (same config, interleaved rounds; seen after
    a 64-wide-head trainer), so rows timed beside each other in one process compare the
    order of construction, not the paths."""
    import re
    import subprocess
    import sys

    print("ablations: the new path with one optimisation off, against the old path, each in "
          "a process of its own:", flush=True)
    for name, off in ABLATIONS.items():
        overrides = {**new, **off}
        cmd = [sys.executable, "-m", "scmis_core.bench", "train", "--config", args.config,
               "--steps", str(args.steps), "--rounds", str(args.rounds),
               "--warmup", str(args.warmup), "--threads", str(threads),
               "--frames", str(args.frames), *args.overrides,
               *(f"{k}={v}" for k, v in overrides.items())]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        found = re.search(r"^  new +([0-9.]+) img/s .*new/old = ([0-9.]+)x$", done.stdout,
                          re.M)
        if done.returncode != 0 or found is None:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
            print(f"  new {name:<22} failed (exit {done.returncode}): {' '.join(tail)}")
            continue
        print(f"  new {name:<22} {float(found[1]):7.2f} img/s  new {name}/old = "
              f"{float(found[2]):.2f}x", flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scmis_core.bench train",
        description="GAN training images/s of the new path and of the old one (the "
                    "previous release's settings), interleaved in one run; prints the ratio.")
    parser.add_argument("--config", default="config/rooms_small.yaml",
                        help="training config (default config/rooms_small.yaml)")
    parser.add_argument("overrides", nargs="*", help="dotted overrides of the new path")
    parser.add_argument("--steps", type=int, default=8, help="steps per path and round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per path")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch intra-op threads for every path (0 = the config's "
                             "train.threads, else torch's default)")
    parser.add_argument("--frames", type=int, default=64,
                        help="rooms frames per path (data.rooms_train_size; a small set keeps "
                             "the one-time cache build short)")
    parser.add_argument("--no-cache", action="store_true",
                        help="new path: render frames in a loader worker, as the old path")
    parser.add_argument("--no-fused-ema", action="store_true",
                        help="new path: per-tensor EMA update")
    parser.add_argument("--no-share-fake", action="store_true",
                        help="new path: a second generator forward for the G update")
    parser.add_argument("--no-split-d", action="store_true",
                        help="new path: each D pass on all intra-op threads instead of two "
                             "half batches on two threads")
    parser.add_argument("--no-fused-adam", action="store_true",
                        help="new path: torch's per-tensor Adam loop")
    parser.add_argument("--head-width", type=int, default=0,
                        help="new path: model.disc_head_width (0 = the config's)")
    parser.add_argument("--workers", type=int, default=-1,
                        help="new path: data.num_workers (-1 = the config's)")
    parser.add_argument("--ablations", action="store_true",
                        help="also time the new path with each optimisation off in turn")
    parser.add_argument("--bound", action="store_true",
                        help="also time the new path's trainer on one intra-op thread (whole "
                             "and half batches), interleaved, and print what two cores can "
                             "give at best: the step split without loss, and split by halves")
    parser.add_argument("--profile", action="store_true",
                        help="also print the time of each phase of a step and torch.profiler's"
                             " top operators, for the new and the old path")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m scmis_core.bench train``."""
    args = build_parser().parse_args(argv)
    cfg = load_config(args.config, args.overrides)
    base = cfg.to_dict()
    base["data"]["rooms_train_size"] = args.frames
    base["data"]["rooms_test_size"] = min(base["data"]["rooms_test_size"], 8)
    new: dict[str, str] = {}
    if args.no_cache:
        new.update(ABLATIONS["no-cache"])
    if args.no_fused_ema:
        new.update(ABLATIONS["no-fused-ema"])
    if args.no_share_fake:
        new.update(ABLATIONS["no-share-fake"])
    if args.no_split_d:
        new.update(ABLATIONS["no-split-d"])
    if args.no_fused_adam:
        new.update(ABLATIONS["no-fused-adam"])
    if args.head_width:
        new["model.disc_head_width"] = str(args.head_width)
    if args.workers >= 0:
        new["data.num_workers"] = str(args.workers)
    specs = {"new": new, "old": dict(OLD_PATH)}
    threads = args.threads or cfg.train.threads or torch.get_num_threads()
    print(f"config {args.config} ({cfg.data.height}x{cfg.data.width}, batch "
          f"{cfg.train.batch_size}), torch {torch.__version__}, {threads} threads, "
          f"{args.rounds} rounds x {args.steps} steps per path", flush=True)
    paths = []
    try:
        for name, overrides in specs.items():
            path = _Path(name, _config(base, overrides), threads)
            shown = " ".join(f"{k}={v}" for k, v in overrides.items()) or "(config as given)"
            print(f"  {name:<18} {shown}  [set-up {path.setup_s:.1f} s]", flush=True)
            path.run(args.warmup, timed=False)
            paths.append(path)
        if args.bound:
            batch = cfg.train.batch_size
            for name, size in ((ONE_CORE, batch), (ONE_CORE_HALF, (batch + 1) // 2)):
                one = _Path(name, paths[0].cfg, 1, share=paths[0], batch_size=size)
                print(f"  {name:<18} the new path's trainer on one intra-op thread, batches "
                      f"of {size}", flush=True)
                one.run(args.warmup, timed=False)
                paths.append(one)
        for round_ in range(args.rounds):
            for path in paths if round_ % 2 == 0 else reversed(paths):
                path.run(args.steps)
        old = next(p for p in paths if p.name == "old")
        print("images/s (higher is better):")
        for path in paths:
            print(f"  {path.name:<18} {path.images_per_s:7.2f} img/s "
                  f"({path.seconds_per_step:.3f} s/step)"
                  f"  {path.name}/old = {path.images_per_s / old.images_per_s:.2f}x")
        if args.bound:
            _print_bound(paths)
        if args.ablations:
            _ablations(new, threads, args)
        if args.profile:
            for path in paths[:2]:
                profile_step(path)
    finally:
        for path in paths:
            path.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
