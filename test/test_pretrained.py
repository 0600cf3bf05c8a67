"""Shipped weights (scmis_core/weights): files, hashes, loading by name, packing, --init-from."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from conftest import TINY_GAN_OVERRIDES
from scmis_core.checkpoint import CheckpointError, load_checkpoint
from scmis_core.config import from_dict
from scmis_core.engine.checkpoints import SegmenterCheckpoint
from scmis_core.models import build_generator
from scmis_core.models.segnet import SmallRGBDUNet
from scmis_core.pretrained import (MAX_BYTES, SHIPPED, WEIGHTS_DIR, PretrainedError, check,
                                   info_record, init_generators, load_state,
                                   read_sha256_record, resolve, sha256_file, sha256_record,
                                   shipped_info)
from scmis_core.pretrained.__main__ import main as pretrained_main
from scmis_core.pretrained.pack import pack
from scmis_core.segment import Segmenter
from scmis_core.synthesize import Synthesizer

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_thread")


def blocky_labels(height: int, width: int, num_classes: int, seed: int = 0) -> np.ndarray:
    """(H, W) uint8 ids 1..N in 8x8-pixel blocks."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(1, num_classes + 1, size=(-(-height // 8), -(-width // 8)))
    return np.kron(coarse, np.ones((8, 8), dtype=np.int64))[:height, :width].astype(np.uint8)


def copy_shipped(name: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for path in WEIGHTS_DIR.glob(f"{name}.*"):
        shutil.copy(path, folder / path.name)
    return folder / SHIPPED[name].file


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_files_load_weights_only_and_match_their_records(name):
    entry = SHIPPED[name]
    path = resolve(name, entry.kind)
    assert path == WEIGHTS_DIR / entry.file
    size = path.stat().st_size
    assert 0 < size <= MAX_BYTES
    digest = sha256_file(path)
    assert read_sha256_record(sha256_record(path)) == digest
    info = json.loads(info_record(path).read_text())
    assert (info["name"], info["kind"], info["sha256"], info["bytes"]) == (
        name, entry.kind, digest, size)
    for key in ("config", "code_commit", "machine", "wall_time_s", "metrics", "recipe",
                "float16_check", "source_checkpoint"):
        assert key in info, key
    assert info["images_seen"] == info["steps"] * info["batch_size"] * info["processes"]
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert state["kind"] == entry.kind and state["step"] == info["steps"]
    assert "optimizers" not in state and "D" not in state["models"]
    floats = [v for weights in state["models"].values() for v in weights.values()
              if v.is_floating_point()]
    assert floats and all(v.dtype == torch.float16 for v in floats)


def test_shipped_generator_gives_finite_images_of_the_asked_size():
    synth = Synthesizer.from_pretrained("rooms", device="cpu")
    info = shipped_info("rooms")
    assert (synth.step, synth.num_classes) == (info["steps"], info["num_classes"])
    assert {p.dtype for p in synth.generator.parameters()} == {torch.float32}
    for height, width in ((64, 64), (48, 80)):
        labels = blocky_labels(height, width, synth.num_classes, seed=height)
        rgb, depth = synth.synth(labels, seed=1)
        assert rgb.shape == (height, width, 3) and rgb.dtype == np.uint8
        assert depth.shape == (height, width) and depth.dtype == np.float32
        assert np.isfinite(depth).all() and 0 <= depth.min() <= depth.max() <= synth.max_depth_m
    again, _ = synth.synth(labels, seed=1)
    np.testing.assert_array_equal(rgb, again)


def test_shipped_judge_predicts_ids_of_its_classes():
    seg = Segmenter.from_checkpoint("rooms-judge", "cpu")
    assert {p.dtype for p in seg.model.parameters()} == {torch.float32}
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(64, 80, 3), dtype=np.uint8)
    depth = rng.uniform(0.5, 6.0, size=(64, 80)).astype(np.float32)
    ids = seg.predict_frame(rgb, depth)
    assert ids.shape == (64, 80) and 1 <= ids.min() and ids.max() <= seg.num_classes
    batch = seg.predict(torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 1, 64, 64) * 2 - 1)
    assert batch.shape == (2, 64, 64)


def test_a_corrupted_copy_is_refused_naming_the_file_and_both_hashes(tmp_path, capsys):
    bad = copy_shipped("rooms", tmp_path / "w")
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    expected, actual = read_sha256_record(sha256_record(bad)), sha256_file(bad)
    with pytest.raises(PretrainedError) as info:
        resolve("rooms", "gan", weights_dir=tmp_path / "w")
    message = str(info.value)
    assert str(bad) in message and expected in message and actual in message
    # a path with its record beside it is checked too, through every loader and CLI
    with pytest.raises(CheckpointError, match="does not match the recorded"):
        Synthesizer.from_checkpoint(bad, device="cpu")
    from scmis_core.synthesize import main as synthesize_main

    assert synthesize_main(["--checkpoint", str(bad), "--out", str(tmp_path / "s")]) == 2
    assert expected in capsys.readouterr().err
    assert pretrained_main(["verify", "rooms", "--dir", str(tmp_path / "w")]) == 2
    assert resolve("rooms", "gan") == WEIGHTS_DIR / "rooms.pt"  # the shipped one is intact


def test_names_are_checked_for_kind_spelling_and_completeness(tmp_path):
    with pytest.raises(PretrainedError, match="a segmenter, expected a generator"):
        resolve("rooms-judge", "gan")
    with pytest.raises(PretrainedError, match="a generator, expected a segmenter"):
        Segmenter.from_checkpoint("rooms", "cpu")
    with pytest.raises(CheckpointError, match="not a shipped name"):
        Synthesizer.from_checkpoint("room", device="cpu")
    with pytest.raises(PretrainedError, match="missing from this installation"):
        resolve("rooms", "gan", weights_dir=tmp_path)
    copy_shipped("rooms", tmp_path)
    sha256_record(tmp_path / "rooms.pt").unlink()
    with pytest.raises(PretrainedError, match="SHA-256 record .* is missing"):
        resolve("rooms", "gan", weights_dir=tmp_path)
    assert check("rooms", "gan") is None
    assert "file not found" in check(str(tmp_path / "nothing.pt"), "gan")
    plain = tmp_path / "rooms.pt"  # a path without a record beside it: returned as it is
    assert resolve(plain, "gan") == plain
    assert resolve("./rooms", "gan") == Path("rooms").absolute()  # that file, not the weights
    assert resolve(resolve("./rooms", "gan"), "gan") == Path("rooms").absolute()  # stays it
    assert resolve("sub/rooms", "gan") == Path("sub/rooms").absolute()
    assert resolve(Path("rooms"), "gan") == WEIGHTS_DIR / "rooms.pt"  # a bare name


def test_dot_slash_rooms_loads_the_local_file_everywhere(tmp_path, monkeypatch):
    """README: ``./rooms`` names the file. It must stay that file through every second
    lookup (commands resolve once and hand the path to a loader that resolves again)."""
    from test_augment import tiny_generator

    from scmis_core.synthesize import Synthesizer, main as synth_main
    from scmis_ros.synth_node import resolve_checkpoint

    local = tiny_generator(tmp_path / "rooms")
    monkeypatch.chdir(tmp_path)
    shipped = Synthesizer.from_checkpoint("rooms", device="cpu")
    mine = Synthesizer.from_checkpoint("./rooms", device="cpu")
    assert sum(p.numel() for p in mine.generator.parameters()) != \
        sum(p.numel() for p in shipped.generator.parameters())
    assert resolve_checkpoint("./rooms") == local.absolute()

    def synthesized(checkpoint: str) -> bytes:
        out = tmp_path / f"out{len(list(tmp_path.glob('out*')))}"
        assert synth_main(["--checkpoint", checkpoint, "--source", "rooms", "--n", "1",
                           "--variants", "1", "--size", "32x32", "--out", str(out)]) == 0
        return next((out / "rgb").glob("*.png")).read_bytes()

    dot = synthesized("./rooms")
    assert dot == synthesized(str(local.absolute()))
    assert dot != synthesized("rooms")


def test_nodes_and_bag_tool_default_to_the_shipped_generator():
    from scmis_ros.synth_node import PARAMS, resolve_checkpoint

    assert resolve_checkpoint("") == WEIGHTS_DIR / "rooms.pt"
    assert resolve_checkpoint("rooms") == WEIGHTS_DIR / "rooms.pt"
    default = next(p for p in PARAMS if p.name == "checkpoint")
    assert default.default == "rooms" and default.check("rooms") is None
    assert "file not found" in default.check("/nonexistent/g.pt")


def test_pack_a_generator_idempotently_with_an_honest_description(tiny_gan_checkpoint,
                                                                 tmp_path, capsys):
    out = tmp_path / "w"
    source = load_checkpoint(tiny_gan_checkpoint)
    info = pack(tiny_gan_checkpoint, "rooms", out_dir=out, wall_time_s=12.5, commit="abc123")
    assert info["written"] == ["rooms.pt", "rooms.json", "rooms.sha256"]
    assert info["metrics"] is None and info["wall_time_s"] == 12.5
    assert info["code_commit"] == "abc123" and info["weights"].startswith("G_ema")
    batch = source["config"]["train"]["batch_size"]
    assert (info["steps"], info["images_seen"]) == (source["step"], source["step"] * batch)
    packed = torch.load(out / "rooms.pt", map_location="cpu", weights_only=True)
    assert set(packed["models"]) == {"G"} and "optimizers" not in packed
    for key, value in packed["models"]["G"].items():
        original = source["models"]["G_ema"][key]
        if original.is_floating_point():
            assert value.dtype == torch.float16 and torch.equal(value, original.half()), key
        else:
            assert torch.equal(value, original), key
    check_info = info["float16_check"]
    assert check_info["rgb_finite"] and check_info["rgb_max_abs_diff"] < 0.05
    assert resolve("rooms", "gan", weights_dir=out) == out / "rooms.pt"  # hash recorded
    assert pack(tiny_gan_checkpoint, "rooms", out_dir=out, wall_time_s=12.5,
                commit="abc123")["written"] == []  # the same input writes the same bytes
    report = tmp_path / "report.json"
    report.write_text(json.dumps([{"method": "scmis", "checkpoint": str(tiny_gan_checkpoint),
                                   "metrics": {"fid": 100.0, "miou": 0.5},
                                   "num_images": 4}]))
    assert pretrained_main(["pack", str(tiny_gan_checkpoint), "--name", "rooms", "--out-dir",
                            str(out), "--metrics", str(report), "--wall-time-s", "12.5",
                            "--commit", "abc123"]) == 0
    described = json.loads((out / "rooms.json").read_text())
    assert described["metrics"]["fid"] == 100.0 and described["metrics_source"] == "report.json"
    assert "wrote rooms.json" in capsys.readouterr().out  # weights and hash unchanged
    synth = Synthesizer.from_checkpoint(out / "rooms.pt", device="cpu")
    rgb, depth = synth.synth(blocky_labels(32, 32, synth.num_classes), seed=0)
    assert rgb.shape == (32, 32, 3) and np.isfinite(depth).all()


def tiny_segmenter_checkpoint(path: Path) -> Path:
    torch.manual_seed(0)
    model = SmallRGBDUNet(40, widths=(4, 8))
    return SegmenterCheckpoint(
        step=3, num_classes=40, class_names=[f"c{i}" for i in range(1, 41)],
        config={"arch": "unet-rgbd", "arch_kwargs": {"widths": [4, 8]},
                "data": {"source": "rooms", "height": 32, "width": 32, "max_depth_m": 10.0},
                "batch_size": 2},
        models={"segmenter": model.state_dict()}).save(path)


def test_pack_a_segmenter_and_refuse_the_wrong_kind(tmp_path, capsys):
    source = tiny_segmenter_checkpoint(tmp_path / "segmenter.pt")
    out = tmp_path / "w"
    assert pretrained_main(["pack", str(source), "--name", "rooms-judge",
                            "--out-dir", str(out)]) == 0
    info = json.loads((out / "rooms-judge.json").read_text())
    assert (info["steps"], info["images_seen"], info["wall_time_s"]) == (3, 6, None)
    assert info["float16_check"]["prediction_agreement"] > 0.95
    seg = Segmenter.from_checkpoint(out / "rooms-judge.pt", "cpu")
    assert {p.dtype for p in seg.model.parameters()} == {torch.float32}
    assert pretrained_main(["list", "--dir", str(out)]) == 0
    assert "rooms-judge  segmenter" in capsys.readouterr().out
    with pytest.raises(PretrainedError, match="ships a generator"):
        pack(source, "rooms", out_dir=tmp_path / "x")


def test_init_from_copies_the_shipped_generator_and_refuses_other_shapes():
    cfg = from_dict(shipped_info("rooms")["config"])
    gen, ema = (build_generator(cfg.model, 40) for _ in range(2))
    init_generators("rooms", cfg.model, 40, [gen, ema])
    shipped = load_state("rooms", "gan")["models"]["G"]
    for module in (gen, ema):
        for key, value in module.state_dict().items():
            assert value.dtype == shipped[key].dtype and torch.equal(value, shipped[key]), key
    wider = from_dict({**cfg.to_dict(), "model": {**cfg.to_dict()["model"],
                                                  "width": 2 * cfg.model.width}})
    with pytest.raises(CheckpointError, match=r"model\.width"):
        init_generators("rooms", wider.model, 40, [build_generator(wider.model, 40)])


def test_train_init_from_starts_from_the_packed_generator(tiny_gan_checkpoint, tmp_path):
    from scmis_core.train import main as train_main

    pack(tiny_gan_checkpoint, "rooms", out_dir=tmp_path / "w")
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY_GAN_OVERRIDES, "name": "tiny"}))
    run = tmp_path / "run"
    assert train_main(["--config", str(config), "--run-dir", str(run), "--no-eval",
                       "--no-progress", "--init-from", str(tmp_path / "w" / "rooms.pt"),
                       "train.steps=1"]) == 0
    start = load_checkpoint(run / "init.pt")["models"]
    untrained = load_checkpoint(run / "untrained.pt")["models"]
    packed = load_state(tmp_path / "w" / "rooms.pt", "gan")["models"]["G"]
    key = next(k for k, v in packed.items() if k.endswith("weight") and v.ndim == 4)
    assert torch.equal(start["G"][key], packed[key])
    assert torch.equal(start["G_ema"][key], packed[key])
    assert not torch.equal(untrained["G"][key], packed[key])
    # the average keeps train.ema_decay (0.9 here) from the first step: no warm-up, whose
    # decay of 0.1 at step 0 would hand the trained start over to the first update
    final = load_checkpoint(run / "final.pt")["models"]
    moved = (final["G"][key] - packed[key]).norm()
    assert moved > 0 and (final["G_ema"][key] - packed[key]).norm() < 0.2 * moved


def _run_from_empty_folder(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    cwd.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)


@pytest.mark.slow
def test_synthesize_with_the_shipped_name_from_an_empty_folder(tmp_path):
    cwd = tmp_path / "empty"
    proc = _run_from_empty_folder(["-m", "scmis_core.synthesize", "--checkpoint", "rooms",
                                   "--source", "rooms", "--n", "8", "--variants", "4",
                                   "--out", "s"], cwd)
    assert proc.returncode == 0, proc.stderr
    assert len(list((cwd / "s" / "rgb").glob("*.png"))) == 32
    assert len(list((cwd / "s" / "depth").glob("*.png"))) == 32
    assert (cwd / "s" / "grid.png").is_file()


@pytest.mark.slow
def test_evaluate_with_the_shipped_generator_and_judge(tmp_path):
    cwd = tmp_path / "empty"
    proc = _run_from_empty_folder(["-m", "scmis_core.evaluate", "--checkpoint", "rooms",
                                   "--segmenter", "rooms-judge", "--num-images", "4",
                                   "--out", "r"], cwd)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads((cwd / "r" / "report.json").read_text())
    assert len(rows) == 1 and "shipped rooms" in rows[0]["method"]
    metrics = rows[0]["metrics"]
    for key in ("fid", "miou", "miou_real", "abs_rel"):
        assert np.isfinite(metrics[key]), key


def test_bag_tool_runs_the_shipped_generator_and_judge_by_name(tmp_path, capsys):
    """augment_bag with no --checkpoint (= rooms) and --labels-from rooms-judge on a robot
    bag without labels."""
    from test_bag_robot import write_realsense_bag

    from scmis_ros.bag_augment import main as bag_main
    from scmis_ros.bags import bag_summary

    src = write_realsense_bag(tmp_path / "robot")
    out = tmp_path / "robot_augmented"
    assert bag_main([str(src), str(out), "--labels-from", "rooms-judge", "--device", "cpu",
                     "--no-progress", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["labels_from"] == "rooms-judge"
    topics = bag_summary(out)["topics"]
    assert any(t.endswith("synth/rgb/compressed") for t in topics), sorted(topics)


def test_a_rewrite_that_keeps_size_and_mtime_is_hashed_again(tmp_path):
    """A running node re-configured after rooms.pt was replaced in place by a file of the
    same size with its modification time restored: the cached check must not pass it."""
    import os
    import time

    from scmis_core.pretrained import PretrainedError

    path = copy_shipped("rooms", tmp_path)
    assert resolve("rooms", "gan", weights_dir=tmp_path) == path
    before = path.stat()
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    time.sleep(0.01)
    path.write_bytes(bytes(data))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    assert path.stat().st_mtime_ns == before.st_mtime_ns
    with pytest.raises(PretrainedError, match="does not match the recorded"):
        resolve("rooms", "gan", weights_dir=tmp_path)
