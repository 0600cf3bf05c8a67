"""``python -m scmis_core.models --summary``: parameter counts and GMACs of every variant.

Models are built on the meta device (no memory, instant) and their multiply-accumulates are
counted with ``torch.utils.flop_counter.FlopCounterMode`` for one image in eval mode
(MACs = FLOPs / 2; convolutions and matrix products only, as FlopCounterMode counts).
Generators are counted without spectral norm: it adds buffers, no parameters, and its
eval-mode cost (one matrix-vector product per convolution) is below 0.1 %, while its 15
start-up power iterations are slow on the meta device.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..cli import entry_point
from ..config import ModelConfig
from . import VARIANTS, build_discriminator, build_generator

#: (label, overrides of ModelConfig) of the two generator sizes in the table.
SIZES = (("paper", {"width": 64, "spade_hidden": 128}), ("small", {}))
#: ModelConfig overrides of every generator the summary builds (see the module docstring).
COUNT_OVERRIDES = {"spectral_norm": False}


def count_params(module: nn.Module) -> int:
    """Number of parameters (works on meta-device modules)."""
    return sum(p.numel() for p in module.parameters())


def count_macs(module: nn.Module, make_input: Callable[[], tuple]) -> int:
    """Multiply-accumulates of one eval-mode forward of ``module(*make_input())``."""
    module.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        module(*make_input())
    return counter.get_total_flops() // 2


def summary_rows(num_classes: int = 41, size: int = 256) -> list[dict[str, str]]:
    """One row per variant: G params / GMACs at paper and small width, D head / params / GMACs.

    ``size`` is the side of the square image the MACs are counted for.
    """
    meta = torch.device("meta")
    rows = []
    for name, spec in VARIANTS.items():
        row = {"variant": name}
        for label, overrides in SIZES:
            cfg = dataclasses.replace(ModelConfig(), variant=name, **overrides,
                                      **COUNT_OVERRIDES)
            with meta:
                gen = build_generator(cfg, num_classes)
            macs = count_macs(gen, lambda: (torch.zeros(1, num_classes, size, size,
                                                        device=meta),))
            row[f"G {label} params"] = f"{count_params(gen) / 1e6:.2f} M"
            row[f"G {label} GMACs"] = f"{macs / 1e9:.1f}"
        cfg = dataclasses.replace(ModelConfig(), variant=name, disc=spec.default_disc)
        row["D head"] = spec.default_disc if spec.disc_input != "none" else "none"
        if spec.disc_input == "none":
            row["D params"] = row["D GMACs"] = "-"
        else:
            with meta:
                disc = build_discriminator(cfg, num_classes)
            in_ch = getattr(disc, "in_channels", 3)
            macs = count_macs(disc, lambda: (torch.zeros(1, in_ch, size, size, device=meta),))
            row["D params"] = f"{count_params(disc) / 1e6:.2f} M"
            row["D GMACs"] = f"{macs / 1e9:.1f}"
        rows.append(row)
    return rows


def format_table(rows: list[dict[str, str]]) -> str:
    """Plain-text table with a header line."""
    cols = list(rows[0])
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in cols}
    lines = ["  ".join(c.ljust(widths[c]) for c in cols),
             "  ".join("-" * widths[c] for c in cols)]
    lines += ["  ".join(r[c].ljust(widths[c]) for c in cols) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


@entry_point
def main(argv: list[str] | None = None) -> int:
    """Parse the command line and print the summary table."""
    parser = argparse.ArgumentParser(
        prog="python -m scmis_core.models",
        description="Model registry tools. --summary prints parameter counts and GMACs "
                    "per image of every variant's generator at the paper width (64, SPADE "
                    "hidden 128) and at the config defaults, and of its default discriminator.")
    parser.add_argument("--summary", action="store_true", help="print the summary table")
    parser.add_argument("--num-classes", type=int, default=41,
                        help="semantic classes without void (default 41)")
    parser.add_argument("--size", type=int, default=256,
                        help="side of the square image the GMACs are counted for "
                             "(default 256)")
    args = parser.parse_args(argv)
    if not args.summary:
        parser.print_help()
        return 0
    div = 2 ** ModelConfig().num_scales
    if args.size < div or args.size % div:
        parser.error(f"--size: expected a multiple of 2**num_scales = {div}, found {args.size}")
    if args.num_classes < 1:
        parser.error(f"--num-classes: expected >= 1, found {args.num_classes}")
    small = ModelConfig()
    print(f"{args.num_classes} classes, z {small.z_dim}, {small.num_scales} scales, "
          f"GMACs per {args.size}x{args.size} image (batch 1, eval); paper = width 64 / "
          f"SPADE hidden 128, small = width {small.width} / hidden {small.spade_hidden}; "
          f"generators counted without spectral norm (no parameters)")
    print(format_table(summary_rows(args.num_classes, args.size)))
    print("reference (docs/design.md §7 / OASIS): OASIS-G width 64 = 71.3 M params, "
          "322 GFLOP = 161 GMACs per 256x256")
    return 0


if __name__ == "__main__":
    sys.exit(main())
