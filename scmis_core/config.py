"""Typed configuration for every scmis_core command.

One dataclass tree (data, model, loss, train, eval for the GAN; segment for segmenter
training) is loaded from a YAML file with ``yaml.safe_load``, overridden with dotted
``key=value`` arguments (``train.batch_size=4``), validated once with errors that name the key,
what was expected and what was found, and saved as YAML beside every run and inside every
checkpoint (as a plain dict).

Each field carries its documentation and its constraint in ``dataclasses.field(metadata=...)``:
``help`` (one line), and optionally ``choices`` (allowed values) or ``range`` ((lo, hi),
inclusive, ``None`` for an open end; ``above_min=True`` excludes ``lo`` itself).
``python -m scmis_core.config`` prints every key with its default and help, and validates a
file when given one. :func:`add_section_flags` turns the
fields of a section into ``--flag`` shorthands (``segment train --steps 100`` =
``segment.steps=100``) whose help, type and choices come from the same metadata.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from .cli import entry_point
from .variants import DISC_INPUTS, SEGMENTER_ARCHS, VARIANTS, pair_error, resolve_disc


class ConfigError(ValueError):
    """A configuration value is missing, of the wrong type or out of range."""


def _f(default: Any, help: str, *, choices: Iterable[Any] | None = None,
       range: tuple[float | None, float | None] | None = None,
       above_min: bool = False) -> Any:
    """Declare a config field with its help text and constraint (``above_min``: the lower
    end of ``range`` is excluded)."""
    meta: dict[str, Any] = {"help": help}
    if choices is not None:
        meta["choices"] = tuple(choices)
    if range is not None:
        meta["range"] = range
        meta["above_min"] = above_min
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return field(default=default, metadata=meta)


DATA_SOURCES = ("rooms", "nyuv2", "nyuv2-mat", "sunrgbd", "cityscapes", "folder")


@dataclass
class DataConfig:
    """Where the training / evaluation samples come from and how they are shaped."""

    source: str = _f("rooms", "data source: rooms | nyuv2 | nyuv2-mat | sunrgbd | cityscapes"
                     " | folder", choices=DATA_SOURCES)
    root: str = _f("", "path of the data set (folder, or the .mat file for nyuv2-mat); "
                   "unused for rooms")
    train_split: str = _f("train", "split used for training")
    test_split: str = _f("test", "split used for evaluation")
    height: int = _f(64, "image height fed to the networks (pixels)", range=(8, 4096))
    width: int = _f(64, "image width fed to the networks (pixels)", range=(8, 4096))
    num_classes: int = _f(0, "semantic classes without void; 0 = take it from the source",
                          range=(0, 1000))
    rooms_train_size: int = _f(2000, "number of procedural rooms frames in the train split",
                               range=(1, 10_000_000))
    rooms_test_size: int = _f(200, "number of procedural rooms frames in the test split",
                              range=(1, 10_000_000))
    rooms_homes: int = _f(0, "rooms in homes mode: the train split is this many homes x "
                          "rooms_views_per_home views (rooms_train_size is then ignored); "
                          "test frames are views of other homes; 0 = every frame its own "
                          "home", range=(0, 1_000_000))
    rooms_views_per_home: int = _f(25, "homes mode: views (camera pose, light, noise) of "
                                   "each home; test homes have as many", range=(1, 1_000_000))
    seed: int = _f(0, "seed of the procedural data set (rooms) and of data augmentation",
                   range=(0, 2**31 - 1))
    flip: bool = _f(True, "random horizontal flips during training")
    random_crop: bool = _f(False, "random crop (after resizing the short side) during training")
    max_depth_m: float = _f(10.0, "depth in metres that maps to the top of the network range",
                            range=(0.1, 1000.0))
    num_workers: int = _f(2, "data-loader worker processes (0 = load in the main process)",
                          range=(0, 64))
    cache: bool = _f(False, "render / read every frame once into a memory-mapped cache "
                     "(data.cache_dir) and train from it; frames must share one size")
    cache_dir: str = _f("", "frame cache folder; empty = $SCMIS_CACHE_DIR or "
                        "~/.cache/scmis/frames")


@dataclass
class ModelConfig:
    """Generator and discriminator architecture (docs/design.md §1-2)."""

    variant: str = _f("scmis", "generator/discriminator variant (docs/design.md §2)",
                      choices=tuple(VARIANTS))
    width: int = _f(16, "generator base channel width (paper / OASIS: 64)", range=(1, 1024))
    num_scales: int = _f(5, "encoder / decoder scales; input sides must be divisible by "
                         "2**num_scales", range=(1, 8))
    z_dim: int = _f(64, "noise channels concatenated to the one-hot labels", range=(0, 1024))
    spatial_noise: bool = _f(False, "per-pixel noise instead of one vector broadcast over HxW")
    spade_hidden: int = _f(32, "hidden channels of the SPADE gamma/beta nets (OASIS: 128)",
                           range=(1, 1024))
    share_spade_embedding: bool = _f(True, "SCMIS: embed each encoder tensor once and share "
                                     "it between all SPADE layers of both decoders")
    spectral_norm: bool = _f(True, "spectral normalisation on decoder convolutions")
    disc: str = _f("", "discriminator head: upsample | unet | pp | rgbd-pp (RGB-D variants "
                   "only) | oasis; empty = the variant's default (oasis for the oasis "
                   "variant, pp otherwise), filled in by validation",
                   choices=("",) + tuple(DISC_INPUTS))
    disc_width: int = _f(64, "width of the first VGG-19 stage of the discriminator "
                         "(64 = VGG-19 and ImageNet-loadable)", range=(1, 1024))
    disc_depth: int = _f(4, "VGG-19 stages kept in the AVGG discriminator backbone: it ends "
                         "at relu<depth>_1 (4 matches the paper's Table 4 sizes; 5 = up to "
                         "relu5_1)", range=(2, 5))
    disc_head_width: int = _f(128, "channels of the discriminator head", range=(1, 2048))
    disc_logit_stride: int = _f(1, "unet / pp heads: 1 = logits fused down to full resolution "
                                "(paper); 2 = the head stops at half resolution and its logits "
                                "are upsampled bilinearly (a third fewer D FLOPs at 64x64 with "
                                "a 32-wide pp head); a power of two below 2**disc_depth",
                                range=(1, 16))
    vgg_weights: str = _f("", "local torchvision-format VGG-19 state_dict (.pth) to start the "
                          "discriminator backbone from; empty = random init (never downloaded)")


@dataclass
class LossConfig:
    """Loss weights of eq. 9 and the perceptual-loss choice (docs/design.md §1)."""

    lambda_ap: float = _f(1.0, "weight of the (adaptive) perceptual loss, eq. 5",
                          range=(0.0, None))
    lambda_depth: float = _f(1.0, "weight of the L1 depth loss, eq. 6/9", range=(0.0, None))
    lambda_mix: float = _f(10.0, "weight of the LabelMix regulariser, eq. 7/9",
                           range=(0.0, None))
    perceptual: str = _f("adaptive", "perceptual loss: none | adaptive | vgg-in | vgg-cs",
                         choices=("none", "adaptive", "vgg-in", "vgg-cs"))
    perceptual_weights: str = _f("", "local VGG-19 weights for vgg-in / vgg-cs (.pth)")
    labelmix: bool = _f(True, "use the LabelMix regulariser for D")
    labelmix_every: int = _f(1, "lazy LabelMix: the regulariser runs on every k-th D update "
                             "only, weighted k * lambda_mix (as StyleGAN2's lazy R1); 1 = "
                             "every update (paper)", range=(1, 1000))


@dataclass
class TrainConfig:
    """Optimisation, logging and checkpointing."""

    steps: int = _f(2000, "generator steps to train", range=(1, None))
    batch_size: int = _f(4, "images per step (per process under DDP)", range=(1, 4096))
    lr_g: float = _f(1e-4, "Adam learning rate of G", range=(0.0, 1.0))
    lr_d: float = _f(4e-4, "Adam learning rate of D", range=(0.0, 1.0))
    beta1: float = _f(0.0, "Adam beta1", range=(0.0, 1.0))
    beta2: float = _f(0.999, "Adam beta2", range=(0.0, 1.0))
    lr_decay_steps: int = _f(0, "the learning rates of G and D fall linearly towards 0 over "
                             "the last lr_decay_steps of train.steps (SPADE / pix2pixHD); "
                             "0 = constant", range=(0, None))
    ema_decay: float = _f(0.9999, "EMA decay of the G weights, warmed up as min(decay, "
                          "(1+step)/(10+step)) (0 disables EMA)",
                          range=(0.0, 1.0))
    seed: int = _f(0, "global seed", range=(0, 2**31 - 1))
    device: str = _f("auto", "auto | cpu | cuda | cuda:N")
    amp: str = _f("none", "autocast precision on CUDA: none | bf16 | fp16",
                  choices=("none", "bf16", "fp16"))
    channels_last: bool = _f(False, "channels_last memory format on CUDA")
    compile: bool = _f(False, "torch.compile the networks")
    threads: int = _f(0, "intra-op CPU threads of torch (0 = torch's default: all cores)",
                      range=(0, 1024))
    share_fake: bool = _f(True, "one generator forward per step serves the D and the G "
                          "update (false: a second forward with a second noise draw)")
    fused_ema: bool = _f(True, "update the EMA generator with one fused foreach lerp "
                         "(false: one lerp per tensor; same numbers)")
    split_d: bool = _f(True, "CPU with >= 2 intra-op threads: run each discriminator pass "
                       "as two half batches on two threads of one intra-op thread each "
                       "(same numbers up to float rounding; D has no batch statistics); "
                       "ignored on CUDA, with compile, autocast or DDP")
    real_features_only: bool = _f(True, "eq. 4's discriminator features of the real images "
                                  "from its backbone alone (false: a full pass whose logits "
                                  "are not used; same numbers)")
    fused_adam: bool = _f(True, "torch's fused Adam (one kernel for all tensors, CPU and "
                          "CUDA; false: its per-tensor loop, 7x slower on CPU for rooms_small)")
    out_dir: str = _f("runs", "folder that holds the run folders")
    run_name: str = _f("", "run folder name; empty = <config name>-<timestamp>")
    log_every: int = _f(10, "steps between metric log lines", range=(1, None))
    sample_every: int = _f(200, "steps between sample grids", range=(1, None))
    ckpt_every: int = _f(500, "steps between checkpoints", range=(1, None))
    eval_every: int = _f(0, "steps between FID evaluations (0 = only at the end)",
                         range=(0, None))
    keep_last: int = _f(3, "checkpoints kept besides the best one", range=(1, 1000))


@dataclass
class EvalConfig:
    """Evaluation (FID, semantic consistency mIoU, depth errors)."""

    num_images: int = _f(200, "generated images used for FID / depth errors",
                         range=(2, 1_000_000))
    batch_size: int = _f(8, "batch size of evaluation", range=(1, 4096))
    segmenter: str = _f("", "segmentation checkpoint for the semantic-consistency mIoU")


@dataclass
class SegmentConfig:
    """Segmenter training (``python -m scmis_core.segment train``, the experiments' judges and
    segmenters); the data comes from the ``data`` section."""

    arch: str = _f("unet-rgbd", "segmenter architecture", choices=tuple(SEGMENTER_ARCHS))
    arch_kwargs: dict[str, Any] = _f({}, "arguments of the architecture, e.g. {base_width: 16, "
                                     "decoder_blocks: 1}")
    steps: int = _f(600, "optimiser steps", range=(1, None))
    batch_size: int = _f(8, "images per step", range=(1, None))
    optimizer: str = _f("adamw", "optimiser: adamw | sgd", choices=("adamw", "sgd"))
    lr: float = _f(2e-3, "peak learning rate of the schedule (> 0)", range=(0, 10.0),
                   above_min=True)
    weight_decay: float = _f(1e-4, "weight decay of the optimiser", range=(0.0, None))
    momentum: float = _f(0.9, "SGD momentum (sgd only)", range=(0.0, 1.0))
    schedule: str = _f("onecycle", "learning-rate schedule: onecycle | constant",
                       choices=("onecycle", "constant"))
    class_weights: str = _f("eq3", "class weights of the loss: eq3 (per-batch inverse "
                            "frequency) | median (median frequency) | none",
                            choices=("eq3", "median", "none"))
    max_class_weight: float = _f(100.0, "upper clamp of the eq3 class weights",
                                 range=(0.0, None))
    scale_min: float = _f(1.0, "smallest random rescaling of a training image (then crop / "
                          "pad to the size)", range=(0.1, 10.0))
    scale_max: float = _f(1.0, "largest random rescaling of a training image (>= scale_min)",
                          range=(0.1, 10.0))
    multiscale_loss: bool = _f(True, "supervise the side outputs of ESANet too")
    seed: int = _f(0, "seed of batches, weights, augmentation and mixing",
                   range=(0, 2**31 - 1))
    train_frames: int = _f(0, "train on the first N training frames (0 = all)",
                           range=(0, None))
    cache_mb: int = _f(1024, "keep the training frames in memory when they fit in this many "
                       "MiB (0 = never)", range=(0, None))
    eval_frames: int = _f(0, "test frames evaluated (0 = all)", range=(0, None))
    eval_every: int = _f(0, "steps between test evaluations (0 = only at the end)",
                         range=(0, None))
    train_eval_frames: int = _f(200, "training frames (the first N, unaugmented) also scored "
                                "at every evaluation: the train-split mIoU of curve.json, "
                                "the check for overfitting (0 = none)", range=(0, None))
    ckpt_every: int = _f(0, "steps between step checkpoints (0 = none)", range=(0, None))
    keep_last: int = _f(2, "step checkpoints kept", range=(1, None))
    log_every: int = _f(20, "steps between metric log lines", range=(1, None))
    backbone_weights: str = _f("", "local torchvision-format ResNet weights for the ESANet "
                               "encoder (never downloaded)")
    mix_checkpoint: str = _f("", "generator checkpoint for online class mixing (empty = off)")
    mix_ratio: float = _f(0.7, "class-mix ratio: share of the classes replaced",
                          range=(0.0, 1.0))
    mix_mode: str = _f("rgb", "what class mixing replaces: rgb | depth | rgbd",
                       choices=("rgb", "depth", "rgbd"))
    mix_p: float = _f(0.5, "probability that a training sample is mixed", range=(0.0, 1.0))
    mix_raw_weights: bool = _f(False, "mix with the generator's raw weights instead of its EMA "
                               "weights")
    tensorboard: bool = _f(True, "write metrics.jsonl and TensorBoard logs")


@dataclass
class Config:
    """The whole configuration tree."""

    name: str = _f("default", "name of this configuration (used in run folder names)")
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    segment: SegmentConfig = field(default_factory=SegmentConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (YAML/JSON/``torch.save`` safe)."""
        return dataclasses.asdict(self)

    def validate(self) -> "Config":
        """Check cross-field constraints; raise :class:`ConfigError` naming the keys."""
        _validate_tree(self, "")
        self.model.disc = resolve_disc(self.model.variant, self.model.disc)
        problem = pair_error(self.model.variant, self.model.disc)
        if problem:
            raise ConfigError(problem)
        div = 2 ** self.model.num_scales
        for key in ("height", "width"):
            value = getattr(self.data, key)
            if value % div:
                raise ConfigError(
                    f"data.{key}: expected a multiple of 2**model.num_scales = {div}, "
                    f"found {value}")
        if self.data.source != "rooms" and not self.data.root:
            raise ConfigError(f"data.root: expected the path of the {self.data.source} data "
                              "set, found an empty string")
        dev = self.train.device
        if not (dev in ("auto", "cpu", "cuda") or
                (dev.startswith("cuda:") and dev[5:].isdigit())):
            raise ConfigError(f"train.device: expected auto, cpu, cuda or cuda:N, "
                              f"found {dev!r}")
        seg = self.segment
        if seg.scale_min > seg.scale_max:
            raise ConfigError(f"segment.scale_min: expected at most segment.scale_max = "
                              f"{seg.scale_max}, found {seg.scale_min}")
        return self


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against a field type; ints are accepted for floats."""
    if typing.get_origin(tp) is dict:  # dict[str, Any]: a mapping with string keys
        value = {} if value is None else value
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise ConfigError(f"{key}: expected a mapping of names to values, found "
                              f"{value!r} ({type(value).__name__})")
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            value = float(value)
        except OverflowError:
            raise ConfigError(f"{key}: expected a finite number, found an integer of "
                              f"{len(str(value))} digits") from None
    if tp is float and isinstance(value, str):
        try:  # YAML 1.1 reads "1e-4" (no dot) as a string
            value = float(value)
        except ValueError:
            pass
    if tp is float and isinstance(value, float) and not math.isfinite(value):
        # NaN compares false with everything, so it would slip through every range check
        # (and e.g. ``lambda_ap > 0`` would silently switch a loss off).
        raise ConfigError(f"{key}: expected a finite number, found {value!r}")
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected a bool (true/false), found {value!r}")
        return value
    if tp is int and isinstance(value, bool):
        raise ConfigError(f"{key}: expected an int, found {value!r}")
    if tp is str and value is None:
        return ""
    if not isinstance(value, tp):
        raise ConfigError(f"{key}: expected {_type_name(tp)}, found {value!r} "
                          f"({type(value).__name__})")
    return value


def _validate_tree(node: Any, prefix: str) -> None:
    hints = typing.get_type_hints(type(node))
    for f in dataclasses.fields(node):
        key = f"{prefix}{f.name}"
        value = getattr(node, f.name)
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            _validate_tree(value, key + ".")
            continue
        value = _coerce(value, tp, key)
        setattr(node, f.name, value)
        choices = f.metadata.get("choices")
        if choices is not None and value not in choices:
            names = ", ".join(repr(c) if c == "" else str(c) for c in choices)
            raise ConfigError(f"{key}: expected one of {names}, found {value!r}")
        rng = f.metadata.get("range")
        if rng is not None:
            lo, hi = rng
            above = f.metadata.get("above_min", False)
            if ((lo is not None and (value <= lo if above else value < lo))
                    or (hi is not None and value > hi)):
                lo_s = f"{'(' if above else '['}{'-inf' if lo is None else lo}"
                hi_s = "inf" if hi is None else hi
                raise ConfigError(f"{key}: expected a value in {lo_s}, {hi_s}], "
                                  f"found {value!r}")


def _merge(node: Any, data: dict[str, Any], prefix: str) -> None:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, "
                          f"found {data!r}")
    hints = typing.get_type_hints(type(node))
    names = {f.name for f in dataclasses.fields(node)}
    for name, value in data.items():
        key = f"{prefix}{name}"
        if name not in names:
            raise ConfigError(f"{key}: unknown key; expected one of {', '.join(sorted(names))}")
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            _merge(getattr(node, name), value, key + ".")
        else:
            setattr(node, name, value)


def from_dict(data: dict[str, Any] | None) -> Config:
    """Build and validate a :class:`Config` from a (partial) nested dict."""
    cfg = Config()
    _merge(cfg, data or {}, "")
    return cfg.validate()


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b=value`` into (["a", "b"], value); the value is parsed as YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected key=value (e.g. train.batch_size=4)")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"override {text!r}: expected a key before '='")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def _set_path(data: dict[str, Any], path: list[str], value: Any, what: str) -> None:
    node = data
    for part in path[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{what}: {part} is not a section")
    node[path[-1]] = value


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply dotted overrides to a nested dict (in place) and return it."""
    for text in overrides:
        path, value = parse_override(text)
        _set_path(data, path, value, f"override {text!r}")
    return data


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into a dict, with a clear error when it is unusable."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path}: not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path}: not UTF-8 text (byte {exc.start}: "
                          f"{exc.reason})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path}: not valid YAML "
                          f"({' '.join(str(exc).split())})") from None
    except (OSError, RecursionError) as exc:  # unreadable; absurdly nested YAML
        raise ConfigError(f"config file {path}: cannot be read "
                          f"({getattr(exc, 'strerror', None) or type(exc).__name__})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping at top level, "
                          f"found {type(data).__name__}")
    return data


def load_config(path: str | Path | None = None, overrides: Iterable[str] = (),
                values: dict[str, Any] | None = None) -> Config:
    """Load ``path`` (or the defaults), apply dotted overrides, then ``values`` (dotted key ->
    typed value, e.g. the flags of :func:`section_flag_values`), and validate once.

    The config name defaults to the file's stem.
    """
    data: dict[str, Any] = {}
    overrides = list(overrides)
    values = dict(values or {})
    if path is None:
        apply_overrides(data, overrides)
        _apply_values(data, values)
        return from_dict(data)
    data = load_yaml(path)
    data.setdefault("name", Path(path).stem)
    try:
        apply_overrides(data, overrides)
        _apply_values(data, values)
        return from_dict(data)
    except ConfigError as exc:  # name the file as well as the key
        changed = " with overrides" if overrides or values else ""
        raise ConfigError(f"config file {path}{changed}: {exc}") from None


def _apply_values(data: dict[str, Any], values: dict[str, Any]) -> None:
    for key, value in values.items():
        _set_path(data, key.split("."), value, key)


def save_config(cfg: Config, path: str | Path) -> None:
    """Write the resolved config as YAML."""
    Path(path).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def describe(node: Any = None, prefix: str = "") -> list[str]:
    """One line per key: ``key = default  # help``."""
    node = Config() if node is None else node
    lines = []
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        if dataclasses.is_dataclass(value):
            lines.extend(describe(value, f"{prefix}{f.name}."))
        else:
            lines.append(f"{prefix}{f.name} = {value!r}  # {f.metadata.get('help', '')}")
    return lines


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_section_flags(parser: argparse.ArgumentParser, section: str,
                      aliases: dict[str, tuple[str, ...]] | None = None) -> None:
    """One ``--flag`` per field of config section ``section`` (e.g. ``"segment"``): a shorthand
    for the dotted override ``section.field=value``, with the field's help, type and choices.

    Every flag defaults to None (not given), so a value from the YAML file is only replaced
    by a flag that is given; booleans get ``--flag`` / ``--no-flag``, mappings ``--flag
    KEY=VALUE ...``. ``aliases`` adds further option strings to a field's flag. Read the
    given ones back with :func:`section_flag_values`.
    """
    node = getattr(Config(), section)
    hints = typing.get_type_hints(type(node))
    group = parser.add_argument_group(
        f"{section} options", f"shorthands of the dotted overrides {section}.KEY=VALUE; "
        f"given flags replace the --config file's values (python -m scmis_core.config lists "
        f"every key)")
    for f in dataclasses.fields(node):
        tp, default = hints[f.name], getattr(node, f.name)
        names = (_flag(f.name),) + tuple((aliases or {}).get(f.name, ()))
        text = f"{f.metadata.get('help', '')} (default {default!r})"
        kwargs: dict[str, Any] = {"dest": f"{section}__{f.name}", "default": None,
                                  "help": text.replace("%", "%%")}
        if tp is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(tp) is dict:
            kwargs.update(nargs="*", metavar="KEY=VALUE")
        else:
            kwargs.update(type=tp, metavar=f.name.upper())
            if "choices" in f.metadata:
                kwargs.update(choices=f.metadata["choices"], metavar=None)
        group.add_argument(*names, **kwargs)


def _parse_pairs(items: Iterable[str], flag: str) -> dict[str, Any]:
    """``["block=basic", "base_width=16"]`` -> {"block": "basic", "base_width": 16} (YAML)."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"{flag} {item!r}: expected KEY=VALUE (e.g. base_width=16)")
        key, raw = item.split("=", 1)
        if "." in key:
            raise ConfigError(f"{flag} {item!r}: expected an argument name such as "
                              "base_width; put dotted overrides before this flag")
        try:
            out[key.strip()] = yaml.safe_load(raw)
        except yaml.YAMLError:
            out[key.strip()] = raw
    return out


def section_flag_values(args: argparse.Namespace, section: str) -> dict[str, Any]:
    """The :func:`add_section_flags` flags that were given: {"section.field": value}."""
    out = {}
    for f in dataclasses.fields(getattr(Config(), section)):
        value = getattr(args, f"{section}__{f.name}", None)
        if value is None:
            continue
        if isinstance(value, list):
            value = _parse_pairs(value, _flag(f.name))
        out[f"{section}.{f.name}"] = value
    return out


@entry_point
def main(argv: list[str] | None = None) -> int:
    """``python -m scmis_core.config [CONFIG] [key=value ...]``: print the resolved config."""
    parser = argparse.ArgumentParser(
        prog="python -m scmis_core.config",
        description="Print every config key with its default and help, or resolve and "
                    "validate a config file with overrides.")
    parser.add_argument("config", nargs="?", help="YAML config file to resolve")
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. train.steps=10")
    args = parser.parse_args(argv)
    if args.config is not None and "=" in args.config:
        args.overrides.insert(0, args.config)
        args.config = None
    if args.config is None and not args.overrides:
        print("\n".join(describe()))
        return 0
    cfg = load_config(args.config, args.overrides)
    sys.stdout.write(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
