"""Experiment driver: the paper's Table 2 (class-mix augmentation grid) and Table 3.

``python -m scmis_core.experiments table2 --generator G.pt --out DIR [--preset toy|paper]
[--table3 "OASIS=G_oasis.pt" "SCMIS (Only RGB)=G_rgb.pt"] [data.key=value ...]`` trains a
segmenter on the real training frames (the baseline, ratio 0.0) and on class-mixed data for
every (mode, ratio) of ``--modes`` x ``--ratios`` (paper: Depth / RGB / RGB-D x 0.3 / 0.5 /
0.7), all with the same seed, steps and options, and evaluates each on the real test split.
With ``--table3`` it also trains with the other generators at (``--table3-mode``,
``--table3-ratio``) (paper: RGB, 0.7).

Mixing is ``offline`` (default; as the paper: ``--variants`` mixed copies of every training
frame are written with :class:`scmis_core.augment.AugmentJob` and the segmenter trains on the
real frames plus the copies) or ``online`` (each training sample is mixed with probability
``--mix-p`` inside the training loop). Every run keeps its folder under ``DIR/runs``; a
rerun skips finished runs, so an interrupted driver resumes. Results: ``DIR/results.json``,
``DIR/table2.md`` and ``DIR/table3.md`` (the paper's layouts; mIoU in %, with the change from
the baseline; mean ± standard deviation over ``--seeds`` when several are given).

Presets: ``toy`` (CPU, minutes: procedural rooms at 64x64, 50 labelled training frames,
ESANet-R18-NBt1D at width 8, 300 steps) and ``paper`` (ESANet-R34-NBt1D on 480x640 NYUv2 as
in the ESANet paper: SGD lr 0.01, median-frequency weights, batch 8, scale 1.0-1.4, crops and
flips, 500 epochs of 795 frames; give ``data.root``). Any flag overrides the preset.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Sequence

from .checkpoint import CheckpointError
from .config import ConfigError, DataConfig, load_config
from .data.wrappers import FirstFrames
from .runtime import atomic_write_text
from .segment import SegmenterTrainer, SegmentOptions, add_option_arguments
from .segment import options_from_args

MODE_NAMES = {"depth": "Depth", "rgb": "RGB", "rgbd": "RGB-D"}

#: name -> (data overrides, segment option defaults, driver defaults)
PRESETS: dict[str, tuple[list[str], dict[str, Any], dict[str, Any]]] = {
    "toy": (["data.source=rooms", "data.height=64", "data.width=64",
             "data.rooms_train_size=50", "data.rooms_test_size=100", "data.num_workers=0"],
            {"arch": "esanet-r18", "model": ["base_width=8", "decoder_blocks=1"],
             "steps": 300, "batch_size": 8, "optimizer": "adamw", "lr": 2e-3,
             "class_weights": "median", "train_frames": 50, "tensorboard": False},
            {"variants": 4}),
    "paper": (["data.source=nyuv2", "data.height=480", "data.width=640",
               "data.random_crop=true", "data.flip=true", "data.num_workers=8"],
              {"arch": "esanet-r34", "model": [], "steps": 50_000, "batch_size": 8,
               "optimizer": "sgd", "lr": 0.01, "class_weights": "median", "scale_min": 1.0,
               "scale_max": 1.4, "eval_every": 5000, "ckpt_every": 1000},
              {"variants": 4}),
}


def row_key(mode: str, ratio: float, generator: str, seed: int) -> str:
    """Folder name of one run."""
    if mode == "none":
        return f"baseline_s{seed}"
    return f"{generator}_{mode}_{ratio:g}_s{seed}"


class Table2:
    """Runs (or skips, when finished) every training of the grid and writes the tables."""

    def __init__(self, data_cfg: DataConfig, opts: SegmentOptions, out: str | Path, *,
                 generators: dict[str, str], modes: Sequence[str], ratios: Sequence[float],
                 seeds: Sequence[int], mixing: str = "offline", variants: int = 4,
                 mix_p: float | None = None, table3: dict[str, str] | None = None,
                 table3_mode: str = "rgb", table3_ratio: float = 0.7, device: str = "auto",
                 progress: bool = True, raw_weights: bool = False):
        if mixing not in ("offline", "online"):
            raise ValueError(f"mixing: expected offline or online, found {mixing!r}")
        for mode in list(modes) + [table3_mode]:
            if mode not in MODE_NAMES:
                raise ValueError(f"mode: expected one of {', '.join(MODE_NAMES)}, "
                                 f"found {mode!r}")
        for name, path in {**generators, **(table3 or {})}.items():
            if not Path(path).is_file():
                raise FileNotFoundError(f"generator {name}: checkpoint {path} not found")
        self.data_cfg, self.opts = data_cfg, opts
        self.out = Path(out)
        self.generators, self.table3 = generators, table3 or {}
        self.modes, self.ratios, self.seeds = list(modes), list(ratios), list(seeds)
        self.mixing, self.variants = mixing, variants
        self.mix_p = mix_p if mix_p is not None else variants / (variants + 1)
        self.table3_mode, self.table3_ratio = table3_mode, table3_ratio
        self.device, self.progress, self.raw_weights = device, progress, raw_weights

    def runs(self) -> list[dict[str, Any]]:
        """Every (generator, mode, ratio, seed) to train: baseline, grid, Table 3."""
        main = next(iter(self.generators))
        rows = []
        for seed in self.seeds:
            rows.append({"generator": "", "mode": "none", "ratio": 0.0, "seed": seed})
            rows += [{"generator": main, "mode": m, "ratio": r, "seed": seed}
                     for m in self.modes for r in self.ratios]
            if self.table3 and (self.table3_mode not in self.modes
                                or self.table3_ratio not in self.ratios):
                rows.append({"generator": main, "mode": self.table3_mode,
                             "ratio": self.table3_ratio, "seed": seed})
            rows += [{"generator": name, "mode": self.table3_mode, "ratio": self.table3_ratio,
                      "seed": seed} for name in self.table3]
        return rows

    def _checkpoint(self, name: str) -> str:
        return {**self.generators, **self.table3}[name]

    def _mixed_train_set(self, row: dict[str, Any]):
        """The offline class-mixed training set of ``row`` (generated once, resumable)."""
        from .augment import AugmentJob, file_sha256
        from .data.nyuv2 import NYUv2Dataset
        from .data.registry import dataset_from_config
        from .synthesize import Synthesizer

        folder = self.out / "data" / row_key(row["mode"], row["ratio"], row["generator"], 0)
        ckpt = self._checkpoint(row["generator"])
        if not ((folder / "manifest.json").is_file() and
                json.loads((folder / "manifest.json").read_text()).get("complete")):
            train = dataset_from_config(self.data_cfg, self.data_cfg.train_split)
            if self.opts.train_frames:
                train = FirstFrames(train, self.opts.train_frames)
            synth = Synthesizer.from_checkpoint(ckpt, device=self.device,
                                                use_ema=not self.raw_weights)
            AugmentJob(synth, train, folder, variants=self.variants, ratio=row["ratio"],
                       mode=row["mode"], seed=0, shard_size=64, include_real=True,
                       size=(self.data_cfg.height, self.data_cfg.width),
                       settings={"checkpoint_sha256": file_sha256(ckpt),
                                 "ema_weights": not self.raw_weights,
                                 "data": asdict(self.data_cfg)}).run(progress=self.progress)
        return NYUv2Dataset(folder, "train")

    def run_one(self, row: dict[str, Any]) -> dict[str, Any]:
        """Train and evaluate one row (or read its finished result)."""
        key = row_key(row["mode"], row["ratio"], row["generator"], row["seed"])
        folder = self.out / "runs" / key
        done = folder / "segmenter_eval.json"
        if done.is_file():
            result = json.loads(done.read_text())
        else:
            opts = replace(self.opts, seed=row["seed"])
            train_set = None
            if row["mode"] != "none" and self.mixing == "offline":
                train_set = self._mixed_train_set(row)
                opts = replace(opts, train_frames=0)  # the mixed set is already the subset
            elif row["mode"] != "none":
                opts = replace(opts, mix_checkpoint=self._checkpoint(row["generator"]),
                               mix_ratio=row["ratio"], mix_mode=row["mode"], mix_p=self.mix_p,
                               mix_raw_weights=self.raw_weights)
            trainer = SegmenterTrainer(self.data_cfg, folder, opts, device=self.device,
                                       progress=self.progress, train_set=train_set)
            result = trainer.fit(resume=True)
        return {**row, "key": key, "miou": result["miou"],
                "pixel_accuracy": result["pixel_accuracy"], "seconds": result["seconds"],
                "train_frames": result["train_frames"], "test_frames": result["test_frames"]}

    def run(self) -> list[dict[str, Any]]:
        """All rows; writes results.json, table2.md, table3.md after each finished run."""
        results: list[dict[str, Any]] = []
        for row in self.runs():
            results.append(self.run_one(row))
            self.write(results)
        return results

    def write(self, results: list[dict[str, Any]]) -> None:
        """results.json and the two Markdown tables."""
        self.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.out / "results.json", json.dumps(
            {"settings": self.settings(), "runs": results}, indent=2))
        atomic_write_text(self.out / "table2.md", self.table2_markdown(results))
        if self.table3:
            atomic_write_text(self.out / "table3.md", self.table3_markdown(results))

    def settings(self) -> dict[str, Any]:
        """What the tables were made with (for the results file and the table headers)."""
        return {"generators": self.generators, "table3": self.table3, "mixing": self.mixing,
                "ema_weights": not self.raw_weights,
                "variants": self.variants, "mix_p": self.mix_p, "seeds": self.seeds,
                "data": asdict(self.data_cfg), "options": asdict(self.opts)}

    @staticmethod
    def _mean(results: list[dict[str, Any]], **match: Any) -> tuple[float, float, int] | None:
        values = [100.0 * r["miou"] for r in results
                  if all(r[k] == v for k, v in match.items())]
        if not values:
            return None
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        return statistics.fmean(values), std, len(values)

    def _cell(self, stats: tuple[float, float, int] | None,
              base: tuple[float, float, int] | None) -> str:
        if stats is None:
            return "(not run)"
        text = f"{stats[0]:.2f}" + (f" ± {stats[1]:.2f}" if stats[2] > 1 else "")
        if base is not None:
            text += f" ({stats[0] - base[0]:+.2f})"
        return text

    def _header(self) -> str:
        o = self.opts
        return (f"<!-- {o.arch} {o.arch_kwargs}, {o.steps} steps, batch {o.batch_size}, "
                f"{o.optimizer} lr {o.lr}, class weights {o.class_weights}; data "
                f"{self.data_cfg.source} {self.data_cfg.height}x{self.data_cfg.width}, "
                f"train frames {o.train_frames or 'all'}; {self.mixing} mixing "
                f"({'raw' if self.raw_weights else 'EMA'} generator weights), "
                f"{self.variants} variants; seeds {self.seeds} -->")

    def table2_markdown(self, results: list[dict[str, Any]]) -> str:
        """``| Modality | Ratio | mIoU |`` as the paper's Table 2."""
        main = next(iter(self.generators))
        base = self._mean(results, mode="none")
        lines = [self._header(), "| Modality | Ratio | mIoU |", "|---|---|---|",
                 f"| - | 0.0 | {self._cell(base, None)} |"]
        for mode in self.modes:
            for i, ratio in enumerate(self.ratios):
                stats = self._mean(results, mode=mode, ratio=ratio, generator=main)
                name = MODE_NAMES[mode] if i == 0 else ""
                lines.append(f"| {name} | {ratio:g} | {self._cell(stats, base)} |")
        return "\n".join(lines) + "\n"

    def table3_markdown(self, results: list[dict[str, Any]]) -> str:
        """``| Methods | <generator> ... |`` as the paper's Table 3 (one mixing setting)."""
        main = next(iter(self.generators))
        base = self._mean(results, mode="none")
        names = list(self.table3) + [main]
        cells = [self._cell(self._mean(results, mode=self.table3_mode,
                                       ratio=self.table3_ratio, generator=name), base)
                 for name in names]
        return (self._header() + "\n| Methods | " + " | ".join(names) + " |\n|---|" +
                "---|" * len(names) + f"\n| mIoU ({MODE_NAMES[self.table3_mode]}, "
                f"{self.table3_ratio:g}) | " + " | ".join(cells) + " |\n")


def _named(items: Sequence[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, path = item.rpartition("=")
        if not sep or not name:
            raise ValueError(f"{what} {item!r}: expected NAME=CHECKPOINT")
        out[name] = path
    return out


def build_parser(preset: str | None = None) -> argparse.ArgumentParser:
    """The command line (segment option defaults taken from ``preset``)."""
    parser = argparse.ArgumentParser(prog="python -m scmis_core.experiments",
                                     description="Augmentation experiments of the paper.")
    sub = parser.add_subparsers(dest="command", required=True)
    t2 = sub.add_parser("table2", help="baseline + class-mix grid (Table 2) and Table 3",
                        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    t2.add_argument("--preset", choices=sorted(PRESETS), default="toy")
    t2.add_argument("--generator", required=True,
                    help="generator checkpoint of the grid (NAME=PATH or PATH; name SCMIS)")
    t2.add_argument("--table3", nargs="*", default=[], metavar="NAME=PATH",
                    help="other generators for Table 3, e.g. OASIS=runs/oasis/final.pt")
    t2.add_argument("--table3-mode", default="rgb", choices=sorted(MODE_NAMES))
    t2.add_argument("--table3-ratio", type=float, default=0.7)
    t2.add_argument("--modes", nargs="+", default=["depth", "rgb", "rgbd"],
                    choices=sorted(MODE_NAMES))
    t2.add_argument("--ratios", nargs="+", type=float, default=[0.3, 0.5, 0.7])
    t2.add_argument("--seeds", nargs="+", type=int, default=[0])
    t2.add_argument("--mixing", choices=("offline", "online"), default="offline")
    t2.add_argument("--variants", type=int, default=4, help="offline: mixed copies per frame")
    t2.add_argument("--mix-p-online", type=float, default=None,
                    help="online: probability of mixing a sample (default "
                         "variants/(variants+1), the share of mixed frames offline)")
    t2.add_argument("--raw-weights", action="store_true",
                    help="mix with the generators' raw weights instead of their EMA weights "
                         "(short runs whose EMA has not moved from the init)")
    t2.add_argument("--config", help="YAML config whose data section is used")
    t2.add_argument("overrides", nargs="*", help="dotted data overrides (after the preset's)")
    t2.add_argument("--device", default="auto")
    t2.add_argument("--out", required=True)
    t2.add_argument("--no-progress", action="store_true")
    add_option_arguments(t2)
    if preset is not None:
        _, seg_defaults, driver_defaults = PRESETS[preset]
        t2.set_defaults(**seg_defaults, **driver_defaults)
    return parser


def main(argv: list[str] | None = None) -> int:
    """``python -m scmis_core.experiments table2 ...``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    first, _ = build_parser().parse_known_args(argv)
    args = build_parser(first.preset).parse_args(argv)
    try:
        data_overrides = PRESETS[args.preset][0] + list(args.overrides)
        cfg = load_config(args.config, data_overrides)
        opts = options_from_args(args)
        generators = _named([args.generator if "=" in args.generator
                             else f"SCMIS={args.generator}"], "--generator")
        driver = Table2(cfg.data, opts, args.out, generators=generators, modes=args.modes,
                        ratios=args.ratios, seeds=args.seeds, mixing=args.mixing,
                        variants=args.variants, mix_p=args.mix_p_online,
                        table3=_named(args.table3, "--table3"),
                        table3_mode=args.table3_mode, table3_ratio=args.table3_ratio,
                        device=args.device, progress=not args.no_progress,
                        raw_weights=args.raw_weights)
        t0 = time.perf_counter()
        results = driver.run()
    except (CheckpointError, ConfigError, ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(driver.table2_markdown(results), end="")
    if driver.table3:
        print(driver.table3_markdown(results), end="")
    print(f"{len(results)} runs in {time.perf_counter() - t0:.0f} s; results in "
          f"{Path(args.out) / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
