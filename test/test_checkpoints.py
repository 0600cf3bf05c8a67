"""Checkpoint schemas (scmis_core/engine/checkpoints.py): the dict on disk is unchanged, old
checkpoints load, bad entries are clear errors, non-resumable files are refused clearly."""

from __future__ import annotations

import math

import pytest
import torch

from scmis_core.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from scmis_core.config import from_dict
from scmis_core.engine.checkpoints import GanCheckpoint, SegmenterCheckpoint
from scmis_core.train import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")

#: The keys the trainer wrote by hand before the schema (28d1aa3).
OLD_GAN_KEYS = {"kind", "config", "num_classes", "class_names", "step", "models", "optimizers",
                "scaler", "rng", "noise_gen", "best_fid", "world_size"}


def _minimal_gan() -> dict:
    return {"kind": "gan", "config": {"model": {"variant": "scmis"}}, "num_classes": 3,
            "step": 0, "models": {"G": {"w": torch.zeros(2)}}}


def test_round_trip_keeps_the_dict_and_unknown_entries(tmp_path):
    state = dict(_minimal_gan(), class_names=["a", "b", "c"], metrics={"fid": 3.0},
                 note="kept")
    ckpt = GanCheckpoint.from_dict(state)
    assert ckpt.extra == {"note": "kept"} and ckpt.metrics == {"fid": 3.0}
    assert ckpt.to_dict() == state  # unset optional entries are not written
    path = ckpt.save(tmp_path / "g.pt")
    again = GanCheckpoint.load(path)
    assert again.to_dict().keys() == state.keys() and again.variant == "scmis"
    seg = SegmenterCheckpoint(config={"arch": "unet-rgbd", "data": {}}, num_classes=2,
                              models={"segmenter": {}}, step=4)
    assert seg.to_dict() == {"kind": "segmenter", "config": {"arch": "unet-rgbd", "data": {}},
                             "num_classes": 2, "models": {"segmenter": {}}, "step": 4,
                             "class_names": []}


@pytest.mark.parametrize("change,message", [
    ({"kind": "segmenter"}, "expected a 'gan' checkpoint, found 'segmenter'"),
    ({"models": {"D": {}}}, "no 'G' weights"),
    ({"step": -1}, "step: expected >= 0"),
    ({"step": True}, "step: expected an int, found bool"),
    ({"optimizers": ["adam"]}, "optimizers: expected a dict, found list"),
    ({"noise_gen": "seed"}, "noise_gen: expected a tensor, found str"),
    ({"best_fid": "low"}, "best_fid: expected a number, found str"),
    ({"log_lines": -3}, "log_lines: expected >= 0"),
    ({"world_size": 2.5}, "world_size: expected an int, found float"),
])
def test_bad_entries_are_named(change, message):
    with pytest.raises(CheckpointError, match=f"checkpoint x.pt: .*{message}"):
        GanCheckpoint.from_dict(dict(_minimal_gan(), **change), "x.pt")
    state = _minimal_gan()
    del state["num_classes"]
    with pytest.raises(CheckpointError, match="missing entry 'num_classes'"):
        GanCheckpoint.from_dict(state, "x.pt")


def test_trainer_writes_the_old_keys_and_refuses_to_resume_a_bare_generator(tmp_path):
    cfg = from_dict({"data": {"height": 32, "width": 32, "rooms_train_size": 4,
                              "rooms_test_size": 2, "num_workers": 0},
                     "model": {"width": 4, "num_scales": 3, "spade_hidden": 8, "z_dim": 4,
                               "disc_width": 8, "disc_head_width": 16},
                     "train": {"batch_size": 2, "ema_decay": 0.9}})
    trainer = Trainer(cfg, tmp_path, progress=False)
    state = load_checkpoint(trainer.save("a.pt"))
    assert set(state) - {"format", "version"} == OLD_GAN_KEYS
    assert state["best_fid"] == math.inf
    # A checkpoint written by hand in the old layout resumes.
    old = {k: state[k] for k in OLD_GAN_KEYS}
    save_checkpoint(old, tmp_path / "old.pt")
    trainer.load_state_dict(load_checkpoint(tmp_path / "old.pt"), tmp_path / "old.pt")
    # A generator without training state: a clear error, not KeyError('optimizers').
    bare = {k: state[k] for k in ("kind", "config", "num_classes", "class_names", "step",
                                  "models")}
    with pytest.raises(CheckpointError, match="bare.pt: cannot resume from it: no "
                                              "optimizers, scaler, rng, noise_gen"):
        trainer.load_state_dict(bare, "bare.pt")


def test_non_finite_weights_are_refused_with_the_tensor_name(tmp_path):
    from test_augment import tiny_generator

    from scmis_core.checkpoint import CheckpointError
    from scmis_core.engine.checkpoints import GanCheckpoint
    from scmis_core.synthesize import Synthesizer

    path = tiny_generator(tmp_path / "g.pt")
    ckpt = GanCheckpoint.load(path)
    name = next(k for k, v in ckpt.models["G"].items() if v.is_floating_point())
    ckpt.models["G"][name] = ckpt.models["G"][name].clone().fill_(float("nan"))
    ckpt.save(tmp_path / "nan.pt")
    with pytest.raises(CheckpointError, match=f"G tensor '{name}' holds .* non-finite"):
        Synthesizer.from_checkpoint(tmp_path / "nan.pt", device="cpu")
    Synthesizer.from_checkpoint(path, device="cpu")  # the finite one still loads
