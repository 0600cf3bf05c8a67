"""Fuzz every loader with random, truncated and mutated files (issue 14 defect 3).

Each loader must either read the file or raise its one clear error type with a message that
names the file; any other exception (IndexError, struct.error, KeyError, UnicodeDecodeError,
...) is a failure. Every case is seeded: a failure names the seed that reproduces it.

Kinds: generator checkpoints (byte-level mutations of a real one and structural mutations of
its dict; loaded with ``load_checkpoint`` and then ``Synthesizer.from_checkpoint``), config
YAML (``load_config``), RGB / depth / label PNGs (``read_rgb`` / ``read_depth`` /
``read_labels``) and rosbag2 folders, sqlite3 and mcap (``scmis_ros.bags.bag_summary`` and
``iter_messages``; decoding of message payloads belongs to bag_augment's own tests).

``COUNT`` cases per kind in the default lane (12 for the structural checkpoint mutations,
each of which builds a network), ``SLOW_COUNT`` under ``-m slow``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch

from scmis_core.checkpoint import CheckpointError, load_checkpoint
from scmis_core.config import ConfigError, load_config
from scmis_core.engine.checkpoints import GanCheckpoint
from scmis_core.data.io import read_depth, read_labels, read_rgb, write_depth, write_labels
from scmis_core.data.io import write_rgb
from scmis_core.models import build_generator
from scmis_core.resources import ResourceLimitError
from scmis_core.synthesize import Synthesizer

REPO = Path(__file__).resolve().parents[1]
COUNT = 30
SLOW_COUNT = 300
COUNTS = [pytest.param(COUNT, id=f"n{COUNT}"),
          pytest.param(SLOW_COUNT, id=f"n{SLOW_COUNT}", marks=pytest.mark.slow)]

pytestmark = [pytest.mark.usefixtures("one_thread"),
              # torch warns about the odd pickle protocols random bytes claim
              pytest.mark.filterwarnings("ignore:Detected pickle protocol")]


# --- mutations -------------------------------------------------------------------------------

def mutate(data: bytes, rng: np.random.Generator) -> tuple[str, bytes]:
    """One random mutation of ``data``: (name, new bytes)."""
    n = len(data)
    op = int(rng.integers(7))
    if op == 0 or n == 0:
        return "random", rng.bytes(int(rng.integers(0, max(2 * n, 64))))
    if op == 1:
        return "truncate", data[:int(rng.integers(0, n))]
    if op == 2:
        buf = bytearray(data)
        for pos in rng.integers(0, n, size=int(rng.integers(1, 9))):
            buf[pos] ^= int(rng.integers(1, 256))
        return "flip", bytes(buf)
    start = int(rng.integers(0, n))
    length = int(rng.integers(1, max(2, n // 8)))
    if op == 3:
        return "zero", data[:start] + bytes(min(length, n - start)) + data[start + length:]
    if op == 4:
        chunk = data[start:start + length]
        at = int(rng.integers(0, n))
        return "insert", data[:at] + chunk + data[at:]
    if op == 5:
        return "delete", data[:start] + data[start + length:]
    # keep the format's header, randomise the rest
    keep = min(n, int(rng.integers(1, 64)))
    return "tail", data[:keep] + rng.bytes(n - keep)


def _check(load: Callable[[Path], object], path: Path, allowed: tuple[type, ...],
           what: str) -> str:
    """Run ``load(path)``; return "ok" or "error"; fail on anything but a clear error."""
    try:
        load(path)
    except allowed as exc:
        message = str(exc)
        assert str(path) in message, f"{what}: the error does not name the file: {message}"
        return "error"
    except Exception as exc:  # noqa: BLE001 - the point of the test
        pytest.fail(f"{what}: {type(exc).__name__} escaped: {exc}")
    return "ok"


# --- seeds -----------------------------------------------------------------------------------

NUM_CLASSES = 5
TINY = ["model.width=2", "model.num_scales=2", "model.spade_hidden=4", "model.z_dim=4",
        "data.height=16", "data.width=16"]


@pytest.fixture(scope="module")
def checkpoint_path(tmp_path_factory):
    cfg = load_config(None, TINY)
    gen = build_generator(cfg.model, NUM_CLASSES)
    path = GanCheckpoint(config=cfg.to_dict(), num_classes=NUM_CLASSES,
                         class_names=[f"c{i}" for i in range(NUM_CLASSES)], step=3,
                         models={"G": gen.state_dict(), "G_ema": gen.state_dict()}
                         ).save(tmp_path_factory.mktemp("seed") / "g.pt")
    Synthesizer.from_checkpoint(path, device="cpu")  # the seed itself loads
    return path


@pytest.fixture(scope="module")
def checkpoint_bytes(checkpoint_path):
    return checkpoint_path.read_bytes()


@pytest.fixture(scope="module")
def checkpoint_state(checkpoint_path):
    """The saved dict as written (format and version included)."""
    return torch.load(checkpoint_path, weights_only=True)


def _load_generator(path: Path) -> None:
    load_checkpoint(path, kind="gan")
    synth = Synthesizer.from_checkpoint(path, device="cpu")
    synth.synth(np.ones((16, 16), np.int64), seed=0)


CHECKPOINT_ERRORS = (CheckpointError, ResourceLimitError)


@pytest.mark.parametrize("count", COUNTS)
def test_fuzz_checkpoint_bytes(count, checkpoint_bytes, tmp_path):
    outcomes = []
    for seed in range(count):
        rng = np.random.default_rng(seed)
        name, data = mutate(checkpoint_bytes, rng)
        path = tmp_path / f"case{seed}.pt"
        path.write_bytes(data)
        outcomes.append(_check(_load_generator, path, CHECKPOINT_ERRORS,
                               f"checkpoint seed {seed} ({name})"))
    assert "error" in outcomes


_JUNK = [None, "x", -1, 0, 2**40, 1.5, [1, 2], {"a": 1}, True, torch.zeros(2)]


def _structural(state: dict, rng: np.random.Generator) -> tuple[str, dict]:
    """Delete or replace one entry of the checkpoint dict (top level, models or config)."""
    import copy

    state = copy.deepcopy(state)
    junk = _JUNK[int(rng.integers(len(_JUNK)))]
    where = int(rng.integers(4))
    if where == 0:
        target, label = state, "state"
    elif where == 1:
        target, label = state["models"], "models"
    elif where == 2:
        target, label = state["config"]["model"], "config.model"
    else:
        target, label = state["models"]["G"], "G"
    key = sorted(target, key=str)[int(rng.integers(len(target)))]
    if rng.random() < 0.3:
        del target[key]
        return f"del {label}[{key!r}]", state
    target[key] = junk
    return f"{label}[{key!r}] = {junk!r}", state


@pytest.mark.parametrize("count", [
    pytest.param(12, id="n12"),  # each case builds a network: fewer in the default lane
    pytest.param(SLOW_COUNT, id=f"n{SLOW_COUNT}", marks=pytest.mark.slow)])
def test_fuzz_checkpoint_structure(count, checkpoint_state, tmp_path):
    outcomes = []
    for seed in range(count):
        name, state = _structural(checkpoint_state, np.random.default_rng(seed))
        path = tmp_path / f"case{seed}.pt"
        torch.save(state, path)
        outcomes.append(_check(_load_generator, path, CHECKPOINT_ERRORS,
                               f"checkpoint structure seed {seed} ({name})"))
    assert "error" in outcomes


@pytest.mark.parametrize("count", COUNTS)
def test_fuzz_config_yaml(count, tmp_path):
    seed_text = (REPO / "config" / "rooms_small.yaml").read_bytes()
    outcomes = []
    for seed in range(count):
        name, data = mutate(seed_text, np.random.default_rng(seed))
        path = tmp_path / f"case{seed}.yaml"
        path.write_bytes(data)
        outcomes.append(_check(load_config, path, (ConfigError,), f"config seed {seed} ({name})"))
    assert "error" in outcomes


@pytest.fixture(scope="module")
def png_seeds(tmp_path_factory):
    folder = tmp_path_factory.mktemp("png")
    rng = np.random.default_rng(0)
    write_rgb(folder / "rgb.png", rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
    write_depth(folder / "depth.png", rng.uniform(0.5, 8.0, (12, 16)).astype(np.float32))
    write_labels(folder / "labels.png", rng.integers(0, 41, (12, 16)))
    write_labels(folder / "labels16.png", rng.integers(0, 900, (12, 16)))
    return {name: (folder / f"{name}.png").read_bytes()
            for name in ("rgb", "depth", "labels", "labels16")}


READERS = {"rgb": read_rgb, "depth": read_depth, "labels": read_labels,
           "labels16": read_labels}


@pytest.mark.parametrize("kind", sorted(READERS))
@pytest.mark.parametrize("count", COUNTS)
def test_fuzz_png_readers(count, kind, png_seeds, tmp_path):
    reader = READERS[kind]
    outcomes = []
    for seed in range(count):
        name, data = mutate(png_seeds[kind], np.random.default_rng(seed))
        path = tmp_path / f"case{seed}.png"
        path.write_bytes(data)
        outcomes.append(_check(reader, path, (ValueError,), f"{kind} PNG seed {seed} ({name})"))
    assert "error" in outcomes


# --- bags ------------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=["sqlite3", "mcap"])
def bag_seed(request, tmp_path_factory):
    from scmis_ros.bags import bag_summary
    from scmis_ros.fixtures import write_rooms_bag

    path = write_rooms_bag(tmp_path_factory.mktemp("bag") / f"seed_{request.param}",
                           storage=request.param, frames=2, height=8, width=8)
    assert bag_summary(path)["messages"] == 8
    return path


def _read_bag(path: Path) -> None:
    from scmis_ros.bags import bag_summary, iter_messages, open_bag

    bag_summary(path)
    with open_bag(path) as reader:
        for _ in iter_messages(reader):
            pass


@pytest.mark.parametrize("count", COUNTS)
def test_fuzz_bags(count, bag_seed, tmp_path):
    from scmis_ros.bags import BagError

    files = sorted(p for p in bag_seed.iterdir() if p.is_file())
    outcomes = []
    for seed in range(count):
        rng = np.random.default_rng(seed)
        case = tmp_path / f"case{seed}"
        shutil.copytree(bag_seed, case)
        target = files[int(rng.integers(len(files)))]
        name, data = mutate(target.read_bytes(), rng)
        (case / target.name).write_bytes(data)
        outcomes.append(_check(_read_bag, case, (BagError,),
                               f"bag seed {seed} ({target.name}: {name})"))
        shutil.rmtree(case)
    assert "error" in outcomes
