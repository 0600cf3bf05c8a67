"""Bags with corrupt messages and unwritable outputs (issue 14 defects 3 and 9): stop with one
clear line or skip with a counted warning, never a traceback, never a partial output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rosbags", reason="the rosbags library is not installed")

from bag_fixtures import leftovers, read_all  # noqa: E402
from scmis_ros.bag_augment import augment_bag, main  # noqa: E402
from scmis_ros.bags import BagError, open_bag, typestore  # noqa: E402
from scmis_ros.fixtures import write_rooms_bag  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
IMAGE = "sensor_msgs/msg/Image"
FRAMES = 6


@pytest.fixture(scope="module")
def clean_bag(tmp_path_factory):
    return write_rooms_bag(tmp_path_factory.mktemp("bag") / "clean", "mcap", frames=FRAMES,
                           height=16, width=16)


def rewrite(src: Path, dst: Path, mutate) -> Path:
    """Copy a bag message by message; ``mutate(topic, index, raw)`` returns the new payload."""
    from rosbags.rosbag2 import Writer

    from scmis_ros.bags import copy_connection

    store = typestore()
    seen: dict[str, int] = {}
    with open_bag(src) as reader:
        writer = Writer(dst, version=Writer.VERSION_LATEST)
        writer.open()
        conns = {c.id: copy_connection(writer, c, store) for c in reader.connections}
        for conn, timestamp, raw in reader.messages():
            index = seen.get(conn.topic, 0)
            seen[conn.topic] = index + 1
            writer.write(conns[conn.id], timestamp, mutate(conn.topic, index, bytes(raw)))
        writer.close()
    return dst


def _wider(raw: bytes) -> bytes:
    """Valid CDR whose width does not match its data (a bit flip in the width field)."""
    store = typestore()
    msg = store.deserialize_cdr(raw, IMAGE)
    msg.width += 1
    return bytes(store.serialize_cdr(msg, IMAGE))


def _mutations(topic: str, index: int, raw: bytes) -> bytes:
    if topic == "/camera/labels" and index == 1:
        return raw[:30]  # truncated: no valid CDR
    if topic == "/camera/labels" and index == 2:
        return _wider(raw)
    if topic == "/camera/rgb" and index == 4:
        return raw[:-100]  # data shorter than the header says
    return raw


def test_corrupt_messages_stop_by_default_with_one_clear_line(tmp_path, untrained_synth,
                                                              clean_bag):
    bag = rewrite(clean_bag, tmp_path / "bad", _mutations)
    with pytest.raises(BagError) as info:
        augment_bag(bag, tmp_path / "out", untrained_synth, mode="rgbd", progress=False)
    text = str(info.value)
    assert "topic /camera/labels, message 1: cannot decode the sensor_msgs/msg/Image" in text
    assert "--on-corrupt skip" in text and "\n" not in text
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def test_corrupt_messages_skipped_counted_and_copied(tmp_path, untrained_synth, clean_bag):
    bag = rewrite(clean_bag, tmp_path / "bad", _mutations)
    warnings: list[str] = []
    result = augment_bag(bag, tmp_path / "out", untrained_synth, mode="rgbd", progress=False,
                         on_corrupt="skip", warn=warnings.append)
    # labels 1 (truncated), labels 2 (width), rgb 4 (short data): three counted warnings
    assert result["corrupt"] == 3 and len(warnings) == 3
    assert "message 1" in warnings[0] and warnings[0].endswith("skipped")
    assert any("/camera/labels, message 2" in w and "expected" in w for w in warnings)
    assert any("/camera/rgb, message 4" in w for w in warnings)
    assert result["synthesized"] == FRAMES - 2 and result["mixed"] == FRAMES - 3
    original, augmented = read_all(bag), read_all(tmp_path / "out")
    for topic, messages in original.items():  # corrupt ones too: every input message kept
        assert augmented[topic] == messages, topic
    store = typestore()
    label_stamps = [store.deserialize_cdr(raw, IMAGE).header.stamp.sec * 10**9 +
                    store.deserialize_cdr(raw, IMAGE).header.stamp.nanosec
                    for i, (_, raw) in enumerate(original["/camera/labels"]) if i not in (1, 2)]
    synth_stamps = [store.deserialize_cdr(raw, IMAGE).header.stamp.sec * 10**9 +
                    store.deserialize_cdr(raw, IMAGE).header.stamp.nanosec
                    for _, raw in augmented["/camera/synth/rgb"]]
    assert synth_stamps == label_stamps
    assert len(augmented["/camera/mixed/rgb"]) == FRAMES - 3 and leftovers(tmp_path) == []


def test_a_bag_without_one_usable_label_message_fails_also_when_skipping(tmp_path, untrained_synth,
                                                                         clean_bag):
    bag = rewrite(clean_bag, tmp_path / "bad",
                  lambda topic, i, raw: raw[:25] if topic == "/camera/labels" else raw)
    with pytest.raises(BagError, match=f"no usable label message.*{FRAMES} corrupt"):
        augment_bag(bag, tmp_path / "out", untrained_synth, progress=False, on_corrupt="skip",
                    warn=lambda text: None)
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("seed", range(6))
def test_flipped_payload_bytes_give_output_or_a_clear_error(tmp_path, untrained_synth, clean_bag,
                                                            seed):
    """Random bit flips in the image payloads (headers, sizes, encodings, pixels): either a
    bag (skip) or one BagError line (stop), never another exception."""
    rng = np.random.default_rng(seed)

    def flip(topic: str, index: int, raw: bytes) -> bytes:
        if topic == "/chatter" or rng.random() < 0.5:
            return raw
        data = bytearray(raw)
        for pos in rng.integers(4, min(len(data), 120), size=3):  # header, size, encoding
            data[pos] ^= 1 << int(rng.integers(8))
        return bytes(data)

    bag = rewrite(clean_bag, tmp_path / "bad", flip)
    for on_corrupt in ("stop", "skip"):
        out = tmp_path / f"out_{on_corrupt}"
        try:
            result = augment_bag(bag, out, untrained_synth, mode="rgbd", progress=False,
                                 on_corrupt=on_corrupt, warn=lambda text: None)
        except BagError as exc:
            assert "\n" not in str(exc) and not out.exists()
        else:
            assert result["synthesized"] + result["corrupt"] >= FRAMES
            assert read_all(out)["/camera/labels"] == read_all(bag)["/camera/labels"]
    assert leftovers(tmp_path) == []


def _one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def test_main_corrupt_bag_and_unwritable_output_one_line_exit_2(tmp_path, untrained_generator,
                                                               clean_bag, unwritable, capsys):
    bag = rewrite(clean_bag, tmp_path / "bad", _mutations)
    opts = ["--checkpoint", str(untrained_generator), "--device", "cpu", "--no-progress"]
    assert main([str(bag), str(tmp_path / "out"), *opts]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert str(bag) in line and "/camera/labels, message 1: cannot decode" in line
    assert main([str(clean_bag), str(unwritable), *opts]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert str(unwritable) in line and "cannot write there" in line
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


@pytest.mark.slow
def test_cli_corrupt_bag_and_unwritable_output_one_line_exit_2(tmp_path, untrained_generator,
                                                              clean_bag, unwritable):
    """As real processes: the issue's SerdeError and PermissionError tracebacks are one
    line naming the file and what was wrong, exit code 2."""
    bag = rewrite(clean_bag, tmp_path / "bad", _mutations)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    base = [sys.executable, "-m", "scmis_ros.bag_augment"]
    opts = ["--checkpoint", str(untrained_generator), "--device", "cpu", "--no-progress"]
    proc = subprocess.run([*base, str(bag), str(tmp_path / "out"), *opts], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    line = _one_error_line(proc.stderr)
    assert str(bag) in line and "/camera/labels, message 1: cannot decode" in line
    proc = subprocess.run([*base, str(clean_bag), str(unwritable), *opts], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    line = _one_error_line(proc.stderr)
    assert str(unwritable) in line and "cannot write there" in line
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def test_library_unwritable_output_is_a_bag_error(untrained_synth, clean_bag, unwritable):
    with pytest.raises(BagError, match="cannot write there"):
        augment_bag(clean_bag, unwritable, untrained_synth, progress=False)


def test_cli_skip_prints_counted_warnings(tmp_path, untrained_generator, clean_bag, capsys):
    bag = rewrite(clean_bag, tmp_path / "bad", _mutations)
    assert main([str(bag), str(tmp_path / "out"), "--checkpoint", str(untrained_generator),
                 "--device", "cpu", "--no-progress", "--on-corrupt", "skip"]) == 0
    captured = capsys.readouterr()
    assert captured.err.count("warning: ") == 3 and "3 corrupt skipped" in captured.out
    assert captured.out.startswith("Files:             out")  # ros2 bag info style
