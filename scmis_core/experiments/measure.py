"""Per-image measurements of a generator on test frames, for point values and bootstrap CIs.

:func:`measure_generator` runs a generator on the label maps of the first ``count`` test
frames with seeded noise (the same draws as :class:`scmis_core.evaluate.GeneratorEvaluator`
with the same seed and batch size, so the point values agree with ``python -m
scmis_core.evaluate``) and keeps, per image: the Inception features of the generated RGB,
the judge's confusion counts on generated RGB + real depth and the depth error sums.
:class:`PerImage` turns them into point metrics and percentile bootstrap intervals
(:mod:`scmis_core.metrics.bootstrap`) and saves / loads them as ``.npz`` (the paired
comparisons of the results page resample two runs on the same frames).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.transforms import TorchDataset, one_hot
from ..depth_range import unit_to_metres
from ..metrics import bootstrap as bs
from ..metrics.fid import EXTRACTOR_ID, InceptionFeatures
from ..metrics.segmentation import ConfusionMatrix
from ..models.noise import sample_z
from ..runtime import atomic_write

#: metric -> True when lower is better
LOWER_IS_BETTER = {"fid": True, "miou": False, "miou_real": False, "abs_rel": True,
                   "rmse": True, "sq_rel": True, "delta1": False}


@dataclass
class PerImage:
    """Per-image quantities of one generator (None where the generator has no such output)."""

    real_features: np.ndarray | None = None  # (n, 2048)
    fake_features: np.ndarray | None = None  # (n, 2048)
    confusion: np.ndarray | None = None  # (n, N+1, N+1) judge on generated RGB + real depth
    confusion_real: np.ndarray | None = None  # (n, N+1, N+1) judge on the real frames
    depth: np.ndarray | None = None  # (n, 5) sums in bootstrap.DEPTH_COLUMNS order

    def point(self) -> dict[str, float]:
        """Metrics on all frames (FID by :func:`~scmis_core.metrics.bootstrap.
        fid_from_features`: the evaluator's value to ~1e-7, without a 2048x2048 eigen
        decomposition)."""
        out: dict[str, float] = {}
        if self.fake_features is not None and self.real_features is not None:
            out["fid"] = bs.fid_from_features(self.real_features, self.fake_features)
        if self.confusion is not None:
            out["miou"] = float(bs.miou_from_counts(self.confusion.sum(0)))
        if self.confusion_real is not None:
            out["miou_real"] = float(bs.miou_from_counts(self.confusion_real.sum(0)))
        if self.depth is not None:
            out.update({k: float(v) for k, v in bs.depth_from_sums(self.depth.sum(0)).items()})
        return out

    def intervals(self, reps: int = 1000, seed: int = 0, level: float = 0.95
                  ) -> dict[str, list[float]]:
        """metric -> [low, high] percentile bootstrap interval over test frames (FID: moved
        by the resampling bias, :func:`~scmis_core.metrics.bootstrap.shifted_interval`)."""
        out: dict[str, list[float]] = {}
        if self.fake_features is not None and self.real_features is not None:
            draws = bs.fid_resamples(self.real_features, self.fake_features, reps, seed)
            point = bs.fid_from_features(self.real_features, self.fake_features)
            out["fid"] = list(bs.shifted_interval(point, draws, level))
        if self.confusion is not None:
            out["miou"] = list(bs.percentile_interval(
                bs.miou_resamples(self.confusion, reps, seed), level))
        if self.confusion_real is not None:
            out["miou_real"] = list(bs.percentile_interval(
                bs.miou_resamples(self.confusion_real, reps, seed), level))
        if self.depth is not None:
            for name, draws in bs.depth_resamples(self.depth, reps, seed).items():
                out[name] = list(bs.percentile_interval(draws, level))
        return out

    def save(self, path: str | Path) -> None:
        """Write the arrays that are present to ``path`` (.npz, atomically)."""
        arrays = {k: v for k, v in self.__dict__.items() if v is not None}
        atomic_write(Path(path), lambda tmp: _savez(tmp, arrays, compressed=True))

    @classmethod
    def load(cls, path: str | Path) -> "PerImage":
        with np.load(path, allow_pickle=False) as data:
            return cls(**{k: data[k] for k in data.files})


def test_key(data: dict[str, Any], count: int) -> str:
    """A short hash naming a test set (data config + frame count) for cached real features."""
    text = json.dumps({"data": data, "count": count, "extractor": EXTRACTOR_ID},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def real_features(test: TorchDataset, count: int, batch_size: int,
                  extractor: InceptionFeatures, cache: Path | None = None) -> np.ndarray:
    """(count, 2048) Inception features of the real test RGB (read from / written to
    ``cache`` when given)."""
    if cache is not None and cache.is_file():
        with np.load(cache, allow_pickle=False) as data:
            feats = data["features"]
        if len(feats) == count:
            return feats
    feats = np.concatenate([extractor(batch["rgb"]) for batch in _batches(test, count,
                                                                          batch_size)])
    if cache is not None:
        arrays = {"features": feats.astype(np.float32)}
        atomic_write(cache, lambda tmp: _savez(tmp, arrays, compressed=False))
    return feats.astype(np.float32)


def _savez(path: Path, arrays: dict[str, np.ndarray], compressed: bool) -> None:
    with open(path, "wb") as handle:  # a file object: numpy would append .npz to a name
        (np.savez_compressed if compressed else np.savez)(handle, **arrays)


def _batches(test: TorchDataset, count: int, batch_size: int):
    subset = torch.utils.data.Subset(test, range(count))
    return torch.utils.data.DataLoader(subset, batch_size=batch_size, shuffle=False)


@torch.no_grad()
def measure_generator(generator: torch.nn.Module, test: TorchDataset, num_classes: int, *,
                      count: int, batch_size: int, extractor: InceptionFeatures,
                      real: np.ndarray | None, segmenter=None, max_depth_m: float = 10.0,
                      seed: int = 0, device: str | torch.device = "cpu",
                      judge_real: bool = True) -> PerImage:
    """Per-image features / confusions / depth sums of ``generator`` on the first ``count``
    test frames (noise drawn per batch from ``torch.Generator().manual_seed(seed)``)."""
    device = torch.device(device)
    was_training = generator.training
    generator.eval()
    rng = torch.Generator().manual_seed(seed)
    outputs = getattr(generator, "outputs", ("rgb", "depth"))
    feats, confs, confs_real, depth = [], [], [], []
    for batch in _batches(test, count, batch_size):
        labels = batch["labels"].to(device)
        z = sample_z(generator, *labels.shape, rng, device=device)
        out = generator(one_hot(labels, num_classes, check=False), z)
        if "rgb" in out:
            rgb = out["rgb"].float().clamp(-1, 1)
            feats.append(extractor(rgb))
            if segmenter is not None:
                confs += _confusions(segmenter.predict(rgb, batch["depth"]).cpu(),
                                     batch["labels"], num_classes)
                if judge_real:
                    confs_real += _confusions(
                        segmenter.predict(batch["rgb"], batch["depth"]).cpu(),
                        batch["labels"], num_classes)
        if "depth" in out:
            pred_m = unit_to_metres(out["depth"].float(), max_depth_m).cpu()[:, 0]
            depth.append(bs.depth_sums(pred_m.numpy(), batch["depth_m"].numpy()
                                       .reshape(pred_m.shape)))
    generator.train(was_training)
    has_rgb = "rgb" in outputs
    return PerImage(
        real_features=real if has_rgb else None,
        fake_features=np.concatenate(feats).astype(np.float32) if feats else None,
        confusion=np.stack(confs) if confs else None,
        confusion_real=np.stack(confs_real) if confs_real else None,
        depth=np.concatenate(depth) if depth else None)


def _confusions(pred: torch.Tensor, labels: torch.Tensor, num_classes: int
                ) -> list[np.ndarray]:
    out = []
    for p, t in zip(pred, labels):
        out.append(ConfusionMatrix(num_classes).update(p, t).counts.copy())
    return out


def judge_real_miou(segmenter, test: TorchDataset, count: int, batch_size: int,
                    num_classes: int) -> np.ndarray:
    """(count, N+1, N+1) confusions of the judge on the real frames."""
    confs: list[np.ndarray] = []
    for batch in _batches(test, count, batch_size):
        confs += _confusions(segmenter.predict(batch["rgb"], batch["depth"]).cpu(),
                             batch["labels"], num_classes)
    return np.stack(confs)
