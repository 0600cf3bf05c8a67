"""Class-mix augmentation: hand-checked on a tiny label map, batched version, offline CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scmis_core.augment import (class_mix, class_mix_batch, class_mix_masks,
                                num_classes_to_replace)


pytestmark = pytest.mark.usefixtures("one_thread")

# 3x4 label map: void 0 in two corners, classes 1, 2, 5 present (ids need not be contiguous).
LABELS = np.array([[0, 1, 1, 2],
                   [5, 5, 2, 2],
                   [5, 1, 1, 0]], dtype=np.int64)
PRESENT = (1, 2, 5)


def _frame():
    h, w = LABELS.shape
    rgb = np.full((h, w, 3), 10, np.uint8)
    depth = np.full((h, w), 1.0, np.float32)
    depth[0, 1] = 0.0  # a hole in the real depth stays a hole unless its class is replaced
    synth_rgb = np.full((h, w, 3), 200, np.uint8)
    synth_depth = np.full((h, w), 7.5, np.float32)
    return rgb, depth, synth_rgb, synth_depth


@pytest.mark.parametrize("ratio,expected_count", [(0.0, 0), (0.3, 1), (0.5, 2), (0.7, 2),
                                                  (1.0, 3)])
@pytest.mark.parametrize("mode", ["rgb", "depth", "rgbd"])
def test_class_mix_hand_checked(mode, ratio, expected_count):
    rgb, depth, synth_rgb, synth_depth = _frame()
    labels_before = LABELS.copy()
    out_rgb, out_depth, chosen = class_mix(rgb, depth, LABELS, synth_rgb, synth_depth, ratio,
                                           mode, np.random.default_rng(3))
    assert len(chosen) == expected_count == num_classes_to_replace(ratio, len(PRESENT))
    assert len(set(chosen.tolist())) == expected_count and set(chosen.tolist()) <= set(PRESENT)
    np.testing.assert_array_equal(LABELS, labels_before)  # labels unchanged
    mask = np.isin(LABELS, chosen)
    assert not mask[LABELS == 0].any()
    # Hand-built expectation: synthesized values exactly at the chosen classes' pixels.
    exp_rgb = np.broadcast_to(np.where(mask[..., None], 200, 10), rgb.shape).astype(np.uint8)
    exp_rgb = exp_rgb if mode != "depth" else rgb
    exp_depth = np.where(mask, 7.5, depth).astype(np.float32) if mode != "rgb" else depth
    np.testing.assert_array_equal(out_rgb, exp_rgb)
    np.testing.assert_array_equal(out_depth, exp_depth)
    # void pixels keep their real values in every mode
    np.testing.assert_array_equal(out_rgb[LABELS == 0], rgb[LABELS == 0])
    np.testing.assert_array_equal(out_depth[LABELS == 0], depth[LABELS == 0])
    # inputs are not modified
    assert (rgb == 10).all() and depth[0, 1] == 0.0


def test_class_mix_seeded_and_varied():
    rgb, depth, synth_rgb, synth_depth = _frame()
    picks = [tuple(class_mix(rgb, depth, LABELS, synth_rgb, synth_depth, 0.3, "rgb",
                             np.random.default_rng(seed))[2]) for seed in range(30)]
    again = [tuple(class_mix(rgb, depth, LABELS, synth_rgb, synth_depth, 0.3, "rgb",
                             np.random.default_rng(seed))[2]) for seed in range(30)]
    assert picks == again
    assert {p[0] for p in picks} == set(PRESENT)  # every class gets picked by some seed


def test_class_mix_rounding_and_only_void():
    assert [num_classes_to_replace(0.5, k) for k in (1, 2, 3, 4, 5)] == [1, 1, 2, 2, 3]
    assert num_classes_to_replace(0.7, 10) == 7 and num_classes_to_replace(0.3, 5) == 2
    rgb = np.zeros((2, 2, 3), np.uint8)
    out_rgb, _, chosen = class_mix(rgb, None, np.zeros((2, 2), np.int64), rgb + 1, None, 1.0,
                                   "rgb", np.random.default_rng(0))
    assert chosen.size == 0 and (out_rgb == 0).all()


def test_class_mix_errors():
    rgb, depth, synth_rgb, synth_depth = _frame()
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="mode"):
        class_mix(rgb, depth, LABELS, synth_rgb, synth_depth, 0.5, "rgb-d", rng)
    with pytest.raises(ValueError, match="ratio"):
        class_mix(rgb, depth, LABELS, synth_rgb, synth_depth, 1.5, "rgb", rng)
    with pytest.raises(ValueError, match="synth_depth_m"):
        class_mix(rgb, depth, LABELS, synth_rgb, None, 0.5, "depth", rng)
    with pytest.raises(ValueError, match=r"rgb: expected shape \(3, 4, 3\)"):
        class_mix(rgb[:2], depth, LABELS, synth_rgb, synth_depth, 0.5, "rgb", rng)


def test_class_mix_batch_matches_definition():
    labels = torch.from_numpy(np.stack([LABELS, LABELS[::-1].copy(), np.zeros_like(LABELS)]))
    gen = torch.Generator().manual_seed(0)
    masks = class_mix_masks(labels, 5, 0.5, gen)
    for b in range(3):
        ids = torch.unique(labels[b][masks[b]]).tolist()
        present = sorted(set(labels[b].unique().tolist()) - {0})
        assert 0 not in ids and set(ids) <= set(present)
        assert len(ids) == num_classes_to_replace(0.5, len(present))
        # whole classes: every pixel of a chosen class is masked
        assert bool(masks[b][torch.isin(labels[b], torch.tensor(ids))].all())
    rgb = torch.zeros(3, 3, *LABELS.shape)
    depth = torch.ones(3, 1, *LABELS.shape)
    out_rgb, out_depth, mask = class_mix_batch(rgb, depth, labels, rgb + 1, depth * 5, 5, 1.0,
                                               "depth", torch.Generator().manual_seed(1))
    assert torch.equal(out_rgb, rgb)  # depth mode leaves RGB alone
    assert torch.equal(out_depth[:, 0] == 5, labels > 0) and torch.equal(mask, labels > 0)
    _, _, none = class_mix_batch(rgb, depth, labels, rgb + 1, depth * 5, 5, 1.0, "rgbd",
                                 torch.Generator().manual_seed(1), p=0.0)
    assert not none.any()


def test_class_mix_masks_never_choose_absent_classes():
    labels = torch.tensor([[[1, 1], [4, 4]]])
    for seed in range(10):
        mask = class_mix_masks(labels, 6, 1.0, torch.Generator().manual_seed(seed))
        assert mask.all()


# --- online and offline mixing with a real (tiny, untrained) generator ----------------------

import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from scmis_core.augment import OnlineClassMix, variant_seed  # noqa: E402
from scmis_core.engine.checkpoints import GanCheckpoint  # noqa: E402
from scmis_core.config import from_dict  # noqa: E402
from scmis_core.data.nyuv2 import NYUv2Dataset  # noqa: E402
from scmis_core.models import build_generator  # noqa: E402
from scmis_core.synthesize import Synthesizer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def tiny_generator(path: Path, num_classes: int = 40, variant: str = "scmis") -> Path:
    """A seeded, untrained SCMIS generator checkpoint (width 4, 3 scales) for mixing tests."""
    cfg = from_dict({"model": {"variant": variant, "width": 4, "num_scales": 3, "z_dim": 8,
                               "spade_hidden": 4},
                     "data": {"height": 32, "width": 32}})
    torch.manual_seed(0)
    gen = build_generator(cfg.model, num_classes)
    GanCheckpoint(config=cfg.to_dict(), num_classes=num_classes,
                  class_names=[f"c{i}" for i in range(1, num_classes + 1)],
                  models={"G": gen.state_dict()}).save(path)
    return path


def test_online_mix_deterministic_per_step(tmp_path):
    synth = Synthesizer.from_checkpoint(tiny_generator(tmp_path / "g.pt", 5), device="cpu")
    mixer = OnlineClassMix(synth, 0.5, "rgbd", p=0.5, seed=3, num_classes=5)
    labels = torch.from_numpy(np.stack([LABELS] * 6))
    batch = {"rgb": torch.zeros(6, 3, 3, 4), "depth_m": torch.full((6, 1, 3, 4), 2.0),
             "depth": torch.zeros(6, 1, 3, 4), "labels": labels}
    a, b, c = mixer(batch, 7), mixer(batch, 7), mixer(batch, 8)
    assert torch.equal(a["rgb"], b["rgb"]) and torch.equal(a["mixed"], b["mixed"])
    assert not torch.equal(a["mixed"], c["mixed"])  # another step, other choices
    mixed_samples = a["mixed"].flatten(1).any(1)
    assert 0 < int(mixed_samples.sum()) < 6  # p = 0.5 of 6 samples (seeded)
    changed = (a["rgb"] != 0).any(1) | (a["depth_m"][:, 0] != 2.0)
    assert torch.equal(changed, a["mixed"])  # exactly the masked pixels change
    assert not a["mixed"][labels == 0].any()
    assert torch.equal(a["labels"], labels) and torch.equal(batch["rgb"], torch.zeros(6, 3, 3,
                                                                                      4))
    with pytest.raises(ValueError, match="5 classes"):
        OnlineClassMix(synth, 0.5, "rgb", 1.0, num_classes=40)


def test_variant_seed_distinct():
    seeds = {variant_seed(0, i, k) for i in range(50) for k in range(4)}
    assert len(seeds) == 200 and all(0 <= s < 2**63 for s in seeds)


def _augment_cmd(out: Path, ckpt: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "scmis_core.augment", "--checkpoint", str(ckpt),
            "--source", "rooms", "--size", "32x32", "--rooms-frames", "6", "--n", "5",
            "--variants", "2", "--ratio", "0.5", "--mode", "rgbd", "--shard-size", "2",
            "--device", "cpu", "--no-progress", "--out", str(out), *extra]


_ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _augment(out: Path, ckpt: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(_augment_cmd(out, ckpt, *extra), cwd=REPO, capture_output=True,
                          text=True, timeout=120, env=_ENV)


def _augment_killed_after_first_shard(out: Path, ckpt: Path) -> int:
    """Run the job and SIGKILL it as soon as its first shard is recorded; return the number
    of finished shards at that moment (the process must not have completed)."""
    import signal
    import time

    proc = subprocess.Popen(_augment_cmd(out, ckpt), cwd=REPO, env=_ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    try:
        while not list((out / ".shards").glob("*.json")):
            assert proc.poll() is None, f"augment ended (rc {proc.returncode}) before a shard"
            assert time.monotonic() < deadline, "no shard finished within 120 s"
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=60)
    return len(list((out / ".shards").glob("*.json")))


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.png"))}


@pytest.mark.slow
def test_offline_augment_resumes_after_kill_with_identical_output(tmp_path):
    ckpt = tiny_generator(tmp_path / "g.pt")
    full = _augment(tmp_path / "full", ckpt)
    assert full.returncode == 0, full.stderr
    # a real SIGKILL right after the first shard (train shards of 2+2+1 frames and test
    # shards of 2+2+2: six in all)
    finished = _augment_killed_after_first_shard(tmp_path / "resumed", ckpt)
    manifest = json.loads((tmp_path / "resumed" / "manifest.json").read_text())
    assert manifest["complete"] is False and 1 <= finished < 6
    rerun = _augment(tmp_path / "resumed", ckpt)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{6 - finished} shards done, {finished} already finished, of 6" in rerun.stdout
    a, b = _tree(tmp_path / "full"), _tree(tmp_path / "resumed")
    # 5 real + 10 mixed train frames and 6 test frames, three files each
    assert len(a) == (5 + 10 + 6) * 3 and a == b
    assert not (tmp_path / "resumed" / ".tmp").exists()
    manifest = json.loads((tmp_path / "resumed" / "manifest.json").read_text())
    assert manifest["complete"] is True and len(manifest["settings"]["checkpoint_sha256"]) == 64
    # the result is a data set in the NYUv2 layout; mixed frames keep the real labels
    data = NYUv2Dataset(tmp_path / "resumed", "train")
    assert len(data) == 15
    by_name = {data[i].name: data[i] for i in range(len(data))}
    real, mixed = by_name["0000"], by_name["0000_v0"]
    assert np.array_equal(real.labels, mixed.labels)
    assert not np.array_equal(real.rgb, mixed.rgb)
    # a rerun with other settings into the same folder is refused
    other = _augment(tmp_path / "resumed", ckpt, "--seed", "1")
    assert other.returncode == 2 and "other settings" in other.stderr
