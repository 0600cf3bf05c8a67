"""Seconds per GAN training step of one config, timed with whichever ``scmis_core`` comes first
on ``PYTHONPATH``: this checkout or an older one (the Trainer calls it uses have not changed
since the release 5e01fee). ``bench/release_vs_head.sh`` runs it on the release and on this
checkout in alternating processes.

    PYTHONPATH=CHECKOUT python bench/train_steps.py CONFIG [--steps N] [--warmup N]
        [--threads N] [--frames N] [key=value ...]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from scmis_core.config import load_config
from scmis_core.train import Trainer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config")
    parser.add_argument("overrides", nargs="*", help="dotted overrides")
    parser.add_argument("--steps", type=int, default=16, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--frames", type=int, default=64, help="data.rooms_train_size")
    args = parser.parse_intermixed_args()
    cfg = load_config(args.config, [f"data.rooms_train_size={args.frames}",
                                    "data.rooms_test_size=8", *args.overrides])
    with tempfile.TemporaryDirectory(prefix="train-steps-") as run_dir:
        trainer = Trainer(cfg, run_dir, progress=False)
        torch.set_num_threads(args.threads)
        batches = trainer.stream.from_step(0)
        for _ in range(args.warmup):
            trainer.train_step(next(batches))
        t0 = time.perf_counter()
        for _ in range(args.steps):
            trainer.train_step(next(batches))
        seconds = (time.perf_counter() - t0) / args.steps
        batches.close()
    print(f"{seconds:.3f} s/step  {cfg.train.batch_size / seconds:.2f} img/s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
