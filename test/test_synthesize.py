"""The inference API and CLI: shapes, determinism, resizing, errors."""

from __future__ import annotations

import numpy as np
import pytest

from scmis_core.checkpoint import CheckpointError
from scmis_core.data.io import read_depth, read_rgb
from scmis_core.data.rooms import render_room
from scmis_core.synthesize import Synthesizer, main


@pytest.fixture(scope="module")
def synth(tiny_gan_checkpoint):
    return Synthesizer.from_checkpoint(tiny_gan_checkpoint, device="cpu")


def test_synth_single_and_batched(synth):
    labels = render_room(1, 32, 32).labels
    rgb, depth = synth.synth(labels, seed=0)
    assert rgb.shape == (32, 32, 3) and rgb.dtype == np.uint8
    assert depth.shape == (32, 32) and depth.dtype == np.float32
    assert 0.0 <= depth.min() and depth.max() <= synth.max_depth_m
    batch = np.stack([labels, render_room(2, 32, 32).labels])
    rgb_b, depth_b = synth.synth(batch, seed=0)
    assert rgb_b.shape == (2, 32, 32, 3) and depth_b.shape == (2, 32, 32)


def test_seed_reproduces_and_varies(synth):
    labels = render_room(3, 32, 32).labels
    a = synth.synth(labels, seed=5)
    b = synth.synth(labels, seed=5)
    c = synth.synth(labels, seed=6)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    # seed=None draws fresh noise each call
    assert not np.array_equal(synth.synth(labels)[0], synth.synth(labels)[0])


def test_any_size_is_resized_back(synth):
    labels = render_room(4, 30, 45).labels  # not multiples of 2**3
    rgb, depth = synth.synth(labels, seed=0)
    assert rgb.shape == (30, 45, 3) and depth.shape == (30, 45)


def test_bad_labels(synth):
    with pytest.raises(ValueError, match=r"class ids in 0\.\.40, found 41\.\.41"):
        synth.synth(np.full((32, 32), 41), seed=0)
    with pytest.raises(ValueError, match="integer class ids"):
        synth.synth(np.zeros((32, 32), np.float32))
    with pytest.raises(ValueError, match=r"\(H, W\) or \(B, H, W\)"):
        synth.synth(np.zeros(5, np.int64))


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        Synthesizer.from_checkpoint(tmp_path / "nope.pt", device="cpu")


def test_cli_writes_variants_and_grid(tiny_gan_checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["--checkpoint", str(tiny_gan_checkpoint), "--source", "rooms", "--n", "2",
                 "--variants", "2", "--size", "32x32", "--device", "cpu",
                 "--out", str(out)]) == 0
    rgbs = sorted((out / "rgb").glob("*.png"))
    depths = sorted((out / "depth").glob("*.png"))
    assert len(rgbs) == 4 and len(depths) == 4
    assert read_rgb(rgbs[0]).shape == (32, 32, 3)
    assert read_depth(depths[0]).shape == (32, 32)
    assert not np.array_equal(read_rgb(rgbs[0]), read_rgb(rgbs[1]))  # v0 vs v1
    assert (out / "grid.png").is_file()
    assert "wrote 4 RGB-D images" in capsys.readouterr().out
    assert main(["--checkpoint", str(tmp_path / "missing.pt"), "--out", str(out)]) == 2
