"""Bag augmentation round trips (sqlite3 and mcap) in tmp_path: originals byte-identical,
new topics complete, input untouched, nothing left by interrupted or failed runs."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rosbags", reason="the rosbags library is not installed")

from bag_fixtures import leftovers, read_all  # noqa: E402
from scmis_ros.bag_augment import augment_bag, find_topics, main  # noqa: E402
from scmis_ros.bag_io import Topics  # noqa: E402
from scmis_ros.bags import BagError, open_bag, typestore  # noqa: E402
from scmis_ros.conversions import image_to_numpy, labels_from_image, stamp_ns  # noqa: E402
from scmis_ros.fixtures import write_rooms_bag  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
IMAGE = "sensor_msgs/msg/Image"


def tree_hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_round_trip_keeps_originals_and_adds_complete_topics(tmp_path, untrained_synth, storage):
    src = write_rooms_bag(tmp_path / "in", storage, frames=4, height=24, width=32)
    before = tree_hashes(src)
    out = tmp_path / "out"
    result = augment_bag(src, out, untrained_synth, mode="rgbd", ratio=0.5, seed=3, progress=False)
    assert tree_hashes(src) == before  # the input bag's files are unchanged
    assert result["storage"] == storage and result["mixed"] == 4
    assert (out / "metadata.yaml").is_file() and leftovers(tmp_path) == []
    original, augmented = read_all(src), read_all(out)
    for topic, messages in original.items():
        assert augmented[topic] == messages, topic  # same bytes, same bag timestamps
    with open_bag(src) as a, open_bag(out) as b:
        conns_a = {c.topic: c for c in a.connections}
        conns_b = {c.topic: c for c in b.connections}
        for topic, conn in conns_a.items():
            assert (conns_b[topic].msgtype, conns_b[topic].digest,
                    conns_b[topic].msgdef.data) == (conn.msgtype, conn.digest, conn.msgdef.data)
    store = typestore()
    decode = {t: [store.deserialize_cdr(raw, IMAGE) for _, raw in augmented[t]]
              for t in augmented if t != "/chatter" and not t.endswith("camera_info")}
    labels = decode["/camera/labels"]
    for topic in ("synth/rgb", "synth/depth", "mixed/rgb", "mixed/depth", "mixed/labels"):
        msgs = decode[f"/camera/{topic}"]
        assert len(msgs) == len(labels), topic  # one per label image
        assert [stamp_ns(m.header) for m in msgs] == [stamp_ns(m.header) for m in labels]
        assert all(m.header.frame_id == "camera" for m in msgs)
        assert all((m.height, m.width) == (24, 32) for m in msgs)
    assert [t for t, _ in augmented["/camera/synth/rgb"]] == \
        [t for t, _ in original["/camera/labels"]]
    from scmis_ros.camera_info import CameraModel

    nyu = CameraModel.nyu(24, 32)  # the rooms bag has no camera_info: NYU Kinect, scaled
    for topic in ("/camera/synth/camera_info", "/camera/mixed/camera_info"):
        infos = [store.deserialize_cdr(raw, "sensor_msgs/msg/CameraInfo")
                 for _, raw in augmented[topic]]
        assert [stamp_ns(m.header) for m in infos] == [stamp_ns(m.header) for m in labels]
        assert all((m.height, m.width) == (24, 32) and np.allclose(m.k, nyu.k) for m in infos)
    assert augmented["/camera/mixed/labels"] == [
        (t_mix, raw) for (t_mix, _), (_, raw) in zip(augmented["/camera/mixed/labels"],
                                                     original["/camera/labels"])]
    # each class of a mixed frame comes entirely from the real or from the synthesized image
    for i, lab_msg in enumerate(labels):
        lab = labels_from_image(lab_msg)
        real = image_to_numpy(decode["/camera/rgb"][i])
        fake = image_to_numpy(decode["/camera/synth/rgb"][i])
        mixed = image_to_numpy(decode["/camera/mixed/rgb"][i])
        from_real = np.all(mixed == real, axis=-1)
        from_fake = np.all(mixed == fake, axis=-1)
        assert np.all(from_real | from_fake)
        replaced = 0
        for cls in np.unique(lab):
            region = lab == cls
            differs = ~np.all(real[region] == fake[region], axis=-1)
            if differs.any():  # decidable: real and fake differ somewhere in the class
                taken_fake = from_fake[region][differs]
                assert taken_fake.all() or not taken_fake.any()
                replaced += int(taken_fake.all())
        assert replaced >= 1


def test_storage_conversion_and_namespace(tmp_path, untrained_synth):
    src = write_rooms_bag(tmp_path / "in", "sqlite3", frames=2, height=16, width=16)
    out = tmp_path / "out_mcap"
    result = augment_bag(src, out, untrained_synth, storage="mcap", namespace="/aug",
                         progress=False, preview=tmp_path / "preview.png")
    assert result["storage"] == "mcap" and list(out.glob("*.mcap"))
    from PIL import Image as PILImage

    with PILImage.open(tmp_path / "preview.png") as png:  # 2 rows of 7 16x16 cells, gap 2
        assert png.size == (7 * 18 - 2, 2 * 18 - 2)
    topics = read_all(out)
    assert len(topics["/aug/synth/rgb"]) == 2 and len(topics["/aug/mixed/rgb"]) == 2
    assert topics["/camera/rgb"] == read_all(src)["/camera/rgb"]


class _Shim:
    """``synth(labels, seed)`` that raises KeyboardInterrupt on call number ``after``."""

    def __init__(self, inner, after):
        self.inner, self.after, self.calls = inner, after, 0
        self.num_classes = inner.num_classes

    def synth(self, labels, seed=None):
        self.calls += 1
        if self.calls >= self.after:
            raise KeyboardInterrupt
        return self.inner.synth(labels, seed=seed)


def test_interrupted_run_leaves_nothing(tmp_path, untrained_synth):
    src = write_rooms_bag(tmp_path / "in", "mcap", frames=5, height=16, width=16)
    before = tree_hashes(src)
    with pytest.raises(KeyboardInterrupt):
        augment_bag(src, tmp_path / "out", _Shim(untrained_synth, 3), progress=False)
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []
    assert tree_hashes(src) == before


@pytest.mark.slow
def test_ctrl_c_on_the_cli_leaves_nothing(tmp_path, untrained_generator):
    # 400 frames: the augmentation loop runs for seconds, so the Ctrl-C below lands inside
    # it even on an idle machine (40 frames finished in half a second there).
    src = write_rooms_bag(tmp_path / "in", "sqlite3", frames=400, height=48, width=64)
    before = tree_hashes(src)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "scmis_ros.bag_augment", str(src),
                             str(tmp_path / "out"), "--checkpoint", str(untrained_generator),
                             "--device", "cpu"], env=env, cwd=tmp_path,
                            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            # a suite run as a background job passes SIGINT on ignored
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while not leftovers(tmp_path) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # the output folder exists: the loop has started
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted: no output written" in err
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []
    assert tree_hashes(src) == before


def test_overwrite_is_refused_unless_asked(tmp_path, untrained_generator, capsys):
    src = write_rooms_bag(tmp_path / "in", "mcap", frames=2, height=16, width=16)
    out = tmp_path / "out"
    args = [str(src), str(out), "--checkpoint", str(untrained_generator), "--device", "cpu",
            "--no-progress"]
    assert main(args) == 0
    first = read_all(out)
    assert main(args + ["--seed", "7"]) == 2
    assert "already exists and is not empty; pass --overwrite" in capsys.readouterr().err
    assert read_all(out) == first
    assert main(args + ["--seed", "7", "--overwrite"]) == 0
    second = read_all(out)
    assert second["/camera/labels"] == first["/camera/labels"]
    assert second["/camera/synth/rgb"] != first["/camera/synth/rgb"]  # new seed, new images
    assert leftovers(tmp_path) == []


def _run_cli(args, cwd, timeout=120):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "scmis_ros.bag_augment", *map(str, args)],
                          env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def _error_line(proc):
    """The single ``error:`` line of a failed run (no traceback)."""
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


def test_overwrite_never_deletes_the_input_or_foreign_files(tmp_path, untrained_generator, capsys):
    """Issue 14, defect 1: `bag_augment P/inner P --overwrite` deleted P/inner (the input)
    and P/other.txt and exited 0."""
    src = write_rooms_bag(tmp_path / "small_bag", "mcap", frames=2, height=16, width=16)
    parent = tmp_path / "P"
    parent.mkdir()
    inner = parent / "inner"
    import shutil

    shutil.copytree(src, inner)
    (parent / "other.txt").write_text("keep\n")
    before = tree_hashes(parent)
    common = ["--checkpoint", untrained_generator, "--device", "cpu", "--no-progress"]
    proc = _run_cli([inner, parent, "--overwrite", *common], cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "contains the input" in _error_line(proc)
    assert tree_hashes(parent) == before and (parent / "other.txt").read_text() == "keep\n"
    assert leftovers(tmp_path) == []
    # a folder that is not a bag written by us is never replaced either (in-process: faster)
    for args, words in (([src, parent], "has no .scmis-output.json"),
                        # a recorded bag (arguments swapped by mistake), the input itself
                        ([tmp_path / "other", src], "has no .scmis-output.json"),
                        ([src, src], "is the input")):
        assert main([*map(str, args), "--overwrite", *map(str, common)]) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1, err
    assert tree_hashes(parent) == before and tree_hashes(inner) == tree_hashes(src)


def test_overwrite_refuses_an_augmented_bag_that_gained_foreign_files(tmp_path, untrained_synth):
    src = write_rooms_bag(tmp_path / "in", "mcap", frames=1, height=16, width=16)
    out = tmp_path / "out"
    augment_bag(src, out, untrained_synth, progress=False)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(BagError, match=r"does not write \(notes.txt\)"):
        augment_bag(src, out, untrained_synth, progress=False, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine" and (out / "metadata.yaml").is_file()
    (out / "notes.txt").unlink()
    augment_bag(src, out, untrained_synth, progress=False, overwrite=True, seed=5)
    assert leftovers(tmp_path) == []


def _bag_with(tmp_path, name, topics):
    """A bag with the given {topic: [(encoding, array)]} Image messages (and nothing else)."""
    from rosbags.rosbag2 import Writer

    from scmis_ros.conversions import make_image

    store = typestore()
    cls = store.types[IMAGE]
    header = store.types["std_msgs/msg/Header"](
        stamp=store.types["builtin_interfaces/msg/Time"](sec=1, nanosec=0), frame_id="c")
    path = tmp_path / name
    writer = Writer(path, version=9)
    writer.open()
    for topic, messages in topics.items():
        conn = writer.add_connection(topic, IMAGE, typestore=store)
        for k, (encoding, array) in enumerate(messages):
            writer.write(conn, 1000 + k, store.serialize_cdr(
                make_image(array, encoding, header, cls), IMAGE))
    writer.close()
    return path


@pytest.mark.parametrize("case, words", [
    ("missing", ["not found"]),
    ("not_a_bag", ["not a rosbag2 folder"]),
    ("corrupt", ["not a readable rosbag2"]),
    ("empty", ["contains no messages"]),
    ("no_labels", ["no label topic found", "/camera/rgb", "--labels-topic"]),
    ("wrong_encoding", ["/seg/labels", "message 0", "expected encoding", "'rgb8'"]),
    ("ids_out_of_range", ["/seg/labels", "message 1", "0..40"]),
])
def test_clear_errors_and_no_output(tmp_path, untrained_synth, case, words):
    rgb = np.zeros((8, 8, 3), np.uint8)
    labels = np.ones((8, 8), np.uint8)
    if case == "missing":
        src = tmp_path / "nope"
    elif case == "not_a_bag":
        src = tmp_path / "folder"
        src.mkdir()
    elif case == "corrupt":
        src = write_rooms_bag(tmp_path / "bag", "sqlite3", frames=1, height=8, width=8)
        db = next(src.glob("*.db3"))
        db.write_bytes(b"this is not sqlite" * 10)
    elif case == "empty":
        src = _bag_with(tmp_path, "bag", {"/camera/labels": []})
    elif case == "no_labels":
        src = _bag_with(tmp_path, "bag", {"/camera/rgb": [("rgb8", rgb)]})
    elif case == "wrong_encoding":
        src = _bag_with(tmp_path, "bag", {"/seg/labels": [("rgb8", rgb)]})
    else:
        src = _bag_with(tmp_path, "bag", {"/seg/labels": [("mono8", labels),
                                                          ("mono8", labels * 99)]})
    with pytest.raises(BagError) as info:
        augment_bag(src, tmp_path / "out", untrained_synth, progress=False)
    for word in words:
        assert word in str(info.value)
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def test_topic_detection():
    topics = {"/cam/color/image_raw": IMAGE, "/cam/depth/image_raw": IMAGE,
              "/cam/semantic_labels": IMAGE, "/tf": "tf2_msgs/msg/TFMessage",
              "/cam/synth/rgb": IMAGE}
    assert find_topics(topics) == Topics("/cam/semantic_labels", "/cam/color/image_raw",
                                         "/cam/depth/image_raw", None)
    assert find_topics({"/l": IMAGE}, labels_topic="/l") == Topics("/l", None, None, None)
    with pytest.raises(BagError, match="--rgb-topic /x: not in the bag"):
        find_topics(topics, rgb_topic="/x")
    with pytest.raises(BagError, match="expected type sensor_msgs/msg/Image"):
        find_topics(topics, labels_topic="/tf")
    with pytest.raises(BagError, match="several labels topics"):
        find_topics({"/a/labels": IMAGE, "/b/labels": IMAGE})


_HOLD_TEMP = """
import sys, time
from scmis_ros.bags import atomic_bag_writer
with atomic_bag_writer(sys.argv[1], "mcap") as writer:
    print("writing", flush=True)
    time.sleep(120)
"""


def _writer_process(out):
    """A real process inside atomic_bag_writer (its temp folder exists), waiting."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-c", _HOLD_TEMP, str(out)], env=env,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    return proc


def test_sigkill_leftovers_are_removed_by_the_next_run(tmp_path, untrained_synth):
    """Issue 14 defect 6: a SIGKILLed run left .NAME.tmp-* folders that no rerun removed.
    The next run removes those of dead processes and keeps a live run's."""
    src = write_rooms_bag(tmp_path / "in", "mcap", frames=2, height=16, width=16)
    out = tmp_path / "out"
    killed = _writer_process(out)
    killed.send_signal(signal.SIGKILL)
    killed.wait(10)
    stale = leftovers(tmp_path)
    assert len(stale) == 1 and f"-{killed.pid}-" in stale[0]
    live = _writer_process(out)
    try:
        mine = [name for name in leftovers(tmp_path) if f"-{live.pid}-" in name]
        augment_bag(src, out, untrained_synth, progress=False)
        assert leftovers(tmp_path) == mine  # the dead run's folder is gone, the live one's not
        assert (out / "metadata.yaml").is_file()
    finally:
        live.kill()
        live.wait(10)
