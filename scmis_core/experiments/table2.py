"""Table 2 (class-mix augmentation) and Table 3 (other generators): the run list.

Every run trains a segmenter and evaluates it on the real test split: the baseline on the
labelled frames alone, and one run per (mode, ratio) of ``modes`` x ``ratios`` (paper:
Depth / RGB / RGB-D x 0.3 / 0.5 / 0.7) on class-mixed frames, all with the same steps and
options, for every seed of ``seeds`` and every labelled-set size of ``labelled`` (the first
N training frames; 0 = ``opts.train_frames``, i.e. all). Two protocols decide which
generator mixes:

- ``a`` (the paper): a generator trained on the same N labelled frames (one GAN run per N,
  ``gan_config`` with ``data.rooms_train_size=N``, measured like Table 1 on
  ``gan_eval_images`` test frames; with N = all, the ``--generator``);
- ``b`` (the robot case): ``--generator``, trained on many frames, while the segmenter sees
  only the N labelled ones.

Mixing is ``offline`` (as the paper: ``variants`` mixed copies of every labelled frame are
written once per (N, protocol, generator, mode, ratio) by
:class:`scmis_core.augment.AugmentJob`; the segmenter trains on the real frames plus the
copies) or ``online`` (each training sample is mixed with probability ``mix_p`` inside the
training loop). ``table3`` adds runs with other generators at (``table3_mode``,
``table3_ratio``) (paper: RGB, 0.7).
"""

from __future__ import annotations

import copy
import re
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Sequence

from .common import gan_config_dict, jsonable, resolve_checkpoint
from .runner import RunContext, RunSpec
from .table1 import CPU_STEP_S

MODE_NAMES = {"depth": "Depth", "rgb": "RGB", "rgbd": "RGB-D"}
#: single-thread CPU seconds per segmenter step at 64x64, batch 8 (measured like CPU_STEP_S)
SEG_CPU_STEP_S = {"unet-rgbd": 0.33, "unet-rgb": 0.2, "esanet": 0.19, "esanet-r18": 0.19,
                  "esanet-r34": 0.3}
#: assumed GPU seconds per ESANet-R34 step at 480x640, batch 8 (an assumption)
PAPER_SEG_GPU_STEP_S = 0.25


def regime_name(n: int) -> str:
    return f"n{n}" if n else "nall"


def safe_name(name: str) -> str:
    """``name`` with every character outside [A-Za-z0-9.-] replaced by '-' (for keys)."""
    return re.sub(r"[^A-Za-z0-9.-]", "-", name)


class Table2Plan:
    """The runs of Tables 2 and 3 (see the module docstring)."""

    def __init__(self, data: dict[str, Any], opts, *, generators: dict[str, str],
                 modes: Sequence[str], ratios: Sequence[float], seeds: Sequence[int],
                 labelled: Sequence[int] = (0,), protocols: Sequence[str] = ("b",),
                 gan_config: dict[str, Any] | None = None, mixing: str = "offline",
                 variants: int = 4, mix_p: float | None = None,
                 table3: dict[str, str] | None = None, table3_mode: str = "rgb",
                 table3_ratio: float = 0.7, raw_weights: bool = False,
                 paper_scale: bool = False, gan_eval_images: int = 0):
        if mixing not in ("offline", "online"):
            raise ValueError(f"mixing: expected offline or online, found {mixing!r}")
        for mode in list(modes) + [table3_mode]:
            if mode not in MODE_NAMES:
                raise ValueError(f"mode: expected one of {', '.join(MODE_NAMES)}, "
                                 f"found {mode!r}")
        for proto in protocols:
            if proto not in ("a", "b"):
                raise ValueError(f"protocol: expected a or b, found {proto!r}")
        if any(n and n < opts.batch_size for n in labelled):
            raise ValueError(f"--labelled: expected sizes >= the batch size "
                             f"{opts.batch_size} (or 0 = all), found {list(labelled)}")
        if "a" in protocols and any(labelled) and gan_config is None:
            raise ValueError("protocol a with labelled subsets needs a GAN config")
        if "a" in protocols and any(labelled) and data.get("source") != "rooms":
            raise ValueError(f"protocol a trains a generator on the first N frames, which "
                             f"this driver does for data.source=rooms; found "
                             f"{data.get('source')!r} (use --labelled 0 or protocol b)")
        self.data, self.opts = dict(data), opts
        self.generators, self.table3 = dict(generators), dict(table3 or {})
        self.main = next(iter(self.generators)) if self.generators else "SCMIS"
        self.modes, self.ratios, self.seeds = list(modes), list(ratios), list(seeds)
        self.labelled = [int(n) for n in labelled]
        self.protocols = list(protocols)
        self.gan_config = gan_config
        self.mixing, self.variants = mixing, variants
        self.mix_p = mix_p if mix_p is not None else variants / (variants + 1)
        self.table3_mode, self.table3_ratio = table3_mode, table3_ratio
        self.raw_weights, self.paper_scale = raw_weights, paper_scale
        self.gan_eval_images = gan_eval_images  # protocol a generators: FID / depth on test

    # -- keys and estimates -------------------------------------------------------------------

    @staticmethod
    def seg_key(n: int, protocol: str, generator: str, mode: str, ratio: float,
                seed: int) -> str:
        if mode == "none":
            return f"{regime_name(n)}_baseline_s{seed}"
        return (f"{regime_name(n)}_{protocol}_{safe_name(generator)}_{mode}_{ratio:g}"
                f"_s{seed}")

    def _frames(self, n: int) -> int:
        return n or self.opts.train_frames

    def _seg_cost(self) -> tuple[float, float]:
        pixels = self.data["height"] * self.data["width"] / (64 * 64)
        cpu = self.opts.steps * SEG_CPU_STEP_S.get(self.opts.arch, 0.3) * pixels * \
            self.opts.batch_size / 8
        gpu = self.opts.steps * PAPER_SEG_GPU_STEP_S if self.paper_scale else 0.0
        return cpu, gpu

    # -- the run list -------------------------------------------------------------------------

    def _gan_spec(self, n: int) -> RunSpec:
        from ..config import apply_overrides, from_dict

        cfg = gan_config_dict(from_dict(apply_overrides(copy.deepcopy(self.gan_config), [
            f"data.rooms_train_size={n}", f"name=table2-gan-{regime_name(n)}"])))
        steps = cfg["train"]["steps"]
        images = self.gan_eval_images
        return RunSpec(key=f"{regime_name(n)}_gan", kind="gan",
                       params=jsonable({"config": cfg, "num_images": images, "reps": 200,
                                        "eval_start": False, "regime": n}),
                       est_cpu_s=steps * CPU_STEP_S.get(cfg["model"]["variant"], 0.7)
                       + images * 0.6,
                       label=f"generator trained on the {n} labelled frames (protocol a)")

    def _generator_source(self, n: int, protocol: str, name: str) -> dict[str, str]:
        """{"checkpoint": path} or {"gan_run": key} for the generator of a cell."""
        if protocol == "a" and n and name == self.main:
            return {"gan_run": f"{regime_name(n)}_gan"}
        return {"checkpoint": {**self.generators, **self.table3}[name]}

    def _data_spec(self, n: int, protocol: str, name: str, mode: str, ratio: float) -> RunSpec:
        source = self._generator_source(n, protocol, name)
        key = f"{regime_name(n)}_{protocol}_{safe_name(name)}_{mode}_{ratio:g}_data"
        frames = self._frames(n)
        return RunSpec(key=key, kind="mixdata",
                       params=jsonable({"data": self.data, "train_frames": frames,
                                        "variants": self.variants, "mode": mode,
                                        "ratio": ratio, "raw_weights": self.raw_weights,
                                        **source}),
                       needs=tuple(source.values()) if "gan_run" in source else (),
                       est_cpu_s=(frames or 1000) * self.variants * 0.03,
                       label=f"{self.variants} mixed copies of the labelled frames")

    def _seg_spec(self, n: int, protocol: str, name: str, mode: str, ratio: float,
                  seed: int, data_key: str = "") -> RunSpec:
        opts = replace(self.opts, seed=seed, train_frames=self._frames(n))
        params: dict[str, Any] = {"data": self.data, "regime": n, "protocol": protocol,
                                  "generator": name if mode != "none" else "",
                                  "mode": mode, "ratio": ratio, "seed": seed}
        needs: tuple[str, ...] = ()
        if mode != "none" and self.mixing == "offline":
            params["mixdata"] = data_key
            opts = replace(opts, train_frames=0)  # the mixed folder is already the subset
            needs = (data_key,)
        elif mode != "none":
            source = self._generator_source(n, protocol, name)
            params.update(source)
            needs = tuple(source.values()) if "gan_run" in source else ()
            opts = replace(opts, mix_ratio=ratio, mix_mode=mode, mix_p=self.mix_p,
                           mix_raw_weights=self.raw_weights)
        params["options"] = asdict(opts)
        cpu, gpu = self._seg_cost()
        what = "baseline" if mode == "none" else (
            f"{MODE_NAMES[mode]} {ratio:g}, {name}, protocol {protocol}")
        return RunSpec(key=self.seg_key(n, protocol, name, mode, ratio, seed), kind="seg",
                       params=jsonable(params), needs=needs, est_cpu_s=cpu, est_gpu_s=gpu,
                       label=f"segmenter, {self._frames(n) or 'all'} labelled frames, "
                             f"{what}, seed {seed}")

    def cells(self, n: int) -> list[tuple[str, str, str, float]]:
        """(protocol, generator, mode, ratio) of every mixed cell of regime ``n``."""
        cells = []
        protocols = [p for p in self.protocols if not (p == "a" and not n and "b" in
                                                       self.protocols)]
        for proto in protocols:
            cells += [(proto, self.main, m, r) for m in self.modes for r in self.ratios]
            if self.table3 and (self.table3_mode not in self.modes
                                or self.table3_ratio not in self.ratios):
                cells.append((proto, self.main, self.table3_mode, self.table3_ratio))
            if proto == "b" or not n:
                cells += [(proto, name, self.table3_mode, self.table3_ratio)
                          for name in self.table3]
        return cells

    def runs(self, finished: dict[str, dict[str, Any]] | None = None) -> list[RunSpec]:
        specs: list[RunSpec] = []
        added: set[str] = set()

        def add(spec: RunSpec) -> None:
            if spec.key not in added:
                added.add(spec.key)
                specs.append(spec)

        for n in self.labelled:
            for seed in self.seeds:
                add(self._seg_spec(n, "", "", "none", 0.0, seed))
                for proto, name, mode, ratio in self.cells(n):
                    if proto == "a" and n and name == self.main:
                        add(self._gan_spec(n))
                    data_key = ""
                    if self.mixing == "offline":
                        data = self._data_spec(n, proto, name, mode, ratio)
                        add(data)
                        data_key = data.key
                    add(self._seg_spec(n, proto, name, mode, ratio, seed, data_key))
        return specs

    def settings(self) -> dict[str, Any]:
        """What the tables were made with (for the results file and the table headers)."""
        return jsonable({"generators": self.generators, "table3": self.table3,
                         "mixing": self.mixing, "ema_weights": not self.raw_weights,
                         "variants": self.variants, "mix_p": self.mix_p,
                         "seeds": self.seeds, "labelled": self.labelled,
                         "protocols": self.protocols, "modes": self.modes,
                         "ratios": self.ratios, "table3_mode": self.table3_mode,
                         "table3_ratio": self.table3_ratio, "data": self.data,
                         "options": asdict(self.opts),
                         "gan_steps": (self.gan_config or {}).get("train", {}).get("steps")})


# ------------------------------------------------------------------------------------------
# Executors.


def _generator_path(params: dict[str, Any], ctx: RunContext, key: str) -> str:
    if params.get("gan_run"):
        result = ctx.result(params["gan_run"])
        if result is None:
            raise RuntimeError(f"run {key}: the generator run {params['gan_run']} has no "
                               "result yet")
        return result["checkpoint"]
    return resolve_checkpoint(params["checkpoint"], "--generator", "gan")


def execute_mixdata(spec: RunSpec, ctx: RunContext) -> dict[str, Any]:
    """Write the offline class-mixed copies of the labelled frames (resumable)."""
    from ..augment import AugmentJob
    from ..pretrained import sha256_file
    from ..config import from_dict
    from ..data.registry import dataset_from_config
    from ..data.wrappers import FirstFrames
    from ..synthesize import Synthesizer

    params = spec.params
    data = from_dict({"data": copy.deepcopy(params["data"])}).data
    ckpt = _generator_path(params, ctx, spec.key)
    folder = ctx.run_dir(spec.key)
    train = dataset_from_config(data, data.train_split)
    if params["train_frames"]:
        train = FirstFrames(train, params["train_frames"])
    synth = Synthesizer.from_checkpoint(ckpt, device=ctx.device,
                                        use_ema=not params["raw_weights"])
    AugmentJob(synth, train, folder, variants=params["variants"], ratio=params["ratio"],
               mode=params["mode"], seed=params.get("mix_seed", 0), shard_size=64,
               include_real=True,
               size=(data.height, data.width),
               settings={"checkpoint_sha256": sha256_file(ckpt),
                         "ema_weights": not params["raw_weights"],
                         "data": asdict(data)},
               inputs=[data.root, ckpt]).run(progress=ctx.progress)
    return {"folder": str(folder), "checkpoint": ckpt,
            "frames": len(train) * (1 + params["variants"])}


def execute_seg(spec: RunSpec, ctx: RunContext) -> dict[str, Any]:
    """Train and evaluate one segmenter of the grid (resumable)."""
    from ..config import from_dict
    from ..data.nyuv2 import NYUv2Dataset
    from ..segment import SegmenterTrainer

    params = spec.params
    options = copy.deepcopy(params["options"])
    train_set = None
    if params.get("mixdata"):
        mixed = ctx.result(params["mixdata"])
        if mixed is None:
            raise RuntimeError(f"run {spec.key}: the mixed data {params['mixdata']} has no "
                               "result yet")
        train_set = NYUv2Dataset(Path(mixed["folder"]), "train")
    elif params["mode"] != "none":
        options["mix_checkpoint"] = _generator_path(params, ctx, spec.key)
    cfg = from_dict({"data": copy.deepcopy(params["data"]), "segment": options})
    data, opts = cfg.data, cfg.segment
    trainer = SegmenterTrainer(data, ctx.run_dir(spec.key), opts, device=ctx.device,
                               progress=ctx.progress, train_set=train_set)
    result = trainer.fit(resume=True)
    return {name: params[name] for name in ("regime", "protocol", "generator", "mode",
                                            "ratio", "seed")} | {
        "miou": result["miou"], "pixel_accuracy": result["pixel_accuracy"],
        "per_class_iou": result["per_class_iou"], "seconds": result["seconds"],
        "train_frames": result["train_frames"], "test_frames": result["test_frames"],
        "arch": opts.arch, "steps": result["steps"], "train_miou": result["train_miou"],
        "curve": result["curve"]}
