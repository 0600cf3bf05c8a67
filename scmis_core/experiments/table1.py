"""Table 1 (and Tables 5 / 6): generator variants trained alike and measured alike.

``python -m scmis_core.experiments table1 --preset cpu --out DIR`` trains SCMIS, RGB-D
OASIS, 4D Gen, SCMIS (RGB only), SCMIS (depth only) and OASIS with the same data, widths,
steps and seed, then the perceptual-loss ablation (SCMIS without it; with the standard
ImageNet VGG-19 loss when ``--vgg-weights`` names a local file), then a second seed of the
two variants with the lowest FID. Losses follow the paper: the adaptive perceptual loss for
SCMIS / 4D Gen / SCMIS (RGB only), none for the OASIS generators (the paper's Table 6 trains
RGB-D OASIS without it; OASIS keeps its own U-Net discriminator) and the L1 depth loss alone
for SCMIS (depth only).

Each run evaluates its EMA generator every ``eval_every`` steps and at the end on the first
``num_images`` test frames: FID on RGB, the judge's mIoU on generated RGB + real depth and
AbsRel / RMSE / SqRel on depth, with 95 % percentile bootstrap intervals over the test
frames at the end (:mod:`scmis_core.experiments.measure`). The judge is ``--segmenter``
(a segmenter checkpoint or shipped name) or, with ``--segmenter train``, a run of its own
(an RGB-D U-Net on all training frames) that the others wait for.

Per run: ``DIR/results/<key>.json`` (curve, metrics, intervals, wall / CPU time),
``DIR/per_image/<key>.npz`` (what the paired comparisons resample), ``DIR/samples/<key>.png``
(the run's RGB | depth on 6 fixed test label maps) and ``DIR/runs/<key>/`` (the training run:
config, metrics.jsonl, checkpoints; never committed).
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .common import config_file, gan_config_dict, jsonable, resolve_checkpoint
from .runner import RunContext, RunSpec


@dataclass(frozen=True)
class Row:
    """One method of the table: a variant with its loss settings."""

    name: str
    label: str
    overrides: tuple[str, ...]
    modality: str  # RGB-D | RGB | Depth
    group: str = "main"  # main | ablation
    needs_vgg: bool = False


ROWS: tuple[Row, ...] = (
    Row("scmis", "SCMIS", ("model.variant=scmis", "loss.perceptual=adaptive"), "RGB-D"),
    Row("rgbd-oasis", "RGB-D OASIS", ("model.variant=rgbd-oasis", "loss.perceptual=none"),
        "RGB-D"),
    Row("4dgen", "4D Gen", ("model.variant=4dgen", "loss.perceptual=adaptive"), "RGB-D"),
    Row("scmis-rgb", "SCMIS (RGB only)", ("model.variant=scmis-rgb",
                                          "loss.perceptual=adaptive"), "RGB"),
    Row("scmis-depth", "SCMIS (depth only)", ("model.variant=scmis-depth",
                                              "loss.perceptual=none"), "Depth"),
    Row("oasis", "OASIS", ("model.variant=oasis", "loss.perceptual=none"), "RGB"),
    Row("scmis-noap", "SCMIS, no perceptual loss", ("model.variant=scmis",
                                                    "loss.perceptual=none"), "RGB-D",
        "ablation"),
    Row("scmis-vggin", "SCMIS, VGG-19 (ImageNet) perceptual loss",
        ("model.variant=scmis", "loss.perceptual=vgg-in"), "RGB-D", "ablation", True),
)
ROW_BY_NAME = {row.name: row for row in ROWS}

#: Measured single-thread CPU seconds per training step of config/rooms_small.yaml at 64x64
#: (batch 4, width 8; train.threads=1, mean of 5 steps after 2 warm-up steps on this
#: project's 2-core machine); Inception costs ~0.3 s per test image.
CPU_STEP_S = {"scmis": 0.70, "rgbd-oasis": 0.64, "4dgen": 0.67, "scmis-rgb": 0.68,
              "scmis-depth": 0.23, "oasis": 0.72}
INCEPTION_S = 0.3
#: Assumed GPU seconds per step of SCMIS at paper scale (config/nyu40_paper.yaml: 256x320,
#: batch 16, width 64) on one TITAN RTX-class GPU; an assumption, not a measurement. Other
#: variants scale with their measured CPU cost relative to SCMIS.
PAPER_GPU_STEP_S = 1.2

PRESETS: dict[str, dict[str, Any]] = {
    "toy": {
        "config": None,
        "overrides": ["data.source=rooms", "data.height=32", "data.width=32",
                      "data.rooms_train_size=8", "data.rooms_test_size=6",
                      "data.num_workers=0", "model.width=4", "model.num_scales=2",
                      "model.z_dim=4", "model.spade_hidden=4", "model.disc_width=4",
                      "model.disc_depth=2", "model.disc_head_width=4", "train.steps=2",
                      "train.batch_size=2", "train.log_every=1", "train.sample_every=1000",
                      "train.ckpt_every=1", "train.keep_last=1", "train.threads=1",
                      "eval.batch_size=3"],
        "eval_every": 0, "num_images": 6, "reps": 20,
        "judge": {"arch": "unet-rgbd", "arch_kwargs": {"widths": [4, 8]}, "steps": 2,
                  "batch_size": 2, "tensorboard": False},
        "paper_scale": False,
    },
    "cpu": {
        "config": "rooms_small.yaml",
        "overrides": ["data.cache=true", "data.num_workers=0", "train.threads=1",
                      "train.steps=2000", "train.ckpt_every=250", "train.sample_every=1000",
                      "train.keep_last=2", "train.log_every=50", "eval.batch_size=10"],
        "eval_every": 1000, "num_images": 200, "reps": 1000,
        "judge": {"arch": "unet-rgbd", "steps": 1500, "batch_size": 8, "ckpt_every": 250,
                  "eval_every": 500},
        "paper_scale": False,
    },
    "paper": {
        "config": "nyu40_paper.yaml",
        "overrides": [],
        "eval_every": 10000, "num_images": 654, "reps": 1000,
        "judge": {"arch": "esanet-r34", "steps": 50_000, "batch_size": 8,
                  "optimizer": "sgd", "lr": 0.01, "class_weights": "median"},
        "paper_scale": True,
    },
}


class Table1Plan:
    """The runs of Table 1 (see the module docstring); ``runs(finished)`` adds the second
    seeds once every main row's first seed is finished."""

    def __init__(self, base: dict[str, Any], *, rows: Sequence[str] | None = None,
                 seed: int = 0, second_seed: int | None = 1, n_best: int = 2,
                 eval_every: int = 0, num_images: int = 200, reps: int = 1000,
                 segmenter: str = "", judge: dict[str, Any] | None = None,
                 vgg_weights: str = "", paper_scale: bool = False):
        from ..config import from_dict

        self.base = gan_config_dict(from_dict(copy.deepcopy(base)))
        self.rows = [ROW_BY_NAME[name] for name in rows] if rows else list(ROWS)
        self.seed, self.second_seed, self.n_best = seed, second_seed, n_best
        self.eval_every, self.num_images, self.reps = eval_every, num_images, reps
        self.segmenter = segmenter
        self.judge = dict(judge or {})
        self.vgg_weights = vgg_weights
        self.paper_scale = paper_scale

    # -- the run list ---------------------------------------------------------------------

    def config_for(self, row: Row, seed: int) -> dict[str, Any]:
        from ..config import apply_overrides, from_dict

        overrides = list(row.overrides) + [f"train.seed={seed}", f"name=table1-{row.name}",
                                           f"train.eval_every={self.eval_every}"]
        if row.needs_vgg and self.vgg_weights:
            overrides.append(f"loss.perceptual_weights={self.vgg_weights}")
        return gan_config_dict(from_dict(apply_overrides(copy.deepcopy(self.base), overrides)))

    def _estimate(self, cfg: dict[str, Any]) -> tuple[float, float]:
        variant = cfg["model"]["variant"]
        steps = cfg["train"]["steps"]
        evals = 1 + (steps // self.eval_every if self.eval_every else 0)
        images = min(self.num_images, cfg["data"]["rooms_test_size"]) \
            if cfg["data"]["source"] == "rooms" else self.num_images
        pixels = cfg["data"]["height"] * cfg["data"]["width"] / (64 * 64)
        cpu = steps * CPU_STEP_S[variant] * pixels + evals * images * INCEPTION_S
        gpu = steps * PAPER_GPU_STEP_S * CPU_STEP_S[variant] / CPU_STEP_S["scmis"]
        return cpu, (gpu if self.paper_scale else 0.0)

    def gan_spec(self, row: Row, seed: int) -> RunSpec:
        cfg = self.config_for(row, seed)
        params = {"config": cfg, "row": row.name, "seed": seed, "eval_every": self.eval_every,
                  "num_images": self.num_images, "reps": self.reps,
                  "segmenter": self.segmenter if self.segmenter != "train" else "",
                  "judge_run": "judge" if self.segmenter == "train" else ""}
        cpu, gpu = self._estimate(cfg)
        skip = ""
        if row.needs_vgg and not (self.vgg_weights and Path(self.vgg_weights).is_file()):
            skip = ("needs local ImageNet VGG-19 weights (--vgg-weights FILE.pth); none given "
                    "and nothing is downloaded")
        return RunSpec(key=f"{row.name}_s{seed}", kind="gan", params=jsonable(params),
                       needs=("judge",) if self.segmenter == "train" else (),
                       est_cpu_s=cpu, est_gpu_s=gpu,
                       label=f"{row.label}, seed {seed}", skip_reason=skip)

    def judge_spec(self) -> RunSpec:
        from ..config import from_dict

        opts = from_dict({"segment": copy.deepcopy(self.judge)}).segment
        data = self.base["data"]
        pixels = data["height"] * data["width"] / (64 * 64)
        cpu = opts.steps * 0.33 * pixels * opts.batch_size / 8
        return RunSpec(key="judge", kind="judge",
                       params=jsonable({"data": data, "options": asdict(opts)}),
                       est_cpu_s=cpu, est_gpu_s=opts.steps * 0.15 if self.paper_scale else 0,
                       label=f"judge segmenter ({opts.arch}, {opts.steps} steps, all frames)")

    def first_round(self) -> list[RunSpec]:
        specs = [self.judge_spec()] if self.segmenter == "train" else []
        specs += [self.gan_spec(row, self.seed) for row in self.rows]
        return specs

    def best_rows(self, finished: dict[str, dict[str, Any]]) -> list[Row] | None:
        """The ``n_best`` main rows with the lowest FID, once all main rows are finished."""
        main = [r for r in self.rows if r.group == "main" and r.modality != "Depth"]
        scores = []
        for row in main:
            result = finished.get(f"{row.name}_s{self.seed}")
            if result is None:
                return None
            scores.append((result["metrics"].get("fid", float("inf")), row.name))
        return [ROW_BY_NAME[name] for _, name in sorted(scores)[:self.n_best]]

    def runs(self, finished: dict[str, dict[str, Any]]) -> list[RunSpec]:
        specs = self.first_round()
        if self.second_seed is not None:
            best = self.best_rows(finished)
            if best:
                specs += [self.gan_spec(row, self.second_seed) for row in best]
        return specs

    def later_runs(self, finished: dict[str, dict[str, Any]]) -> list[tuple[str, float, float]]:
        """Listing rows for the second seeds while the best rows are not known yet."""
        if self.second_seed is None or self.best_rows(finished) is not None:
            return []
        cpu, gpu = self._estimate(self.config_for(ROWS[0], self.second_seed))
        return [(f"seed {self.second_seed} of the {self.n_best} rows with the lowest FID "
                 f"(chosen after the first seed)", cpu, gpu)] * self.n_best


# ------------------------------------------------------------------------------------------
# Executors.


def _judge_path(spec: RunSpec, ctx: RunContext) -> str:
    if spec.params.get("judge_run"):
        result = ctx.result(spec.params["judge_run"])
        if result is None:
            raise RuntimeError(f"run {spec.key}: the judge run {spec.params['judge_run']} has "
                               "no result yet")
        return result["checkpoint"]
    return resolve_checkpoint(spec.params.get("segmenter", ""), "--segmenter", "segmenter")


class _Measurer:
    """Test set, Inception, real features (cached in ``OUT/cache``) and judge of a run."""

    def __init__(self, cfg, ctx: RunContext, num_images: int, segmenter_path: str):
        from ..evaluate import test_dataset
        from ..metrics.fid import InceptionFeatures
        from ..runtime import select_device
        from .measure import real_features, test_key

        self.cfg, self.device = cfg, select_device(ctx.device)
        self.test = test_dataset(cfg)
        self.count = min(num_images, len(self.test))
        self.extractor = InceptionFeatures(self.device, batch_size=max(cfg.eval.batch_size,
                                                                       16))
        key = test_key(cfg.data.__dict__, self.count)
        self.real = real_features(self.test, self.count, cfg.eval.batch_size, self.extractor,
                                  ctx.out / "cache" / f"real_features_{key}.npz")
        self.segmenter = None
        if segmenter_path:
            from ..segment import Segmenter

            self.segmenter = Segmenter.from_checkpoint(segmenter_path, self.device)

    def __call__(self, generator, num_classes: int):
        from .measure import measure_generator

        return measure_generator(generator, self.test, num_classes, count=self.count,
                                 batch_size=self.cfg.eval.batch_size, extractor=self.extractor,
                                 real=self.real, segmenter=self.segmenter,
                                 max_depth_m=self.cfg.data.max_depth_m, device=self.device)


def _curve(run_dir: Path) -> list[dict[str, Any]]:
    """Evaluation points of ``metrics.jsonl`` (the last entry per step wins: resumed runs
    log a step again)."""
    points: dict[int, dict[str, Any]] = {}
    path = run_dir / "metrics.jsonl"
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a kill
            values = {k[5:]: v for k, v in entry.items() if k.startswith("eval/")}
            if values:
                points[int(entry["step"])] = {"step": int(entry["step"]), **values}
    return [points[s] for s in sorted(points)]


def _sample_strip(generator, test, num_classes: int, cfg, count: int = 6) -> np.ndarray:
    """(count*H, k*W, 3) uint8: the generator's RGB and/or depth on the first test frames."""
    import torch

    from ..data.labels import colorize_depth
    from ..data.transforms import one_hot
    from ..depth_range import unit_to_metres
    from ..models.noise import sample_z
    from ..visualize import to_uint8_rgb

    items = [test[i] for i in range(min(count, len(test)))]
    labels = torch.stack([it["labels"] for it in items])
    device = next(generator.parameters()).device
    z = sample_z(generator, *labels.shape, torch.Generator().manual_seed(0), device=device)
    with torch.no_grad():
        generator.eval()
        out = generator(one_hot(labels.to(device), num_classes, check=False), z.to(device))
    rows = []
    for i in range(len(labels)):
        panels = []
        if "rgb" in out:
            panels.append(to_uint8_rgb(out["rgb"][i].float().cpu()))
        if "depth" in out:
            metres = unit_to_metres(out["depth"][i, 0].float().cpu(), cfg.data.max_depth_m)
            panels.append(colorize_depth(metres.numpy(), cfg.data.max_depth_m))
        rows.append(np.concatenate(panels, axis=1))
    return np.concatenate(rows, axis=0)


def reference_strip(test, count: int, max_depth_m: float) -> np.ndarray:
    """(count*H, 3*W, 3) uint8: label map | real RGB | real depth of the first test frames."""
    from ..data.labels import colorize_depth, colorize_labels
    from ..visualize import to_uint8_rgb

    palette = test.dataset.palette
    rows = []
    for i in range(min(count, len(test))):
        item = test[i]
        rows.append(np.concatenate([colorize_labels(item["labels"].numpy(), palette),
                                    to_uint8_rgb(item["rgb"]),
                                    colorize_depth(item["depth_m"].numpy().reshape(
                                        item["labels"].shape), max_depth_m)], axis=1))
    return np.concatenate(rows, axis=0)


def execute_gan(spec: RunSpec, ctx: RunContext) -> dict[str, Any]:
    """Train one generator (resuming its newest step checkpoint) and measure it."""
    from ..checkpoint import list_step_checkpoints
    from ..config import from_dict, save_config
    from ..engine.checkpoints import GanCheckpoint
    from ..runtime import select_device
    from ..train import Trainer
    from ..visualize import save_png

    params = spec.params
    cfg = from_dict(copy.deepcopy(params["config"]))
    run_dir = ctx.run_dir(spec.key)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run_dir / "config.yaml")
    trainer = Trainer(cfg, run_dir, device=select_device(ctx.device), progress=ctx.progress)
    found = list_step_checkpoints(run_dir)
    if found:
        trainer.load_state_dict(GanCheckpoint.load(found[-1]), found[-1])
    measure = params.get("num_images", 0) > 0
    state: dict[str, Any] = {}

    def measurer() -> _Measurer:
        if "m" not in state:
            state["m"] = _Measurer(cfg, ctx, params["num_images"], _judge_path(spec, ctx))
        return state["m"]

    def evaluate(tr) -> dict[str, float]:
        if tr.step >= cfg.train.steps or (tr.step == 0 and not params.get("eval_start", True)):
            return {}  # the final point is measured on the saved checkpoint below
        tr.refresh_bn_stats()
        return measurer()(tr.eval_generator, tr.num_classes).point()

    fit = trainer.fit(evaluate_fn=evaluate if measure else None)
    result: dict[str, Any] = {"row": params.get("row", ""), "seed": params.get("seed", 0),
                              "variant": cfg.model.variant,
                              "perceptual": cfg.loss.perceptual, "steps": fit["steps"],
                              "checkpoint": fit["final_checkpoint"],
                              "train_frames": len(trainer.train_data),
                              "last_losses": fit["last_losses"]}
    if measure:
        # what users load (EMA weights of final.pt): the same numbers as scmis_core.evaluate
        from ..synthesize import Synthesizer

        generator = Synthesizer.from_checkpoint(fit["final_checkpoint"],
                                                device=ctx.device).generator
        per = measurer()(generator, trainer.num_classes)
        folder = ctx.out / "per_image"
        folder.mkdir(parents=True, exist_ok=True)
        per.save(folder / f"{spec.key}.npz")
        point = per.point()
        curve = [p for p in _curve(run_dir) if p["step"] < fit["steps"]]
        result.update(metrics=point, ci=per.intervals(params.get("reps", 1000)),
                      ci_level=0.95, num_images=measurer().count,
                      curve=curve + [{"step": fit["steps"], **point}],
                      judge=_judge_path(spec, ctx))
        test = measurer().test
        save_png(_sample_strip(generator, test, trainer.num_classes, cfg),
                 ctx.out / "samples" / f"{spec.key}.png")
        reference = ctx.out / "samples" / "_real.png"
        if not reference.is_file():
            save_png(reference_strip(test, 6, cfg.data.max_depth_m), reference)
        result["samples"] = f"samples/{spec.key}.png"
        result["sample_size"] = [cfg.data.height, cfg.data.width]
    return result


def execute_judge(spec: RunSpec, ctx: RunContext) -> dict[str, Any]:
    """Train the judge segmenter of Table 1 (resumable) and report its real-test mIoU."""
    from ..config import from_dict
    from ..segment import SegmenterTrainer

    cfg = from_dict({"data": copy.deepcopy(spec.params["data"]),
                     "segment": copy.deepcopy(spec.params["options"])})
    data, opts = cfg.data, cfg.segment
    trainer = SegmenterTrainer(data, ctx.run_dir(spec.key), opts, device=ctx.device,
                               progress=ctx.progress)
    result = trainer.fit(resume=True)
    return {"checkpoint": result["checkpoint"], "miou": result["miou"],
            "pixel_accuracy": result["pixel_accuracy"],
            "per_class_iou": result["per_class_iou"], "steps": result["steps"],
            "train_frames": result["train_frames"], "test_frames": result["test_frames"],
            "arch": opts.arch, "arch_kwargs": opts.arch_kwargs}


def build_base(preset: str, config: str | None, overrides: Sequence[str]) -> dict[str, Any]:
    """The base config dict of a preset (+ ``--config`` / overrides)."""
    from ..config import load_config

    spec = PRESETS[preset]
    path = config or (str(config_file(spec["config"])) if spec["config"] else None)
    extra = list(spec["overrides"]) + list(overrides)
    if preset == "paper" and not any(o.startswith("data.root=") for o in extra):
        extra.append("data.root=data/nyuv2")
    return gan_config_dict(load_config(path, extra))
