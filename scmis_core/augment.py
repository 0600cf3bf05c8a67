"""Class-mix augmentation (paper Sec. 4.2, docs/design.md §4): real + generated RGB-D per class.

For a real frame (rgb, depth, labels) and an image synthesized from the same label map,
:func:`class_mix` picks ``round(ratio * K)`` of the K non-void classes present and replaces
the RGB, the depth or both (``mode`` in ``rgb`` / ``depth`` / ``rgbd``) at the pixels of those
classes. The label map is unchanged; void (id 0) pixels are never replaced. ``round`` is
half-up (``floor(ratio * K + 0.5)``), so ratio 0.5 of 3 classes replaces 2.

:func:`class_mix` works on one numpy frame (the ROS mix node, offline generation);
:func:`class_mix_batch` does the same on a torch batch on any device (online mixing in the
training loop, :class:`OnlineClassMix`).
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from tqdm import tqdm

from .cli import entry_point
from .data.base import LabelledDataset
from .pretrained import sha256_file

#: The three things a class mix can replace.
MIX_MODES = ("rgb", "depth", "rgbd")


def num_classes_to_replace(ratio: float, present: int) -> int:
    """``round(ratio * present)`` with halves rounded up, clipped to 0..present."""
    return min(present, max(0, math.floor(ratio * present + 0.5)))


def _check_mix_args(ratio: float, mode: str) -> None:
    if mode not in MIX_MODES:
        raise ValueError(f"class mix mode: expected one of {', '.join(MIX_MODES)}, "
                         f"found {mode!r}")
    if not (0.0 <= ratio <= 1.0) or not math.isfinite(ratio):
        raise ValueError(f"class mix ratio: expected a value in [0, 1], found {ratio!r}")


def class_mix(rgb: np.ndarray, depth_m: np.ndarray | None, labels: np.ndarray,
              synth_rgb: np.ndarray | None, synth_depth_m: np.ndarray | None, ratio: float,
              mode: str, rng: np.random.Generator
              ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Replace ``round(ratio*K)`` random present classes of a real frame by synthesized pixels.

    rgb uint8 (H,W,3), depth_m float32 (H,W) metres, labels integer (H,W) ids with 0 = void;
    ``synth_rgb`` / ``synth_depth_m`` the same for the synthesized image (only the modality
    that ``mode`` replaces is needed; the other may be None). The classes are drawn with
    ``rng`` (without replacement). Returns new arrays (inputs are not modified):
    ``(rgb, depth_m, chosen_ids)`` with ``chosen_ids`` int64 sorted.
    """
    _check_mix_args(ratio, mode)
    labels = np.asarray(labels)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"class mix labels: expected integer (H, W) ids, found "
                         f"{labels.dtype} {labels.shape}")
    hw = labels.shape
    if rgb.shape != hw + (3,):
        raise ValueError(f"class mix rgb: expected shape {hw + (3,)} (the label map's size), "
                         f"found {rgb.shape}")
    if depth_m is not None and depth_m.shape != hw:
        raise ValueError(f"class mix depth_m: expected shape {hw}, found {depth_m.shape}")
    if mode in ("rgb", "rgbd") and (synth_rgb is None or synth_rgb.shape != hw + (3,)):
        raise ValueError(f"class mix mode {mode}: expected synth_rgb of shape {hw + (3,)}, "
                         f"found {None if synth_rgb is None else synth_rgb.shape}")
    if mode in ("depth", "rgbd"):
        if depth_m is None:
            raise ValueError(f"class mix mode {mode}: expected a real depth_m, found None")
        if synth_depth_m is None or synth_depth_m.shape != hw:
            raise ValueError(f"class mix mode {mode}: expected synth_depth_m of shape {hw}, "
                             f"found {None if synth_depth_m is None else synth_depth_m.shape}")
    if labels.size and labels.min() < 0:
        raise ValueError(f"class mix labels: expected ids >= 0, found {int(labels.min())}")

    present = np.unique(labels)
    present = present[present != 0]
    count = num_classes_to_replace(ratio, len(present))
    chosen = np.sort(rng.choice(present, size=count, replace=False)).astype(np.int64)
    lut = np.zeros(int(labels.max(initial=0)) + 1, dtype=bool)
    lut[chosen] = True
    mask = lut[labels]  # (H, W) True where the pixel is taken from the synthesized image

    out_rgb = rgb.copy()
    out_depth = None if depth_m is None else depth_m.copy()
    if mode in ("rgb", "rgbd"):
        out_rgb[mask] = synth_rgb[mask]
    if mode in ("depth", "rgbd"):
        out_depth[mask] = synth_depth_m[mask]
    return out_rgb, out_depth, chosen


def class_mix_masks(labels: torch.Tensor, num_classes: int, ratio: float,
                    generator: torch.Generator | None = None,
                    apply: torch.Tensor | None = None) -> torch.Tensor:
    """Per-sample random choice of ``round(ratio*K_b)`` present classes, as a pixel mask.

    labels (B,H,W) ids 0..N; ``apply`` (B,) bool selects the samples that are mixed at all
    (others get an all-False mask). Random scores come from ``generator`` (CPU); the choice
    is the ``n_b`` lowest-scoring present classes of each sample. Returns (B,H,W) bool.
    """
    batch = labels.shape[0]
    flat = labels.reshape(batch, -1).long()  # (B, H*W)
    counts = torch.zeros(batch, num_classes + 1, dtype=torch.long, device=labels.device)
    counts.scatter_add_(1, flat, torch.ones_like(flat))  # (B, N+1) pixel count per class
    present = counts > 0
    present[:, 0] = False  # void is never replaced
    scores = torch.rand(batch, num_classes + 1, generator=generator).to(labels.device)
    scores = torch.where(present, scores, torch.full_like(scores, 2.0))  # absent sort last
    rank = scores.argsort(dim=1).argsort(dim=1)  # (B, N+1) rank of each class's score
    k = present.sum(1)  # (B,)
    n = torch.floor(k.to(torch.float64) * ratio + 0.5).long().clamp(max=k)  # (B,)
    chosen = present & (rank < n[:, None])  # (B, N+1)
    if apply is not None:
        chosen &= apply.to(labels.device)[:, None]
    return torch.gather(chosen, 1, flat).reshape(labels.shape)  # (B, H, W)


def class_mix_batch(rgb: torch.Tensor, depth_m: torch.Tensor, labels: torch.Tensor,
                    synth_rgb: torch.Tensor | None, synth_depth_m: torch.Tensor | None,
                    num_classes: int, ratio: float, mode: str,
                    generator: torch.Generator | None = None, p: float = 1.0
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Batched :func:`class_mix` on tensors; each sample is mixed with probability ``p``.

    rgb (B,3,H,W) (any range, same as synth_rgb), depth_m (B,1,H,W) metres, labels (B,H,W).
    Returns ``(rgb, depth_m, mask)`` with mask (B,H,W) bool of the replaced pixels.
    """
    _check_mix_args(ratio, mode)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"class mix probability: expected a value in [0, 1], found {p!r}")
    apply = torch.rand(labels.shape[0], generator=generator) < p  # (B,)
    mask = class_mix_masks(labels, num_classes, ratio, generator, apply)
    m = mask[:, None]  # (B, 1, H, W)
    if mode in ("rgb", "rgbd"):
        if synth_rgb is None:
            raise ValueError(f"class mix mode {mode}: expected synth_rgb, found None")
        rgb = torch.where(m, synth_rgb.to(rgb.dtype), rgb)
    if mode in ("depth", "rgbd"):
        if synth_depth_m is None:
            raise ValueError(f"class mix mode {mode}: expected synth_depth_m, found None")
        depth_m = torch.where(m, synth_depth_m.to(depth_m.dtype), depth_m)
    return rgb, depth_m, mask


# --------------------------------------------------------------------------------------------
# Online mixing (training loop) and the seeds shared by online and offline mixing.


def variant_seed(seed: int, index: int, variant: int) -> int:
    """Seed of variant ``variant`` of frame ``index`` (noise and class choice), < 2**63."""
    words = np.random.SeedSequence([seed, index, variant]).generate_state(2, np.uint32)
    return int((int(words[0]) << 31) ^ int(words[1]))


class OnlineClassMix:
    """Class-mix a training batch on the fly with a :class:`~scmis_core.synthesize.Synthesizer`.

    Each sample is mixed with probability ``p``: an RGB-D image is synthesized from its label
    map and :func:`class_mix_batch` replaces ``round(ratio*K)`` of its classes. The
    randomness of step ``s`` depends only on (seed, s), so a resumed run mixes exactly as an
    uninterrupted one. ``batch`` is a :class:`~scmis_core.data.transforms.TorchDataset` batch
    (rgb in [-1,1], depth_m metres, depth in [-1,1], labels); ``depth`` is recomputed from
    the mixed ``depth_m`` with ``max_depth_m``.
    """

    def __init__(self, synth, ratio: float, mode: str, p: float, *, seed: int = 0,
                 max_depth_m: float = 10.0, num_classes: int | None = None):
        _check_mix_args(ratio, mode)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"class mix probability: expected a value in [0, 1], found {p!r}")
        if num_classes is not None and synth.num_classes != num_classes:
            raise ValueError(f"class mix generator: trained for {synth.num_classes} classes, "
                             f"the training data has {num_classes}")
        needed = ("rgb",) if mode == "rgb" else ("depth",) if mode == "depth" else \
            ("rgb", "depth")
        missing = [m for m in needed if m not in synth.outputs]
        if missing:
            raise ValueError(f"class mix mode {mode}: the generator has no {missing[0]} output "
                             f"(its outputs: {', '.join(synth.outputs)})")
        self.synth, self.ratio, self.mode, self.p = synth, ratio, mode, p
        self.seed, self.max_depth_m = seed, max_depth_m

    def __call__(self, batch: dict[str, Any], step: int) -> dict[str, Any]:
        """Return a new batch dict with mixed ``rgb``, ``depth``, ``depth_m`` (and ``mixed``
        (B,H,W) bool of the replaced pixels)."""
        from .depth_range import metres_to_unit

        gen = torch.Generator().manual_seed(variant_seed(self.seed, step, 0))
        labels = batch["labels"]
        chosen = torch.rand(labels.shape[0], generator=gen) < self.p  # (B,)
        out = dict(batch)
        out["mixed"] = torch.zeros(labels.shape, dtype=torch.bool)
        if not bool(chosen.any()):
            return out
        idx = chosen.nonzero()[:, 0]
        noise_seed = int(torch.randint(0, 2**62, (1,), generator=gen))
        synth = self.synth.synth_tensors(labels[idx], seed=noise_seed)
        s_rgb = synth.get("rgb")
        s_depth = synth.get("depth")
        rgb, depth_m, mask = class_mix_batch(
            batch["rgb"][idx], batch["depth_m"][idx], labels[idx],
            None if s_rgb is None else s_rgb.cpu(), None if s_depth is None else s_depth.cpu(),
            self.synth.num_classes, self.ratio, self.mode, gen)
        out["rgb"] = batch["rgb"].clone()
        out["rgb"][idx] = rgb
        out["depth_m"] = batch["depth_m"].clone()
        out["depth_m"][idx] = depth_m
        valid = out["depth_m"] > 0
        out["depth"] = torch.where(valid, metres_to_unit(out["depth_m"], self.max_depth_m),
                                   torch.full_like(out["depth_m"], -1.0))
        out["mixed"][idx] = mask
        return out


# --------------------------------------------------------------------------------------------
# Offline generation of a mixed data set in the NYUv2 layout.

MANIFEST = "manifest.json"
_DONE_DIR = ".shards"
_TMP_DIR = ".tmp"


def _write_atomic(out: Path, final: Path, write: Callable[[Path], None]) -> None:
    """Write through ``out/.tmp`` (never listed by the loaders), then rename into place."""
    tmp_dir = out / _TMP_DIR
    tmp_dir.mkdir(parents=True, exist_ok=True)
    tmp = tmp_dir / f"{os.getpid()}-{final.parent.name}-{final.name}"
    try:
        write(tmp)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_frame(out: Path, split: str, stem: str, rgb: np.ndarray, depth_m: np.ndarray,
                 labels: np.ndarray) -> None:
    from .data.io import write_depth, write_labels, write_rgb

    base = out / split
    _write_atomic(out, base / "rgb" / f"{stem}.png", lambda p: write_rgb(p, rgb))
    _write_atomic(out, base / "depth" / f"{stem}.png", lambda p: write_depth(p, depth_m))
    _write_atomic(out, base / "labels_40" / f"{stem}.png", lambda p: write_labels(p, labels))


class AugmentJob:
    """One offline class-mix run: which frames, how many variants, where, with what seeds.

    Work is split into shards of ``shard_size`` frames; a shard is done when its marker
    ``OUT/.shards/<split>_NNNNN.json`` exists (written after all its files). Every file is
    written to ``OUT/.tmp`` and renamed into place, so an interrupted run leaves no
    half-written image; re-running redoes only unfinished shards, with the same per-frame
    seeds (:func:`variant_seed`), hence identical files. ``OUT`` must be new, empty or an
    earlier run's (marker ``.scmis-output.json``), and must not be, hold or lie inside one of
    ``inputs`` (data root, checkpoint): :mod:`scmis_core.output_dirs`.
    """

    def __init__(self, synth, train: LabelledDataset, out: str | Path, *, variants: int,
                 ratio: float, mode: str, seed: int = 0, shard_size: int = 32,
                 include_real: bool = True, test: LabelledDataset | None = None,
                 size: tuple[int, int] | None = None, settings: dict[str, Any] | None = None,
                 inputs: Sequence[str | Path | None] = ()):
        _check_mix_args(ratio, mode)
        if variants < 1:
            raise ValueError(f"variants: expected >= 1, found {variants}")
        if shard_size < 1:
            raise ValueError(f"shard_size: expected >= 1, found {shard_size}")
        if synth.num_classes != train.num_classes:
            raise ValueError(f"generator trained for {synth.num_classes} classes, the data "
                             f"has {train.num_classes}")
        self.synth, self.train, self.test = synth, train, test
        self.out, self.inputs = Path(out), list(inputs)
        self.variants, self.ratio, self.mode, self.seed = variants, ratio, mode, seed
        self.shard_size, self.include_real, self.size = shard_size, include_real, size
        self.settings = {"variants": variants, "ratio": ratio, "mode": mode, "seed": seed,
                         "shard_size": shard_size, "include_real": include_real,
                         "size": list(size) if size else None, "train_frames": len(train),
                         "test_frames": len(test) if test is not None else 0,
                         **(settings or {})}

    def shards(self) -> list[tuple[str, int, range]]:
        """(split, shard number, frame indices) of all the work."""
        jobs = []
        for split, data in (("train", self.train), ("test", self.test)):
            if data is None:
                continue
            for number, start in enumerate(range(0, len(data), self.shard_size)):
                jobs.append((split, number, range(start, min(start + self.shard_size,
                                                              len(data)))))
        return jobs

    def _marker(self, split: str, number: int) -> Path:
        return self.out / _DONE_DIR / f"{split}_{number:05d}.json"

    def _prepare(self) -> None:
        """Check the manifest of an existing output against these settings; write it."""
        from .output_dirs import prepare_output_dir

        # new, empty, or an earlier run's folder (marker); never an input or one holding it
        prepare_output_dir(self.out, overwrite=False, resume=True, inputs=self.inputs,
                           kind="augment", tool="scmis_core.augment")
        manifest_path = self.out / MANIFEST
        if manifest_path.is_file():
            old = json.loads(manifest_path.read_text())
            if old.get("settings") != self.settings:
                changed = sorted(k for k in set(old.get("settings", {})) | set(self.settings)
                                 if old.get("settings", {}).get(k) != self.settings.get(k))
                raise ValueError(f"output {self.out}: made with other settings ({changed}); "
                                 "use another --out folder (or delete this one)")
        shutil.rmtree(self.out / _TMP_DIR, ignore_errors=True)  # leftovers of a killed run
        self._write_manifest(complete=False)

    def _write_manifest(self, complete: bool) -> None:
        from .runtime import atomic_write_text

        manifest = {"format": "scmis-augment", "version": 1, "complete": complete,
                    "settings": self.settings,
                    "seeds": "frame i, variant k: noise seed and class choice from "
                             "scmis_core.augment.variant_seed(seed, i, k)",
                    "class_names": list(self.train.class_names),
                    "layout": "OUT/{train,test}/{rgb,depth,labels_40}/STEM.png; train STEM = "
                              "NNNN (real, when included) and NNNN_vK (mixed variant K); "
                              "test = the real test frames",
                    "shards_done": len(list((self.out / _DONE_DIR).glob("*.json")))
                    if (self.out / _DONE_DIR).is_dir() else 0}
        self.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.out / MANIFEST, json.dumps(manifest, indent=2))
        (self.out / "classes.txt").write_text("".join(f"{n}\n" for n in
                                                      self.train.class_names))

    def _frame(self, data: LabelledDataset, index: int):
        sample = data[index]
        if self.size is not None and sample.labels.shape != tuple(self.size):
            from .data.transforms import resize

            sample = resize(sample, *self.size)
        return sample

    def run_shard(self, split: str, number: int, indices: range, on_frame=None) -> None:
        """Write every file of one shard, then its marker."""
        from .data.export import frame_name
        from .runtime import atomic_write_text

        data = self.train if split == "train" else self.test
        stems = []
        for index in indices:
            sample = self._frame(data, index)
            stem = frame_name(index, len(data))
            if split == "test" or self.include_real:
                _write_frame(self.out, split, stem, sample.rgb, sample.depth_m, sample.labels)
                stems.append(stem)
            if split == "train":
                for k in range(self.variants):
                    s = variant_seed(self.seed, index, k)
                    synth_rgb, synth_depth = self.synth.synth(sample.labels, seed=s)
                    rgb, depth, chosen = class_mix(sample.rgb, sample.depth_m, sample.labels,
                                                   synth_rgb, synth_depth, self.ratio,
                                                   self.mode, np.random.default_rng(s))
                    _write_frame(self.out, split, f"{stem}_v{k}", rgb, depth, sample.labels)
                    stems.append(f"{stem}_v{k}")
            if on_frame is not None:
                on_frame(index)
        atomic_write_text(self._marker(split, number),
                          json.dumps({"split": split, "frames": [indices.start, indices.stop],
                                      "stems": stems}))

    def run(self, progress: bool = True, on_frame=None) -> dict[str, int]:
        """Do every unfinished shard; returns counts of shards done and skipped."""
        self._prepare()
        jobs = self.shards()
        total = sum(len(r) for _, _, r in jobs)
        done = skipped = 0
        with tqdm(total=total, desc=f"class-mix {self.mode} {self.ratio}", unit="frame",
                  disable=not progress) as bar:
            for split, number, indices in jobs:
                if self._marker(split, number).is_file():
                    skipped += 1
                    bar.update(len(indices))
                    continue
                self.run_shard(split, number, indices, on_frame)
                bar.update(len(indices))
                done += 1
        self._write_manifest(complete=True)
        shutil.rmtree(self.out / _TMP_DIR, ignore_errors=True)
        return {"shards_done": done, "shards_skipped": skipped, "shards": len(jobs)}


@entry_point
def main(argv: list[str] | None = None) -> int:
    """``python -m scmis_core.augment``: write a class-mixed data set (NYUv2 layout)."""
    import argparse

    from .cli import (add_device_argument, add_memory_limit_argument, finite_float,
                      parse_size)
    from .config import DATA_SOURCES
    from .data.registry import open_dataset
    from .pretrained import resolve
    from .synthesize import Synthesizer

    parser = argparse.ArgumentParser(
        prog="python -m scmis_core.augment",
        description="Class-mix augmentation (paper Sec. 4.2): for each training frame write "
                    "--variants copies whose RGB / depth / both are replaced by a generated "
                    "image for round(ratio*K) of its K classes. Output: the NYUv2 layout "
                    "(OUT/train: the real frames and the mixed variants; OUT/test: the real "
                    "test frames), classes.txt and manifest.json. Sharded and resumable: "
                    "re-running the same command skips finished shards.")
    parser.add_argument("--checkpoint", required=True, help="generator checkpoint (.pt), or "
                        "the name of shipped weights: rooms")
    parser.add_argument("--source", required=True, choices=DATA_SOURCES,
                        help="data source to mix")
    parser.add_argument("--root", default="",
                        help="path of the data set (folder, or the .mat file for nyuv2-mat); "
                             "unused for rooms")
    parser.add_argument("--split", default="train", help="split to mix (default train)")
    parser.add_argument("--test-split", default="test",
                        help="split copied unmixed to OUT/test ('' = none)")
    parser.add_argument("--n", type=int, default=0, help="first N frames to mix (0 = all)")
    parser.add_argument("--size", type=parse_size, default=None, metavar="HxW",
                        help="resize frames to HxW (rooms: generate at HxW, default 240x320)")
    parser.add_argument("--rooms-frames", type=int, default=1000,
                        help="rooms: frames per split (default 1000)")
    parser.add_argument("--data-seed", type=int, default=0, help="rooms: data set seed")
    parser.add_argument("--variants", type=int, default=4, help="mixed copies per frame")
    parser.add_argument("--ratio", type=finite_float, default=0.7,
                        help="share of classes replaced")
    parser.add_argument("--mode", default="rgb", choices=MIX_MODES)
    parser.add_argument("--seed", type=int, default=0, help="mixing seed")
    parser.add_argument("--shard-size", type=int, default=32, help="frames per shard")
    parser.add_argument("--no-real", action="store_true",
                        help="write only the mixed variants, not the real training frames")
    parser.add_argument("--raw-weights", action="store_true",
                        help="use the generator's raw weights instead of its EMA weights")
    add_device_argument(parser)
    add_memory_limit_argument(parser)
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    args.checkpoint = str(resolve(args.checkpoint, "gan"))  # a shipped name -> its file
    source, root = args.source, args.root
    kwargs: dict[str, Any] = {}
    if source == "rooms":
        height, width = args.size or (240, 320)
        kwargs = {"size": args.rooms_frames, "height": height, "width": width,
                  "seed": args.data_seed}
    train = open_dataset(source, root, args.split, **kwargs)
    if args.n:
        from .data.wrappers import FirstFrames
        train = FirstFrames(train, min(args.n, len(train)))
    test = open_dataset(source, root, args.test_split, **kwargs) if args.test_split \
        else None
    synth = Synthesizer.from_checkpoint(args.checkpoint, device=args.device,
                                        use_ema=not args.raw_weights,
                                        max_memory_mb=args.max_memory_mb)
    settings = {"checkpoint_sha256": sha256_file(args.checkpoint),
                "checkpoint_step": synth.step, "ema_weights": not args.raw_weights,
                "source": source, "root": root,
                "split": args.split, "test_split": args.test_split,
                "data_seed": args.data_seed}
    job = AugmentJob(synth, train, args.out, variants=args.variants, ratio=args.ratio,
                     mode=args.mode, seed=args.seed, shard_size=args.shard_size,
                     include_real=not args.no_real, test=test, size=args.size,
                     settings=settings, inputs=[root, args.checkpoint])
    counts = job.run(progress=not args.no_progress)
    print(f"wrote {args.out}: {counts['shards_done']} shards done, "
          f"{counts['shards_skipped']} already finished, of {counts['shards']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
