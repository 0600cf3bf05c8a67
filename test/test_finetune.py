"""The online fine-tuning engine behind the ROS fine-tune node (no ROS needed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scmis_core.checkpoint import CheckpointError
from scmis_core.finetune import OnlineFinetuner, ReplayBuffer, load_start_state
from scmis_core.segment import Segmenter

ARCH = dict(arch="unet-rgbd", arch_kwargs={"widths": (4, 8)})


pytestmark = pytest.mark.usefixtures("one_thread")


def frame(seed: int, h: int = 20, w: int = 24):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 6, size=(h, w))
    rgb = np.stack([labels * 40, 255 - labels * 40, labels * 10], -1).astype(np.uint8)
    return rgb, labels.astype(np.float32) * 0.5, labels


def test_replay_buffer_is_bounded_and_seeded():
    buf = ReplayBuffer(3, seed=1)
    for i in range(5):
        buf.add(*frame(i))
    assert len(buf) == 3 and buf.added == 5
    again = ReplayBuffer(3, seed=1)
    for i in range(5):
        again.add(*frame(i))
    a, b = buf.sample(4), again.sample(4)
    assert all(np.array_equal(x[2], y[2]) for x, y in zip(a, b))


def test_training_on_a_fixed_batch_learns():
    """With one frame in the buffer every batch is the same: the loss must fall and the pixel
    accuracy rise well above chance (5 classes), not merely stay finite."""
    tuner = OnlineFinetuner(5, height=16, width=16, device="cpu", lr=1e-2, buffer_size=1,
                            **ARCH)
    tuner.add(*frame(3))
    history = [tuner.train_step(batch_size=2) for _ in range(20)]
    losses = [h["loss"] for h in history]
    accuracy = [h["pixel_accuracy"] for h in history]
    assert np.mean(losses[-3:]) < 0.75 * losses[0], losses
    assert np.mean(losses[-5:]) < np.mean(losses[5:10]) < np.mean(losses[:5]), losses
    assert accuracy[-1] > accuracy[0] + 0.3 and accuracy[-1] > 0.5, accuracy


def test_trains_predicts_saves_and_resumes(tmp_path):
    tuner = OnlineFinetuner(5, height=16, width=16, device="cpu", lr=1e-2, **ARCH)
    for i in range(4):
        tuner.add(*frame(i))
    assert tuner.buffer.frames[0][0].shape == (16, 16, 3)  # resized to the training size
    first = tuner.train_step(batch_size=2)
    for _ in range(5):
        last = tuner.train_step(batch_size=2)
    assert first["step"] == 1 and last["step"] == 6 and np.isfinite(last["loss"])
    pred = tuner.predict(*frame(9)[:2])
    assert pred.shape == (20, 24) and pred.min() >= 1 and pred.max() <= 5
    path = tuner.save(tmp_path / "ft.pt", {"loss": last["loss"]}, batch_size=2)
    assert Segmenter.from_checkpoint(path, device="cpu").num_classes == 5
    state, source, resume = load_start_state(path, None, True, "", 5)
    again = OnlineFinetuner(5, height=16, width=16, device="cpu", state=state,
                            state_path=source, resume=resume)
    assert again.step == 6 and again.arch == "unet-rgbd" and "resumed" in again.started_from
    for key, value in tuner.model.state_dict().items():
        assert torch.equal(value, again.model.state_dict()[key]), key
    with pytest.raises(CheckpointError, match="for 5 classes"):
        load_start_state(path, None, True, "", 7)
    assert load_start_state(tmp_path / "none.pt", None, True, "", 5) == (None, None, False)
    # without the optimiser state (the node's default): weights only, about a third the size
    slim = tuner.save(tmp_path / "slim.pt", batch_size=2, optimizer=False)
    assert not torch.load(slim, weights_only=True).get("optimizers")
    assert slim.stat().st_size < 0.6 * path.stat().st_size
    state, source, resume = load_start_state(slim, None, True, "", 5)
    resumed = OnlineFinetuner(5, height=16, width=16, device="cpu", state=state,
                              state_path=source, resume=resume)
    assert resumed.step == 6
    resumed.add(*frame(1))
    assert resumed.train_step(batch_size=1)["step"] == 7  # a fresh optimiser trains on


def test_segmenter_predict_frame_matches_the_finetuner(tmp_path):
    """Segmenter.predict_frame: a camera frame at the checkpoint's training size and back,
    the same ids as the fine-tuner's own predict (one preprocessing for both)."""
    tuner = OnlineFinetuner(5, height=16, width=24, device="cpu", lr=1e-2, **ARCH)
    for i in range(3):
        tuner.add(*frame(i))
    for _ in range(3):
        tuner.train_step(batch_size=2)
    seg = Segmenter.from_checkpoint(tuner.save(tmp_path / "seg.pt"), device="cpu")
    assert seg.frame_size() == (16, 24)
    rgb, depth, _ = frame(7, 48, 64)
    depth[0, :5] = [0.0, np.nan, np.inf, -1.0, 0.0]  # no measurement
    ids = seg.predict_frame(rgb, depth)
    assert ids.shape == (48, 64) and ids.dtype == np.int64
    assert ids.min() >= 1 and ids.max() <= 5
    clean = np.where(np.isfinite(depth) & (depth > 0), depth, 0).astype(np.float32)
    np.testing.assert_array_equal(ids, tuner.predict(rgb, clean))
    native = seg.predict_frame(rgb, depth, size=(48, 64))
    assert native.shape == (48, 64)
    with pytest.raises(ValueError, match=r"depth: expected \(48, 64\)"):
        seg.predict_frame(rgb, depth[:10])
    with pytest.raises(ValueError, match="rgb: expected uint8"):
        seg.predict_frame(rgb.astype(np.float32), depth)
