"""The CPU training fast path: cached frames and the fused EMA change no number of a step;
the shared generator forward trains; the frame cache is keyed, atomic and cleans up."""

from __future__ import annotations

import copy
import os

import numpy as np
import pytest
import torch

from conftest import TINY_GAN_OVERRIDES
from scmis_core.config import from_dict
from scmis_core.data.frame_cache import CachedDataset, cache_key
from scmis_core.data.registry import dataset_from_config
from scmis_core.train import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")


def _cfg(tmp_path, **train):
    raw = copy.deepcopy(TINY_GAN_OVERRIDES)
    raw["data"]["cache_dir"] = str(tmp_path / "cache")
    raw["train"].update(train)
    return raw


def _losses(raw, run_dir, steps=3):
    trainer = Trainer(from_dict(raw), run_dir, progress=False)
    batches = trainer.stream.from_step(0)
    losses = [trainer.train_step(next(batches)) for _ in range(steps)]
    return losses, {k: v.clone() for k, v in trainer.G_ema.state_dict().items()}


def test_cache_and_fused_ema_leave_every_number_unchanged(tmp_path):
    old = _cfg(tmp_path, fused_ema=False, share_fake=False)
    new = _cfg(tmp_path, fused_ema=True, share_fake=False)
    new["data"]["cache"] = True
    losses_old, ema_old = _losses(old, tmp_path / "old")
    losses_new, ema_new = _losses(new, tmp_path / "new")
    assert losses_old == losses_new
    for key in ema_old:
        assert torch.equal(ema_old[key], ema_new[key]), key


def test_shared_generator_forward_trains_and_differs_only_in_noise(tmp_path):
    shared, _ = _losses(_cfg(tmp_path, share_fake=True), tmp_path / "a")
    separate, _ = _losses(_cfg(tmp_path, share_fake=False), tmp_path / "b")
    # Step 1's D update sees the same first noise draw either way.
    assert shared[0]["d_total"] == separate[0]["d_total"]
    assert shared[0]["g_total"] != separate[0]["g_total"]
    assert all(np.isfinite(list(step.values())).all() for step in shared)


def test_frame_cache_matches_the_renderer_and_is_reused(tmp_path):
    raw = _cfg(tmp_path)
    raw["data"]["cache"] = True
    cfg = from_dict(raw)
    cached = dataset_from_config(cfg.data, "train")
    raw["data"]["cache"] = False
    rendered = dataset_from_config(from_dict(raw).data, "train")
    assert isinstance(cached, CachedDataset) and len(cached) == len(rendered)
    for i in range(len(rendered)):
        a, b = cached[i], rendered[i]
        assert np.array_equal(a.rgb, b.rgb) and np.array_equal(a.labels, b.labels)
        assert np.array_equal(a.depth_m, b.depth_m)
    stamp = (cached.path / "rgb.npy").stat().st_mtime_ns
    again = dataset_from_config(cfg.data, "train")
    assert again.path == cached.path and (again.path / "rgb.npy").stat().st_mtime_ns == stamp
    # A different seed is a different cache folder.
    raw["data"].update(cache=True, seed=1)
    other = dataset_from_config(from_dict(raw).data, "train")
    assert other.path != cached.path


def test_stale_build_folders_of_dead_processes_are_removed(tmp_path):
    root = tmp_path / "cache"
    root.mkdir()
    dead = root / ".tmp-999999999-abc"   # no such pid
    dead.mkdir()
    mine = root / f".tmp-{os.getpid()}-xyz"   # a live build: kept
    mine.mkdir()
    foreign = root / "not-ours"
    foreign.mkdir()
    raw = _cfg(tmp_path)
    raw["data"]["cache"] = True
    dataset_from_config(from_dict(raw).data, "test")
    assert not dead.exists() and mine.exists() and foreign.exists()


def test_frames_of_different_sizes_are_refused(tmp_path):
    from scmis_core.data.base import LabelledDataset
    from scmis_core.data.sample import Sample

    class Ragged(LabelledDataset):
        class_names = ("a",)

        def __len__(self):
            return 2

        def load(self, index):
            h = 4 + index
            return Sample(np.zeros((h, 4, 3), np.uint8), np.ones((h, 4), np.float32),
                          np.zeros((h, 4), np.int64))

    with pytest.raises(ValueError, match="expected every frame at 4x4, found 5x4"):
        CachedDataset(Ragged(), {"source": "ragged"}, tmp_path, progress=False)
    assert not any(p.name.startswith(".tmp-") for p in tmp_path.iterdir())
    assert cache_key({"source": "x", "a": 1}) != cache_key({"source": "x", "a": 2})


def test_files_fingerprint_changes_when_a_data_set_changes(tmp_path):
    from scmis_core.data.frame_cache import files_fingerprint

    (tmp_path / "a.png").write_bytes(b"1")
    before = files_fingerprint(tmp_path)
    assert files_fingerprint(tmp_path) == before
    (tmp_path / "b.png").write_bytes(b"22")
    assert files_fingerprint(tmp_path) != before


@pytest.mark.parametrize("damage", ["empty_rgb", "no_meta", "bad_meta", "altered_depth",
                                    "no_labels", "truncated_rgb"])
def test_a_damaged_frame_cache_rebuilds_itself(tmp_path, capsys, damage):
    raw = _cfg(tmp_path)
    raw["data"]["cache"] = True
    cfg = from_dict(raw).data
    first = dataset_from_config(cfg, "train")
    want = [first[i] for i in range(len(first))]
    folder = first.path
    del first
    from scmis_core.data import frame_cache

    frame_cache._VERIFIED.clear()  # a new process
    if damage == "empty_rgb":
        (folder / "rgb.npy").write_bytes(b"")
    elif damage == "no_meta":
        (folder / "meta.json").unlink()
    elif damage == "bad_meta":
        (folder / "meta.json").write_text("{not json")
    elif damage == "altered_depth":
        depth = np.load(folder / "depth.npy")
        depth[0, 0, 0] += 1.0
        np.save(folder / "depth.npy", depth)
    elif damage == "no_labels":
        (folder / "labels.npy").unlink()
    else:
        data = (folder / "rgb.npy").read_bytes()
        (folder / "rgb.npy").write_bytes(data[: len(data) // 2])
    again = dataset_from_config(cfg, "train")
    assert "rebuilding it" in capsys.readouterr().err
    assert again.path == folder
    for i, sample in enumerate(want):
        got = again[i]
        assert np.array_equal(got.rgb, sample.rgb) and np.array_equal(got.depth_m,
                                                                      sample.depth_m)
        assert np.array_equal(got.labels, sample.labels)
    assert not [p for p in folder.parent.iterdir() if p.name.startswith((".stale", ".tmp"))]
    frame_cache._VERIFIED.clear()
    dataset_from_config(cfg, "train")  # sound now: no second rebuild
    assert "rebuilding" not in capsys.readouterr().err
