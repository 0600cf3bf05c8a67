"""Few homes, new homes: class-mix in the regime a home robot is in (docs/results/
preregistration.md).

Two arms of 200 labelled frames each, both tested on ``test_frames`` views of homes that no
training frame shows:

- ``homes``: 8 homes x 25 views (``data.rooms_homes``): the segmenter can learn the look of
  8 homes by heart;
- ``control``: 200 frames, each its own home (today's rooms): no appearance gap to close.

Stage ``gate`` runs the baseline segmenter of the ``homes`` arm for the pilot seeds with
train- and test-split mIoU every ``segment.eval_every`` steps (the regime check:
:func:`gate_verdict`). Stage ``grid`` runs, per arm: the baseline for every segmenter seed;
per generator seed g, a generator trained on the arm's labelled frames alone (protocol a,
``train.seed=g``) and, per cell (mode, ratio), ``variants`` mixed copies of the labelled
frames drawn with mix seed ``mix_seed_base + g`` and one segmenter per segmenter seed. Keys:
``{arm}_baseline_s{s}``, ``{arm}_gan_g{g}``, ``{arm}_g{g}_{mode}_{ratio}_data``,
``{arm}_g{g}_{mode}_{ratio}_s{s}``; the primary cell comes first in the run list.
"""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Sequence

from .common import jsonable
from .runner import RunContext, RunSpec
from .table1 import CPU_STEP_S
from .table2 import MODE_NAMES, SEG_CPU_STEP_S

ARMS = ("homes", "control")
#: the regime gate: train-split mIoU above test mIoU by at least this many points ...
GATE_GAP_POINTS = 15.0
#: ... and a test curve whose best point of the last quarter of training is at most this many
#: points above its best point before it ("stopped rising")
GATE_RISE_POINTS = 1.0


def arm_data(base: dict[str, Any], arm: str, homes: int, views: int,
             test_frames: int) -> dict[str, Any]:
    """The data section of ``arm``: ``homes`` x ``views`` labelled frames in both arms."""
    if arm not in ARMS:
        raise ValueError(f"arm: expected one of {', '.join(ARMS)}, found {arm!r}")
    data = dict(base, rooms_test_size=test_frames)
    if arm == "homes":
        return dict(data, rooms_homes=homes, rooms_views_per_home=views)
    return dict(data, rooms_homes=0, rooms_train_size=homes * views)


def cell_name(mode: str, ratio: float) -> str:
    return f"{mode}_{ratio:g}"


class FewHomesPlan:
    """The runs of one stage (see the module docstring)."""

    def __init__(self, data: dict[str, Any], opts, gan_config: dict[str, Any], *,
                 stage: str = "grid", arms: Sequence[str] = ARMS, homes: int = 8,
                 views: int = 25, test_frames: int = 1000,
                 cells: Sequence[tuple[str, float]] = (("rgb", 0.7), ("rgb", 0.5),
                                                       ("depth", 0.5), ("rgbd", 0.5)),
                 gan_seeds: Sequence[int] = (0, 1), seg_seeds: Sequence[int] = (0, 1, 2),
                 pilot_seeds: Sequence[int] = (0, 1), variants: int = 4,
                 mix_seed_base: int = 1000):
        if stage not in ("gate", "grid"):
            raise ValueError(f"stage: expected gate or grid, found {stage!r}")
        for mode, _ in cells:
            if mode not in MODE_NAMES:
                raise ValueError(f"cell mode: expected one of {', '.join(MODE_NAMES)}, "
                                 f"found {mode!r}")
        if homes * views < opts.batch_size:
            raise ValueError(f"{homes} homes x {views} views: expected at least the batch "
                             f"size {opts.batch_size} of labelled frames")
        self.data, self.opts, self.gan_config = dict(data), opts, gan_config
        self.stage, self.arms = stage, [a for a in arms]
        for arm in self.arms:
            arm_data(data, arm, homes, views, test_frames)  # validates the name
        self.homes, self.views, self.test_frames = homes, views, test_frames
        self.cells = [(m, float(r)) for m, r in cells]
        self.gan_seeds, self.seg_seeds = list(gan_seeds), list(seg_seeds)
        self.pilot_seeds = list(pilot_seeds)
        self.variants, self.mix_seed_base = variants, mix_seed_base

    # -- specs --------------------------------------------------------------------------------

    def _data(self, arm: str) -> dict[str, Any]:
        return arm_data(self.data, arm, self.homes, self.views, self.test_frames)

    def _seg_cost(self) -> float:
        pixels = self.data["height"] * self.data["width"] / (64 * 64)
        evals = (self.opts.steps // self.opts.eval_every) if self.opts.eval_every else 0
        return (self.opts.steps * SEG_CPU_STEP_S.get(self.opts.arch, 0.3) * pixels *
                self.opts.batch_size / 8 + evals * (self.test_frames + 200) * 0.004)

    def seg_spec(self, arm: str, seed: int, gen_seed: int | None = None,
                 mode: str = "none", ratio: float = 0.0) -> RunSpec:
        opts = replace(self.opts, seed=seed, train_frames=0)
        params: dict[str, Any] = {"data": self._data(arm), "arm": arm, "regime": 0,
                                  "protocol": "a" if mode != "none" else "",
                                  "generator": "" if mode == "none" else f"g{gen_seed}",
                                  "gen_seed": gen_seed, "mode": mode, "ratio": ratio,
                                  "seed": seed, "options": asdict(opts)}
        if mode == "none":
            key, needs, what = f"{arm}_baseline_s{seed}", (), "baseline"
        else:
            data_key = self.data_key(arm, gen_seed, mode, ratio)
            params["mixdata"] = data_key
            key = f"{arm}_g{gen_seed}_{cell_name(mode, ratio)}_s{seed}"
            needs, what = (data_key,), f"{MODE_NAMES[mode]} {ratio:g}, generator g{gen_seed}"
        return RunSpec(key=key, kind="fewhomes_seg", params=jsonable(params), needs=needs,
                       est_cpu_s=self._seg_cost(),
                       label=f"segmenter, {arm} arm, {what}, seed {seed}")

    def gan_spec(self, arm: str, gen_seed: int) -> RunSpec:
        from ..config import apply_overrides

        cfg = apply_overrides(copy.deepcopy(self.gan_config), [
            f"train.seed={gen_seed}", f"name=fewhomes-{arm}-gan-g{gen_seed}"])
        cfg["data"] = self._data(arm)
        steps = cfg["train"]["steps"]
        return RunSpec(key=f"{arm}_gan_g{gen_seed}", kind="fewhomes_gan",
                       params=jsonable({"config": cfg, "num_images": 0, "arm": arm,
                                        "seed": gen_seed, "row": "SCMIS"}),
                       est_cpu_s=steps * CPU_STEP_S.get(cfg["model"]["variant"], 0.7),
                       label=f"generator g{gen_seed} trained on the {arm} arm's "
                             f"{self.homes * self.views} labelled frames (protocol a)")

    def data_key(self, arm: str, gen_seed: int, mode: str, ratio: float) -> str:
        return f"{arm}_g{gen_seed}_{cell_name(mode, ratio)}_data"

    def data_spec(self, arm: str, gen_seed: int, mode: str, ratio: float) -> RunSpec:
        gan = f"{arm}_gan_g{gen_seed}"
        frames = self.homes * self.views
        return RunSpec(key=self.data_key(arm, gen_seed, mode, ratio), kind="fewhomes_mixdata",
                       params=jsonable({"data": self._data(arm), "train_frames": 0,
                                        "variants": self.variants, "mode": mode,
                                        "ratio": ratio, "raw_weights": False,
                                        "gan_run": gan,
                                        "mix_seed": self.mix_seed_base + gen_seed}),
                       needs=(gan,), est_cpu_s=frames * self.variants * 0.03,
                       label=f"{self.variants} mixed copies per labelled frame, "
                             f"{MODE_NAMES[mode]} {ratio:g}, generator g{gen_seed}, mix seed "
                             f"{self.mix_seed_base + gen_seed}")

    def runs(self, finished: dict[str, dict[str, Any]] | None = None) -> list[RunSpec]:
        if self.stage == "gate":
            return [self.seg_spec("homes", s) for s in self.pilot_seeds]
        specs: list[RunSpec] = []
        seen: set[str] = set()

        def add(spec: RunSpec) -> None:
            if spec.key not in seen:
                seen.add(spec.key)
                specs.append(spec)

        for arm in self.arms:  # the primary cell first, its baselines beside it
            for g in self.gan_seeds:
                add(self.gan_spec(arm, g))
            for s in self.seg_seeds:
                add(self.seg_spec(arm, s))
            for mode, ratio in self.cells:
                for g in self.gan_seeds:
                    add(self.data_spec(arm, g, mode, ratio))
                    for s in self.seg_seeds:
                        add(self.seg_spec(arm, s, g, mode, ratio))
        return specs

    @staticmethod
    def stale(key: str, result: dict[str, Any]) -> str:
        """Why a finished generator or mixed-data run cannot serve the runs that need it
        ('' when it can): its checkpoint or folder is gone (runs continued from collected
        results on another machine)."""
        if result.get("kind") == "fewhomes_gan" and \
                not Path(str(result.get("checkpoint", ""))).is_file():
            return f"its checkpoint {result.get('checkpoint')} is gone"
        if result.get("kind") == "fewhomes_mixdata" and \
                not Path(str(result.get("folder", ""))).is_dir():
            return f"its mixed frames {result.get('folder')} are gone"
        return ""

    def settings(self) -> dict[str, Any]:
        return jsonable({"stage": self.stage, "arms": self.arms, "homes": self.homes,
                         "views": self.views, "test_frames": self.test_frames,
                         "cells": self.cells, "gan_seeds": self.gan_seeds,
                         "seg_seeds": self.seg_seeds, "pilot_seeds": self.pilot_seeds,
                         "variants": self.variants, "mix_seed_base": self.mix_seed_base,
                         "data": self.data, "options": asdict(self.opts),
                         "gan_steps": self.gan_config.get("train", {}).get("steps")})


# ------------------------------------------------------------------------------------------
# The regime gate.


def gate_verdict(curves: Sequence[Sequence[dict[str, Any]]]) -> dict[str, Any]:
    """Is the pilot in the regime the claim is about? One curve per pilot seed (points with
    ``step``, ``train_miou``, ``test_miou`` in 0-1).

    Per seed: ``gap`` = final train - final test mIoU (points); ``rise`` = best test mIoU of
    the last quarter of steps - best test mIoU before it (points). Reached when every seed has
    gap >= :data:`GATE_GAP_POINTS` and rise <= :data:`GATE_RISE_POINTS`.
    """
    seeds = []
    for points in curves:
        pts = [p for p in points if p.get("test_miou") is not None
               and p.get("train_miou") is not None]
        if len(pts) < 4:
            seeds.append({"gap": None, "rise": None, "ok": False,
                          "why": f"{len(pts)} curve points (need >= 4)"})
            continue
        last = pts[-1]
        cut = 0.75 * last["step"]
        early = [p["test_miou"] for p in pts if p["step"] <= cut]
        late = [p["test_miou"] for p in pts if p["step"] > cut]
        gap = 100.0 * (last["train_miou"] - last["test_miou"])
        rise = 100.0 * (max(late) - max(early))
        seeds.append({"gap": round(gap, 2), "rise": round(rise, 2),
                      "final_train": round(100 * last["train_miou"], 2),
                      "final_test": round(100 * last["test_miou"], 2),
                      "ok": gap >= GATE_GAP_POINTS and rise <= GATE_RISE_POINTS})
    return {"reached": bool(seeds) and all(s["ok"] for s in seeds), "seeds": seeds,
            "gap_min_points": GATE_GAP_POINTS, "rise_max_points": GATE_RISE_POINTS}


# ------------------------------------------------------------------------------------------
# Executors: the Table 1 / 2 ones plus what the few-homes page needs (SHA-256 of every weight
# file, the arm and generator seed, the per-image counts under OUT/per_image/).


def execute_gan(spec: RunSpec, ctx: RunContext) -> dict[str, Any]:
    from ..pretrained import sha256_file
    from .table1 import execute_gan as train_gan

    result = train_gan(spec, ctx)
    return {**result, "arm": spec.params["arm"],
            "checkpoint_sha256": sha256_file(result["checkpoint"])}


def execute_mixdata(spec: RunSpec, ctx: RunContext) -> dict[str, Any]:
    from ..pretrained import sha256_file
    from ..visualize import save_png
    from .table2 import execute_mixdata as mix

    result = mix(spec, ctx)
    strip = mixed_strip(Path(result["folder"]) / "train", spec.params["variants"])
    if strip is not None:
        save_png(strip, ctx.out / "samples" / f"{spec.key}.png")
    return {**result, "mix_seed": spec.params["mix_seed"],
            "checkpoint_sha256": sha256_file(result["checkpoint"])}


def mixed_strip(folder: Path, variants: int, frame: int = 0, scale: int = 2):
    """Labels | real RGB | the mixed copies' RGB over blank | real depth | their depth, of
    frame ``frame`` of an offline mixed folder (NYUv2 layout: ``NNNN.png`` real,
    ``NNNN_vK.png`` copy K), each panel enlarged ``scale`` times; None when absent."""
    import cv2
    import numpy as np

    from ..data.io import read_depth, read_labels, read_rgb
    from ..data.labels import colorize_depth, colorize_labels, voc_palette
    from ..visualize import grid

    names = [f"{frame:04d}"] + [f"{frame:04d}_v{k}" for k in range(variants)]
    if not all((folder / "rgb" / f"{n}.png").is_file() for n in names):
        return None
    labels = read_labels(folder / "labels_40" / f"{names[0]}.png")
    top = [colorize_labels(labels, voc_palette(41))] + [read_rgb(folder / "rgb" / f"{n}.png")
                                                        for n in names]
    bottom = [np.full_like(top[0], 255)] + [
        colorize_depth(read_depth(folder / "depth" / f"{n}.png")) for n in names]

    def big(panel):
        return cv2.resize(panel, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)

    return grid([[big(p) for p in top], [big(p) for p in bottom]], gap=2)


def execute_seg(spec: RunSpec, ctx: RunContext) -> dict[str, Any]:
    from ..pretrained import sha256_file
    from .table2 import execute_seg as train_seg

    params = spec.params
    result = train_seg(spec, ctx)
    run = ctx.run_dir(spec.key)
    folder = ctx.out / "per_image"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run / "per_image.npz", folder / f"{spec.key}.npz")
    extra: dict[str, Any] = {"arm": params["arm"], "gen_seed": params["gen_seed"],
                             "segmenter_sha256": sha256_file(run / "segmenter.pt")}
    if params.get("mixdata"):
        mixed = ctx.result(params["mixdata"]) or {}
        extra.update(generator_checkpoint=mixed.get("checkpoint"),
                     generator_sha256=mixed.get("checkpoint_sha256"),
                     mix_seed=mixed.get("mix_seed"))
    return {**result, **extra}


def seed_from_collected(collected: Path, out: Path) -> list[str]:
    """Copy the results (and per-image counts) collected from an earlier machine's run of
    this experiment (``docs/results/data/fewhomes``) into experiment folder ``out``, where
    ``out`` has none of its own; returns the keys copied. Generator and mixed-data runs whose
    artefacts did not travel are redone when needed (:meth:`FewHomesPlan.stale`)."""
    from ..runtime import atomic_write_text
    from .runner import result_problem

    copied = []
    (out / "results").mkdir(parents=True, exist_ok=True)
    (out / "per_image").mkdir(exist_ok=True)
    for path in sorted(collected.glob("*.json")):
        target = out / "results" / path.name
        if target.exists() or result_problem(path):
            continue
        kind = json.loads(path.read_text()).get("kind", "")
        if not str(kind).startswith("fewhomes_"):
            continue
        counts = collected / "per_image" / f"{path.stem}.npz"
        if kind == "fewhomes_seg":
            if not counts.is_file():
                continue  # without its counts the run cannot enter a verdict: redo it
            shutil.copyfile(counts, out / "per_image" / counts.name)
        atomic_write_text(target, path.read_text())
        copied.append(path.stem)
    return copied
