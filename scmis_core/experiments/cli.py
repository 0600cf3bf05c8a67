"""Command line of ``python -m scmis_core.experiments table1|table2|fewhomes|report|worker``."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from ..cli import CliError, OneLineArgumentParser, entry_point
from ..runtime import atomic_write_text
from .common import format_listing
from .runner import Runner, RunSpec, code_commit, machine_info, prepare_out, worker_main

#: Table 2 presets: name -> (data overrides, segment overrides, driver defaults). The
#: overrides apply after the --config file and before the command line's overrides and
#: segment flags.
TABLE2_PRESETS: dict[str, tuple[list[str], list[str], dict[str, Any]]] = {
    "toy": (["data.source=rooms", "data.height=64", "data.width=64",
             "data.rooms_train_size=50", "data.rooms_test_size=100", "data.num_workers=0"],
            ["segment.arch=esanet-r18",
             "segment.arch_kwargs={base_width: 8, decoder_blocks: 1}", "segment.steps=300",
             "segment.batch_size=8", "segment.optimizer=adamw", "segment.lr=2e-3",
             "segment.class_weights=median", "segment.train_frames=50",
             "segment.tensorboard=false"],
            {"variants": 4, "labelled": [0], "protocols": ["b"], "seeds": [0],
             "modes": ["depth", "rgb", "rgbd"], "ratios": [0.3, 0.5, 0.7]}),
    "cpu": (["data.source=rooms", "data.height=64", "data.width=64",
             "data.rooms_train_size=4000", "data.rooms_test_size=200", "data.num_workers=0",
             "data.cache=true"],
            ["segment.arch=unet-rgbd", "segment.arch_kwargs={}", "segment.steps=1000",
             "segment.batch_size=8", "segment.optimizer=adamw", "segment.lr=2e-3",
             "segment.class_weights=eq3", "segment.ckpt_every=250"],
            {"variants": 4, "labelled": [200, 50], "protocols": ["b", "a"],
             "seeds": [0, 1, 2], "modes": ["rgb", "depth", "rgbd"], "ratios": [0.5],
             "gan_steps": 2000, "gan_eval_images": 200}),
    "paper": (["data.source=nyuv2", "data.root=data/nyuv2", "data.height=480",
               "data.width=640", "data.random_crop=true", "data.flip=true",
               "data.num_workers=8"],
              ["segment.arch=esanet-r34", "segment.arch_kwargs={}", "segment.steps=50000",
               "segment.batch_size=8", "segment.optimizer=sgd", "segment.lr=0.01",
               "segment.class_weights=median", "segment.scale_min=1.0",
               "segment.scale_max=1.4", "segment.eval_every=5000", "segment.ckpt_every=1000"],
              {"variants": 4, "labelled": [0], "protocols": ["a"], "seeds": [0, 1, 2],
               "modes": ["depth", "rgb", "rgbd"], "ratios": [0.3, 0.5, 0.7]}),
}


#: Few-homes presets: name -> (data overrides, segment overrides, driver defaults).
FEWHOMES_PRESETS: dict[str, tuple[list[str], list[str], dict[str, Any]]] = {
    "toy": (["data.source=rooms", "data.height=32", "data.width=32", "data.num_workers=0"],
            ["segment.arch=esanet-r18",
             "segment.arch_kwargs={base_width: 8, decoder_blocks: 1}", "segment.steps=4",
             "segment.batch_size=2", "segment.eval_every=1", "segment.ckpt_every=2",
             "segment.train_eval_frames=4", "segment.tensorboard=false"],
            {"homes": 2, "views": 2, "test_frames": 4, "gan_steps": 2, "variants": 1,
             "gan_seeds": [0], "seg_seeds": [0], "pilot_seeds": [0],
             "cells": ["rgb:0.7"]}),
    "cpu": (["data.source=rooms", "data.height=64", "data.width=64", "data.num_workers=0",
             "data.cache=true"],
            ["segment.arch=unet-rgbd", "segment.arch_kwargs={}", "segment.steps=4000",
             "segment.batch_size=8", "segment.optimizer=adamw", "segment.lr=2e-3",
             "segment.class_weights=eq3", "segment.ckpt_every=250", "segment.eval_every=250",
             "segment.train_eval_frames=200"],
            {"homes": 8, "views": 25, "test_frames": 1000, "gan_steps": 4000, "variants": 4,
             "gan_seeds": [0, 1], "seg_seeds": [0, 1, 2], "pilot_seeds": [0, 1],
             "cells": ["rgb:0.7", "rgb:0.5", "depth:0.5", "rgbd:0.5"]}),
}


def _named(items: Sequence[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, path = item.rpartition("=")
        if not sep or not name:
            raise ValueError(f"{what} {item!r}: expected NAME=CHECKPOINT")
        out[name] = path
    return out


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", help="experiment folder (results/, runs/, ...); required unless "
                   "the run list is only printed")
    p.add_argument("--budget-min", type=float, default=None,
                   help="start no run after this many minutes (running ones finish); "
                        "rerun the same command to continue")
    p.add_argument("--jobs", type=int, default=1,
                   help="runs side by side, each a single-threaded process (default 1: in "
                        "this process)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the run list with CPU / GPU estimates and exit")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto (default cpu)")
    p.add_argument("--config", help="YAML config (default: the preset's)")
    p.add_argument("overrides", nargs="*", help="dotted config overrides (after the "
                   "preset's)")
    p.add_argument("--progress", action="store_true", help="progress bars of each run")


def build_parser(preset2: str | None = None) -> argparse.ArgumentParser:
    from ..config import add_section_flags
    from .table1 import PRESETS as T1, ROWS
    from .table1 import __doc__ as table1_doc
    from .table2 import MODE_NAMES
    from .table2 import __doc__ as table2_doc
    from .fewhomes import ARMS
    from .fewhomes import __doc__ as fewhomes_doc

    parser = OneLineArgumentParser(prog="python -m scmis_core.experiments",
                                     description="The paper's experiments, resumable.")
    sub = parser.add_subparsers(dest="command", required=True)
    t1 = sub.add_parser("table1", help="generator variants (Tables 1, 5, 6)",
                        description=table1_doc,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    t1.add_argument("--preset", choices=sorted(T1), default="cpu",
                    help="toy (seconds), cpu (~2 h on 2 cores with --jobs 2), paper (lists "
                         "the runs and GPU hours; never runs)")
    t1.add_argument("--rows", nargs="+", choices=[r.name for r in ROWS], default=None,
                    metavar="ROW",
                    help="methods to train (default: all): " + ", ".join(r.name for r in ROWS))
    t1.add_argument("--steps", type=int, default=None, help="training steps (default: "
                    "the preset's)")
    t1.add_argument("--eval-every", type=int, default=None)
    t1.add_argument("--num-images", type=int, default=None, help="test frames measured")
    t1.add_argument("--reps", type=int, default=None, help="bootstrap resamples")
    t1.add_argument("--seed", type=int, default=0)
    t1.add_argument("--second-seed", type=int, default=1,
                    help="seed of the second run of the two best (-1: none)")
    t1.add_argument("--segmenter", default="train",
                    help="judge segmenter checkpoint or shipped name (e.g. rooms-judge); "
                         "'train' trains one as the first run; '' = no mIoU")
    t1.add_argument("--vgg-weights", default="",
                    help="local ImageNet VGG-19 .pth for the VGG-IN ablation row")
    _common(t1)

    t2 = sub.add_parser("table2", help="class-mix grid (Table 2) and Table 3",
                        description=table2_doc,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    t2.add_argument("--preset", choices=sorted(TABLE2_PRESETS), default="toy")
    t2.add_argument("--generator", default="",
                    help="generator checkpoint of the grid (NAME=PATH or PATH; name SCMIS), "
                         "or a shipped name (rooms)")
    t2.add_argument("--table3", nargs="*", default=[], metavar="NAME=PATH",
                    help="other generators for Table 3, e.g. OASIS=runs/oasis/final.pt")
    t2.add_argument("--table3-mode", default="rgb", choices=sorted(MODE_NAMES))
    t2.add_argument("--table3-ratio", type=float, default=0.7)
    t2.add_argument("--modes", nargs="+", choices=sorted(MODE_NAMES))
    t2.add_argument("--ratios", nargs="+", type=float)
    t2.add_argument("--seeds", nargs="+", type=int)
    t2.add_argument("--labelled", nargs="+", type=int,
                    help="labelled-set sizes: the first N training frames (0 = all)")
    t2.add_argument("--protocols", nargs="+", choices=("a", "b"),
                    help="a: generator trained on the labelled frames; b: --generator")
    t2.add_argument("--gan-steps", type=int, default=None,
                    help="protocol a: steps of the generator trained per labelled set")
    t2.add_argument("--gan-eval-images", type=int, default=None,
                    help="protocol a: test frames on which each such generator's FID / depth "
                         "errors are measured (0 = none)")
    t2.add_argument("--gan-config", default=None,
                    help="protocol a: generator config (default config/rooms_small.yaml)")
    t2.add_argument("--mixing", choices=("offline", "online"), default="offline")
    t2.add_argument("--variants", type=int, default=4, help="offline: mixed copies per frame")
    t2.add_argument("--mix-p-online", type=float, default=None,
                    help="online: probability of mixing a sample (default "
                         "variants/(variants+1), the share of mixed frames offline)")
    t2.add_argument("--raw-weights", action="store_true",
                    help="mix with the generators' raw weights instead of their EMA weights")
    t2.add_argument("--no-progress", action="store_true", help="(kept for old scripts)")
    _common(t2)
    add_section_flags(t2, "segment", {"arch_kwargs": ("--model",)})
    if preset2 is not None:
        t2.set_defaults(**TABLE2_PRESETS[preset2][2])

    fh = sub.add_parser("fewhomes", help="few homes, new homes: the pre-registered class-mix "
                        "test (stage gate, then grid)", description=fewhomes_doc,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    fh.add_argument("--preset", choices=sorted(FEWHOMES_PRESETS), default="cpu",
                    help="cpu (the pre-registered sizes) or toy (seconds, for tests)")
    fh.add_argument("--stage", choices=("gate", "grid"), required=True,
                    help="gate: the baseline pilot with train / test mIoU curves; grid: "
                         "generators, mixed data and segmenters of every arm and cell")
    fh.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    fh.add_argument("--homes", type=int, help="labelled homes of the homes arm")
    fh.add_argument("--views", type=int, help="labelled views per home")
    fh.add_argument("--test-frames", type=int, help="test views of unseen homes")
    fh.add_argument("--cells", nargs="+", metavar="MODE:RATIO",
                    help="mixed cells, the primary first (cpu: rgb:0.7 rgb:0.5 depth:0.5 "
                         "rgbd:0.5)")
    fh.add_argument("--gan-seeds", nargs="+", type=int)
    fh.add_argument("--seg-seeds", nargs="+", type=int)
    fh.add_argument("--pilot-seeds", nargs="+", type=int)
    fh.add_argument("--gan-steps", type=int)
    fh.add_argument("--variants", type=int, help="mixed copies per labelled frame")
    fh.add_argument("--seed-from", metavar="DIR",
                    help="continue on this machine from results collected elsewhere (e.g. "
                         "docs/results/data/fewhomes): they are copied into --out first; "
                         "generators and mixed data whose files did not travel are redone "
                         "where still needed")
    _common(fh)
    add_section_flags(fh, "segment", {"arch_kwargs": ("--model",)})

    rp = sub.add_parser("report", help="write the results page from experiment folders")
    rp.add_argument("--out", default="docs/results.md", help="the page (figures and data "
                    "go into the folder of the same name beside it)")
    rp.add_argument("--table1", help="Table 1 experiment folder to collect")
    rp.add_argument("--table2", help="Table 2 experiment folder to collect")
    rp.add_argument("--fewhomes", help="few-homes experiment folder to collect")
    rp.add_argument("--reps", type=int, default=1000, help="bootstrap resamples")

    wk = sub.add_parser("worker", help=argparse.SUPPRESS)
    wk.add_argument("out")
    wk.add_argument("key")
    wk.add_argument("--device", default="cpu")
    return parser


# ------------------------------------------------------------------------------------------


def _table1_plan(args):
    from .table1 import PRESETS, Table1Plan, build_base

    preset = PRESETS[args.preset]
    overrides = list(args.overrides)
    if args.steps is not None:
        overrides.append(f"train.steps={args.steps}")
    base = build_base(args.preset, args.config, overrides)
    judge = dict(preset["judge"])
    return Table1Plan(base, rows=args.rows, seed=args.seed,
                      second_seed=None if args.second_seed < 0 else args.second_seed,
                      eval_every=preset["eval_every"] if args.eval_every is None
                      else args.eval_every,
                      num_images=preset["num_images"] if args.num_images is None
                      else args.num_images,
                      reps=preset["reps"] if args.reps is None else args.reps,
                      segmenter=args.segmenter, judge=judge, vgg_weights=args.vgg_weights,
                      paper_scale=preset["paper_scale"])


def _table2_plan(args):
    from dataclasses import asdict

    from ..config import apply_overrides, load_config, section_flag_values
    from .common import config_file, gan_config_dict, resolve_checkpoint
    from .table2 import Table2Plan

    data_overrides, segment_overrides, _ = TABLE2_PRESETS[args.preset]
    cfg = load_config(args.config, data_overrides + segment_overrides + list(args.overrides),
                      section_flag_values(args, "segment"))
    opts = cfg.segment
    generators = {}
    if args.generator:
        generators = _named([args.generator if "=" in args.generator
                             else f"SCMIS={args.generator}"], "--generator")
    table3 = _named(args.table3, "--table3")
    protocols = list(args.protocols)
    dry = args.dry_run or args.preset == "paper"
    if not dry:
        for name, path in {**generators, **table3}.items():
            try:
                resolve_checkpoint(path, f"generator {name}", "gan")
            except FileNotFoundError:
                raise FileNotFoundError(f"generator {name}: checkpoint {path} not found") \
                    from None
        if ("b" in protocols or any(n == 0 for n in args.labelled)) and not generators:
            raise ValueError("--generator: expected a generator checkpoint for protocol b "
                             "(or labelled sets of all frames), found none")
    gan_config = None
    if "a" in protocols and any(args.labelled):
        path = args.gan_config or str(config_file("rooms_small.yaml"))
        gan = load_config(path, ["data.num_workers=0", "train.threads=1",
                                 "train.ckpt_every=250", "train.keep_last=2",
                                 "train.sample_every=100000"])
        data = asdict(cfg.data)
        gan_dict = gan_config_dict(gan)
        gan_dict["data"] = {**data}
        if args.gan_steps:
            gan_dict = apply_overrides(gan_dict, [f"train.steps={args.gan_steps}"])
        gan_config = gan_dict
    return Table2Plan(asdict(cfg.data), opts, generators=generators or {"SCMIS": ""},
                      modes=args.modes, ratios=args.ratios, seeds=args.seeds,
                      labelled=args.labelled, protocols=protocols, gan_config=gan_config,
                      mixing=args.mixing, variants=args.variants, mix_p=args.mix_p_online,
                      table3=table3, table3_mode=args.table3_mode,
                      table3_ratio=args.table3_ratio, raw_weights=args.raw_weights,
                      paper_scale=args.preset == "paper",
                      gan_eval_images=args.gan_eval_images or 0)


def _fewhomes_plan(args):
    from dataclasses import asdict

    from ..config import apply_overrides, load_config, section_flag_values
    from .common import config_file, gan_config_dict
    from .fewhomes import FewHomesPlan

    data_overrides, segment_overrides, defaults = FEWHOMES_PRESETS[args.preset]
    pick = {name: defaults[name] if getattr(args, name) is None else getattr(args, name)
            for name in ("homes", "views", "test_frames", "gan_steps", "variants",
                         "gan_seeds", "seg_seeds", "pilot_seeds", "cells")}
    cells = []
    for item in pick["cells"]:
        mode, sep, ratio = str(item).partition(":")
        try:
            cells.append((mode, float(ratio)))
        except ValueError:
            raise CliError(f"--cells: expected MODE:RATIO (e.g. rgb:0.7), found {item!r}") \
                from None
        if not sep or not 0.0 < cells[-1][1] <= 1.0:
            raise CliError(f"--cells: expected MODE:RATIO with a ratio in (0, 1], found "
                           f"{item!r}")
    cfg = load_config(args.config, data_overrides + segment_overrides + list(args.overrides),
                      section_flag_values(args, "segment"))
    gan = load_config(str(config_file("rooms_small.yaml")), [
        "data.num_workers=0", "train.threads=1", "train.ckpt_every=250", "train.keep_last=2",
        "train.sample_every=100000"])
    gan_dict = apply_overrides(gan_config_dict(gan), [
        f"train.steps={pick['gan_steps']}",
        f"train.lr_decay_steps={pick['gan_steps'] // 2}"])
    gan_dict["data"] = asdict(cfg.data)
    return FewHomesPlan(asdict(cfg.data), cfg.segment, gan_dict, stage=args.stage,
                        arms=args.arms, homes=pick["homes"], views=pick["views"],
                        test_frames=pick["test_frames"], cells=cells,
                        gan_seeds=pick["gan_seeds"], seg_seeds=pick["seg_seeds"],
                        pilot_seeds=pick["pilot_seeds"], variants=pick["variants"])


def _write_fewhomes_files(plan, out: Path, finished: dict[str, Any]) -> None:
    from .fewhomes import gate_verdict

    pilots = [finished[f"homes_baseline_s{s}"] for s in plan.pilot_seeds
              if f"homes_baseline_s{s}" in finished]
    if plan.stage == "gate" and pilots:
        verdict = gate_verdict([r.get("curve", []) for r in pilots])
        atomic_write_text(out / "gate.json", json.dumps(verdict, indent=2))
        print("regime gate: " + ("reached" if verdict["reached"] else "not reached") +
              "; " + "; ".join(f"seed {s}: train - test {v['gap']} points, late rise "
                               f"{v['rise']} points" for s, v in
                               zip(plan.pilot_seeds, verdict["seeds"])))


def _record(out: Path, entry: dict[str, Any], planned: list[RunSpec],
            settings: dict[str, Any] | None) -> None:
    path = out / "experiment.json"
    meta = json.loads(path.read_text()) if path.is_file() else {"invocations": []}
    invocations = [i for i in meta["invocations"] if i.get("id") != entry["id"]]
    meta["invocations"] = invocations + [entry]
    meta["planned"] = [{"key": s.key, "label": s.label, "est_cpu_s": round(s.est_cpu_s),
                        "skip_reason": s.skip_reason} for s in planned]
    if settings is not None:
        meta["settings"] = settings
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(meta, indent=2))


def _run(plan, args, argv: list[str], settings: dict[str, Any] | None,
         summary_fn=None) -> int:
    from .runner import Runner as _Runner

    finished: dict[str, Any] = {}
    if args.out and (Path(args.out) / "results").is_dir():
        finished = _Runner(plan, args.out).finished()
    specs = plan.runs(finished)
    later = plan.later_runs(finished) if hasattr(plan, "later_runs") else []
    gpu_note = ""
    if getattr(plan, "paper_scale", False):
        gpu_note = ("GPU hours assume 1.2 s per SCMIS step (256x320, batch 16, width 64) and "
                    "0.25 s per ESANet-R34 step (480x640, batch 8) on one TITAN RTX-class "
                    "GPU: assumptions, not measurements")
    if args.dry_run or args.preset == "paper":
        print(format_listing(specs, later, gpu_note))
        if args.preset == "paper" and not args.dry_run:
            print("(--preset paper only lists the runs: they are sized for GPU machines and "
                  "the NYUv2 data; nothing was run)")
        return 0
    if not args.out:
        raise ValueError("--out: expected an experiment folder, found none")
    out = Path(args.out)
    entry = {"id": f"{time.time():.3f}", "command": "python -m scmis_core.experiments " +
             shlex.join(argv), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
             "seconds": 0.0, "commit": code_commit(), "machine": machine_info(),
             "summary": "interrupted (or still running)"}
    prepare_out(out, specs)  # before anything is written there
    _record(out, entry, specs + [], settings)
    runner = Runner(plan, out, jobs=args.jobs, budget_min=args.budget_min,
                    device=args.device, progress=args.progress,
                    log=lambda text: print(text, flush=True))
    t0 = time.perf_counter()
    report = runner.run()
    entry.update(seconds=round(time.perf_counter() - t0, 1), summary=report.summary())
    _record(out, entry, plan.runs(runner.finished()), settings)
    if summary_fn is not None:
        summary_fn(runner.finished())
    print(report.summary())
    return report.interrupted or (1 if report.failed else 0)


def _write_table2_files(plan, out: Path, finished: dict[str, Any]) -> None:
    from .tables import regimes, table2_markdown

    runs = [r for r in finished.values() if r.get("kind") == "seg"]
    atomic_write_text(out / "results.json", json.dumps(
        {"settings": plan.settings(), "runs": sorted(runs, key=lambda r: r["key"])},
        indent=2))
    parts = []
    for regime, protocol, generator in regimes(finished):
        parts.append(f"### {regime or 'all'} labelled frames, protocol {protocol}, "
                     f"{generator}\n\n" + table2_markdown(
                         finished, regime, protocol, generator, plan.modes, plan.ratios))
    atomic_write_text(out / "table2.md", "\n".join(parts) or "no mixed run finished\n")
    print("\n".join(parts), end="")


@entry_point
def main(argv: list[str] | None = None) -> int:
    """``python -m scmis_core.experiments ...``; expected failures are one line, exit 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    first, _ = build_parser().parse_known_args(argv) if argv[:1] == ["table2"] else (None, 0)
    args = build_parser(getattr(first, "preset", None)).parse_args(argv)
    if args.command == "worker":
        return worker_main(args.out, args.key, args.device)
    if args.command == "report":
        from .report import write_report

        page = write_report(args.out, args.table1, args.table2, args.reps, args.fewhomes)
        print(f"results page: {page}")
        return 0
    if args.jobs < 1:
        raise CliError(f"--jobs: expected >= 1, found {args.jobs}")
    if args.command == "table1":
        return _run(_table1_plan(args), args, argv, None)
    if args.command == "fewhomes":
        plan = _fewhomes_plan(args)
        if args.seed_from and not args.dry_run:
            from .fewhomes import seed_from_collected

            if not args.out:
                raise CliError("--seed-from: expected --out too")
            prepare_out(Path(args.out), plan.runs({}))  # new, empty or this driver's
            copied = seed_from_collected(Path(args.seed_from), Path(args.out))
            print(f"seeded {args.out} with {len(copied)} collected results")
        return _run(plan, args, argv, plan.settings(),
                    lambda finished: _write_fewhomes_files(plan, Path(args.out), finished))
    plan = _table2_plan(args)
    return _run(plan, args, argv, plan.settings(),
                lambda finished: _write_table2_files(plan, Path(args.out), finished))
