"""The inference API (used by the CLIs, the bag tool and the ROS nodes) and its CLI.

>>> synth = Synthesizer.from_checkpoint("runs/rooms_small/final.pt", device="cpu")
>>> synth = Synthesizer.from_pretrained("rooms")   # the generator shipped in the package
>>> rgb, depth_m = synth.synth(label_map, seed=3)   # (H,W,3) uint8, (H,W) float32 metres

``python -m scmis_core.synthesize --checkpoint CKPT --source rooms --n 8 --variants 3
--out DIR`` turns a data set (or a folder of label PNGs, ``--labels DIR``) into RGB-D images,
several variants per label map with different seeds, in the NYUv2 layout
(``DIR/{rgb,depth,labels_40}/NAME_vK.png``, depth as 16-bit millimetres) plus a preview grid.
DIR must be new or empty; ``--overwrite`` replaces an earlier run's images (only in a folder
this command wrote, never one holding an input: :mod:`scmis_core.output_dirs`).
``--backend onnxruntime`` runs the generator's ONNX graph instead of PyTorch (``--checkpoint``
may then be a ``.onnx`` file from ``python -m scmis_core.export``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .checkpoint import CheckpointError, load_module_state
from .cli import (add_device_argument, add_memory_limit_argument, entry_point,
                  parse_size, seed_int, writable_folder, writable_parent)
from .config import ConfigError, from_dict
from .data.labels import voc_palette
from .data.transforms import one_hot
from .depth_range import unit_to_metres
from .engine.checkpoints import GanCheckpoint
from .models import build_generator
from .pretrained import resolve
from .models.noise import noise_shape, sample_z
from .resources import (DEFAULT_MAX_MEMORY_MB, ActivationProfile, check_limit,
                        generator_parameter_bytes)
from .runtime import select_device

#: Inference backends of :class:`Synthesizer`.
BACKENDS = ("torch", "onnxruntime")
#: ``synthesize --variants``: at most this many images per label map (three files each) ...
MAX_VARIANTS = 10_000
#: ... of which the preview grid shows the first few (its memory stays bounded)
PREVIEW_VARIANTS = 6


class Synthesizer:
    """Label maps -> (RGB uint8, depth metres float32) with a trained generator.

    ``synth(labels, seed=None)``: labels (H,W) or (B,H,W) integer class ids 0..N (0 = void).
    Any size works: maps whose sides are not multiples of ``2**num_scales`` (or that differ
    from ``size``) are resized (nearest) for the network and the outputs resized back (RGB
    bilinear, depth nearest). ``seed`` fixes the noise (same seed, same image); ``None`` draws
    fresh noise. Variants without an RGB (or depth) output return ``None`` for it.

    ``backend``: ``"torch"`` runs the generator module; ``"onnxruntime"`` runs its ONNX graph
    (:mod:`scmis_core.onnx_graph`; ``onnx_model`` = a ``.onnx`` file or bytes from
    ``python -m scmis_core.export``, else the generator is exported in memory, with symbolic
    H and W unless ``size`` is given) on the execution providers ``device`` selects (CUDA /
    TensorRT where this onnxruntime has them, CPU otherwise; ``providers`` overrides). The
    noise is drawn in torch for both, so a seed gives the same image on either backend.
    With onnxruntime, :meth:`synth_tensors` returns CPU tensors.

    ``max_memory_mb``: every call first estimates the memory of the generator at the call's
    batch and network size (:mod:`scmis_core.resources`) and refuses one beyond this limit
    with a :class:`~scmis_core.resources.ResourceLimitError` naming the size (0 / None = no
    limit); :meth:`from_checkpoint` also checks the weights before building the network.
    """

    def __init__(self, generator: torch.nn.Module | None, num_classes: int, *,
                 class_names: Sequence[str] = (), max_depth_m: float = 10.0,
                 size: tuple[int, int] | None = None, device: str | torch.device = "cpu",
                 config: dict[str, Any] | None = None, step: int = 0,
                 backend: str = "torch", onnx_model: bytes | str | Path | None = None,
                 providers: Sequence[str] | None = None,
                 max_memory_mb: float | None = DEFAULT_MAX_MEMORY_MB):
        if backend not in BACKENDS:
            raise ValueError(f"backend: expected one of {', '.join(BACKENDS)}, found "
                             f"{backend!r}")
        self.backend = backend
        # onnxruntime: torch does only the pre/post-processing, on the CPU; the session runs
        # on the providers that ``device`` selects.
        self.device = torch.device("cpu" if backend == "onnxruntime" else device)
        self.num_classes = int(num_classes)
        self.class_names = list(class_names)
        self.max_depth_m = float(max_depth_m)
        self.size = size
        self.config = config or {}
        self.step = step
        self.runner = None
        self.generator = None
        self.max_memory_mb = max_memory_mb
        self._profile: ActivationProfile | None = None
        if generator is not None:
            self.generator = generator.to(self.device).eval()
            self.z_dim = int(getattr(generator, "z_dim", 0))
            self.spatial_noise = bool(getattr(generator, "spatial_noise", False))
            self.multiple = 2 ** int(getattr(generator, "num_scales", 0) or
                                     self.config.get("model", {}).get("num_scales", 0))
            self.outputs = tuple(getattr(generator, "outputs", ("rgb", "depth")))
        elif backend != "onnxruntime" or onnx_model is None:
            raise ValueError("Synthesizer: a generator module is needed (only the "
                             "onnxruntime backend runs from onnx_model alone)")
        if backend == "onnxruntime":
            self._start_onnxruntime(onnx_model, device, providers)
        self._rng = torch.Generator().manual_seed(torch.seed() % 2**63)

    def _start_onnxruntime(self, onnx_model: bytes | str | Path | None,
                           device: str | torch.device,
                           providers: Sequence[str] | None) -> None:
        from .onnx_graph import OnnxGenerator, export_onnx

        if onnx_model is None:
            onnx_model = export_onnx(self.generator, self.num_classes,
                                     max_depth_m=self.max_depth_m, size=self.size,
                                     dynamic=self.size is None,
                                     metadata={"class_names": self.class_names,
                                               "step": self.step, "config": self.config})
        self.runner = OnnxGenerator(onnx_model, device, providers=providers)
        meta = self.runner.metadata
        if meta["num_classes"] != self.num_classes:
            raise ValueError(f"ONNX model: {meta['num_classes']} classes, expected "
                             f"{self.num_classes}")
        self.z_dim, self.spatial_noise = int(meta["z_dim"]), bool(meta["spatial_noise"])
        self.multiple = int(meta["multiple"])
        self.outputs = tuple(meta["outputs"])
        self.size = self.runner.size or self.size

    def estimate_memory(self, batch: int, height: int, width: int) -> float | None:
        """Estimated bytes of one call on ``batch`` label maps of ``height`` x ``width``:
        weights + activations at the network size + the input / output tensors (None when
        there is no torch module to measure, i.e. an onnxruntime model loaded alone)."""
        if self.generator is None:
            return None
        if self._profile is None:  # one forward pass at a small size, then cached
            side = 2 * self.multiple
            onehot = torch.zeros(1, self.num_classes, side, side, device=self.device)
            z_shape = noise_shape(self, 1, side, side)
            self._profile = ActivationProfile.measure(
                self.generator, (onehot, torch.zeros(z_shape, device=self.device)), side, side)
        weights = sum(t.numel() * t.element_size() for t in
                      list(self.generator.parameters()) + list(self.generator.buffers()))
        net_h, net_w = self._network_size(height, width)
        # labels (int64 + a float copy for resizing), outputs and their resized copies
        io_bytes = 48 * batch * height * width
        return weights + self._profile.peak_bytes(batch, net_h, net_w) + io_bytes

    def check_memory(self, batch: int, height: int, width: int) -> None:
        """Raise :class:`~scmis_core.resources.ResourceLimitError` when a call on ``batch``
        maps of ``height`` x ``width`` is estimated beyond ``max_memory_mb``."""
        if not self.max_memory_mb or self.max_memory_mb <= 0:
            return
        needed = self.estimate_memory(batch, height, width)
        if needed is None:
            return
        net_h, net_w = self._network_size(height, width)
        network = f", network input {net_h}x{net_w}" if (net_h, net_w) != (height, width) \
            else ""
        check_limit(needed, self.max_memory_mb,
                    f"synthesizing {batch} label map(s) of {height}x{width}{network}")

    @property
    def providers(self) -> list[str]:
        """Execution providers in use (onnxruntime), or ``["torch:<device>"]``."""
        return self.runner.providers if self.runner else [f"torch:{self.device}"]

    @classmethod
    def from_pretrained(cls, name: str = "rooms", **kwargs: Any) -> "Synthesizer":
        """The generator shipped with the package under ``name`` (``python -m
        scmis_core.pretrained list``); ``kwargs`` as for :meth:`from_checkpoint`."""
        return cls.from_checkpoint(name, **kwargs)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device = "auto",
                        use_ema: bool = True, size: tuple[int, int] | None = None,
                        backend: str = "torch", providers: Sequence[str] | None = None,
                        max_memory_mb: float | None = DEFAULT_MAX_MEMORY_MB
                        ) -> "Synthesizer":
        """Rebuild the generator from a training checkpoint (EMA weights when present), or
        from shipped weights by name (``"rooms"``: :func:`scmis_core.pretrained.resolve`).

        With ``backend="onnxruntime"`` the path may also be a ``.onnx`` file written by
        ``python -m scmis_core.export`` (no torch weights needed).

        Before building, the weights the stored config describes are counted on the meta
        device and refused beyond ``max_memory_mb``; after building, the memory of one call
        at ``size`` (else the config's ``data.height`` x ``data.width``) is checked too."""
        path = resolve(path, "gan")
        if Path(path).suffix.lower() == ".onnx":
            if backend != "onnxruntime":
                raise CheckpointError(f"checkpoint {path}: an ONNX model runs only with the "
                                      f"onnxruntime backend, not {backend!r}")
            from .onnx_graph import read_metadata

            meta = read_metadata(path)
            return cls(None, meta["num_classes"], class_names=meta.get("class_names", ()),
                       max_depth_m=meta["max_depth_m"], size=size, device=device,
                       config=meta.get("config", {}), step=int(meta.get("step", 0)),
                       backend=backend, onnx_model=path, providers=providers,
                       max_memory_mb=max_memory_mb)
        dev = device
        if backend == "torch" and isinstance(device, str):
            dev = select_device(device)
        ckpt = GanCheckpoint.load(path)
        try:
            cfg = from_dict(ckpt.config)
        except ConfigError as exc:
            raise CheckpointError(f"checkpoint {path}: its config is not valid: {exc}") from None
        num_classes = ckpt.num_classes
        weights = generator_parameter_bytes(cfg.model, num_classes)
        check_limit(weights, max_memory_mb,
                    f"checkpoint {path}: the weights of its generator ({cfg.model.variant}, "
                    f"model.width={cfg.model.width}, model.num_scales={cfg.model.num_scales})")
        gen = build_generator(cfg.model, num_classes)
        key = "G_ema" if use_ema and "G_ema" in ckpt.models else "G"
        load_module_state(gen, ckpt.models[key], path, key)
        synth = cls(gen, num_classes, class_names=ckpt.class_names,
                    max_depth_m=cfg.data.max_depth_m, size=size, device=dev,
                    config=ckpt.config, step=ckpt.step, backend=backend,
                    providers=providers, max_memory_mb=max_memory_mb)
        height, width = size or (cfg.data.height, cfg.data.width)
        synth.check_memory(1, height, width)
        return synth

    def _network_size(self, height: int, width: int) -> tuple[int, int]:
        if self.size is not None:
            height, width = self.size
        m = self.multiple
        return max(m, round(height / m) * m), max(m, round(width / m) * m)

    @torch.no_grad()
    def synth_tensors(self, labels: torch.Tensor, seed: int | None = None
                      ) -> dict[str, torch.Tensor]:
        """(B,H,W) int64 ids on any device -> dict of ``rgb`` (B,3,H,W) in [-1,1] and
        ``depth`` (B,1,H,W) metres at the input size, on this synthesizer's device."""
        if labels.ndim != 3:
            raise ValueError(f"labels: expected (B, H, W) class ids, found shape "
                             f"{tuple(labels.shape)}")
        if labels.dtype.is_floating_point or labels.dtype == torch.bool:
            raise ValueError(f"labels: expected integer class ids, found {labels.dtype}")
        batch, height, width = labels.shape
        self.check_memory(batch, height, width)  # before anything reads or copies the maps
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi > self.num_classes:
            raise ValueError(f"labels: expected class ids in 0..{self.num_classes}, found "
                             f"{lo}..{hi}")
        labels = labels.to(self.device, torch.int64)
        net_h, net_w = self._network_size(height, width)
        net_labels = labels
        if (net_h, net_w) != (height, width):
            net_labels = F.interpolate(labels[:, None].float(), size=(net_h, net_w),
                                       mode="nearest")[:, 0].long()
        rng = torch.Generator().manual_seed(seed) if seed is not None else self._rng
        z = sample_z(self, batch, net_h, net_w, rng)
        if self.runner is not None:
            arrays = self.runner(net_labels.cpu().numpy(), z.numpy())
            out = {k: torch.from_numpy(v) for k, v in arrays.items()}  # depth in metres
        else:
            out = self.generator(one_hot(net_labels, self.num_classes, check=False),
                                 z.to(self.device))
            if "depth" in out:
                out["depth"] = unit_to_metres(out["depth"].float(), self.max_depth_m)
        result = {}
        if "rgb" in out:
            rgb = out["rgb"].float()
            if (net_h, net_w) != (height, width):
                rgb = F.interpolate(rgb, size=(height, width), mode="bilinear",
                                    align_corners=False)
            result["rgb"] = rgb.clamp(-1, 1)
        if "depth" in out:
            depth = out["depth"].float()
            if (net_h, net_w) != (height, width):
                depth = F.interpolate(depth, size=(height, width), mode="nearest")
            result["depth"] = depth
        return result

    def synth(self, labels: np.ndarray, seed: int | None = None
              ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Label map(s) -> (rgb uint8 (…,H,W,3), depth_m float32 (…,H,W)); see class doc."""
        arr = np.asarray(labels)
        single = arr.ndim == 2
        if arr.ndim not in (2, 3):
            raise ValueError(f"labels: expected (H, W) or (B, H, W), found shape {arr.shape}")
        if not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"labels: expected integer class ids, found {arr.dtype}")
        self.check_memory(*(arr.shape if arr.ndim == 3 else (1, *arr.shape)))  # before copying
        tensor = torch.from_numpy(arr.astype(np.int64, copy=False))
        out = self.synth_tensors(tensor[None] if single else tensor, seed)
        rgb = depth = None
        if "rgb" in out:
            rgb = ((out["rgb"] + 1.0) * 127.5 + 0.5).clamp(0, 255).to(torch.uint8)
            rgb = rgb.permute(0, 2, 3, 1).cpu().numpy()
        if "depth" in out:
            depth = out["depth"][:, 0].cpu().numpy().astype(np.float32)
        if single:
            rgb = rgb[0] if rgb is not None else None
            depth = depth[0] if depth is not None else None
        return rgb, depth


# --------------------------------------------------------------------------------------------
# CLI


def _label_items(args: argparse.Namespace, num_classes: int):
    """Yield (name, labels) from --labels DIR or a data source."""
    from .data.io import read_labels

    if args.labels:
        paths = sorted(p for p in Path(args.labels).iterdir()
                       if p.suffix.lower() == ".png")
        if not paths:
            raise FileNotFoundError(f"--labels {args.labels}: no .png label maps found")
        for path in paths[: args.n or None]:
            yield path.stem, read_labels(path)
        return
    from .data.registry import open_from_args

    data = open_from_args(args, args.split, args.size, args.n or 16)
    if data.num_classes != num_classes:
        raise ValueError(f"--source {args.source}: {data.num_classes} classes, but the "
                         f"checkpoint was trained for {num_classes}")
    count = len(data) if not args.n else min(args.n, len(data))
    for i in range(count):
        sample = data[i]
        yield sample.name or f"{i:04d}", sample.labels


@entry_point
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m scmis_core.synthesize``."""
    from .data.io import write_depth, write_labels, write_rgb
    from .data.registry import add_source_arguments
    from .output_dirs import prepare_output_dir
    from .visualize import grid, rgbd_rows, save_png

    parser = argparse.ArgumentParser(
        prog="python -m scmis_core.synthesize",
        description="Synthesize RGB-D images from label maps with a trained checkpoint.")
    parser.add_argument("--checkpoint", required=True, help="generator checkpoint (.pt), or "
                        "the name of shipped weights: rooms")
    parser.add_argument("--labels", default="", help="folder of label PNGs (instead of "
                        "--source)")
    add_source_arguments(parser, required=False, default="rooms")
    parser.add_argument("--split", default="test", help="split of the data source")
    parser.add_argument("--n", type=int, default=8, help="label maps to use (0 = all)")
    parser.add_argument("--variants", type=int, default=3,
                        help="images per label map, seeds seed0 .. seed0+variants-1 (at most "
                             f"{MAX_VARIANTS}; the preview shows the first "
                             f"{PREVIEW_VARIANTS})")
    parser.add_argument("--seed0", type=seed_int, default=0, help="first noise seed")
    parser.add_argument("--size", type=parse_size, default=None, metavar="HxW",
                        help="HxW of procedural rooms frames / network input size")
    add_device_argument(parser)
    add_memory_limit_argument(parser)
    parser.add_argument("--raw-weights", action="store_true",
                        help="use the trained G weights instead of their EMA")
    parser.add_argument("--backend", choices=BACKENDS, default="torch",
                        help="inference backend (onnxruntime: --checkpoint may be a .onnx "
                        "from python -m scmis_core.export; needs requirements-onnx.txt)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--grid", default="", help="preview PNG (default OUT/grid.png)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the images of an earlier run in OUT (refused for a "
                        "folder this command did not write or one holding an input)")
    args = parser.parse_args(argv)
    if not 1 <= args.variants <= MAX_VARIANTS:
        parser.error(f"--variants: expected 1 to {MAX_VARIANTS} images per label map, found "
                     f"{args.variants}")
    if args.seed0 + args.variants > 2**32:
        parser.error(f"--seed0 + --variants: expected seeds below 2**32, found up to "
                     f"{args.seed0 + args.variants - 1}")
    grid_path = Path(args.grid) if args.grid else None
    if grid_path is not None:  # checked before the work, not after it
        if grid_path.suffix.lower() != ".png":
            parser.error(f"--grid: expected a .png file name, found {args.grid!r}")
        writable_parent(grid_path, "--grid")
    args.checkpoint = str(resolve(args.checkpoint, "gan"))  # a shipped name -> its file
    out = prepare_output_dir(args.out, overwrite=args.overwrite, kind="synthesize",
                             inputs=[args.checkpoint, args.labels, args.root],
                             tool="scmis_core.synthesize")
    writable_folder(args.out)  # an unwritable --out fails before any work
    synth = Synthesizer.from_checkpoint(args.checkpoint, device=args.device,
                                        use_ema=not args.raw_weights,
                                        backend=args.backend, max_memory_mb=args.max_memory_mb)
    rows = []
    if args.size:  # refuse a size beyond the memory limit before generating any frame
        synth.check_memory(1, *args.size)
    items = list(_label_items(args, synth.num_classes))
    palette = voc_palette(synth.num_classes + 1)
    for name, labels in tqdm(items, desc="synthesize", unit="map"):
        columns = []  # the preview's columns: the first PREVIEW_VARIANTS variants only
        for k in range(args.variants):
            rgb, depth = synth.synth(labels, seed=args.seed0 + k)
            stem = f"{name}_v{k}"
            shown = k < PREVIEW_VARIANTS and len(rows) < 8
            if rgb is not None:
                write_rgb(out / "rgb" / f"{stem}.png", rgb)
                if shown:
                    columns.append(("rgb", rgb[None]))
            if depth is not None:
                write_depth(out / "depth" / f"{stem}.png", depth)
                if shown:
                    columns.append(("depth", depth[None]))
            write_labels(out / "labels_40" / f"{stem}.png", labels)
        if len(rows) < 8:
            rows.extend(rgbd_rows(labels[None], columns, palette, synth.max_depth_m))
    grid_path = grid_path or out / "grid.png"
    save_png(grid(rows), grid_path)
    print(f"wrote {len(items) * args.variants} RGB-D images to {out} (preview {grid_path})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
