"""The shared output-folder rules: inputs are never written over, foreign files never deleted,
stale temporary folders of killed runs (and only those) removed."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import numpy as np
import pytest

from scmis_core.atomic_files import atomic_write_text
from scmis_core.output_dirs import (MARKER, OutputDirError, check_output_dir,
                                    check_not_overlapping, foreign_entries, prepare_output_dir,
                                    remove_stale_temps, replace_output_dir, temp_dir_beside)


def _bag_like(folder, marker=True):
    folder.mkdir(parents=True)
    (folder / "metadata.yaml").write_text("rosbag2_bagfile_information: {}\n")
    (folder / "x_0.mcap").write_bytes(b"mcap")
    if marker:
        (folder / MARKER).write_text('{"kind": "rosbag2"}')
    return folder


@pytest.mark.parametrize("out, words", [
    ("inp", "is the input"),
    ("inp/sub", "lies inside the input"),
    (".", "contains the input"),
    ("link", "is the input"),
])
def test_overlap_with_an_input_is_refused_whatever_the_options(tmp_path, out, words):
    inp = tmp_path / "inp"
    inp.mkdir()
    (tmp_path / "link").symlink_to(inp)
    for overwrite, resume in ((False, False), (True, False), (False, True)):
        kind = "export" if not resume else "augment"
        with pytest.raises(OutputDirError, match=words):
            check_output_dir(tmp_path / out, overwrite=overwrite, inputs=[inp], kind=kind,
                             resume=resume)
    check_not_overlapping(tmp_path / "other", [inp, None, ""])  # siblings are fine


def test_an_input_file_inside_the_output_is_protected(tmp_path):
    (tmp_path / "out").mkdir()
    ckpt = tmp_path / "out" / "g.pt"
    ckpt.write_bytes(b"x")
    with pytest.raises(OutputDirError, match="contains the input"):
        prepare_output_dir(tmp_path / "out", overwrite=True, inputs=[ckpt], kind="synthesize")
    assert ckpt.read_bytes() == b"x"


def test_existing_outputs_need_overwrite_a_marker_and_nothing_foreign(tmp_path):
    out = tmp_path / "out"
    assert prepare_output_dir(out, overwrite=False, kind="synthesize") == out
    assert (out / MARKER).is_file()
    (out / "rgb").mkdir()
    (out / "rgb" / "a_v0.png").write_bytes(b"png")
    (out / "grid.png").write_bytes(b"png")
    with pytest.raises(OutputDirError, match="pass --overwrite"):
        check_output_dir(out, overwrite=False, kind="synthesize")
    with pytest.raises(OutputDirError, match="holds a synthesize output"):
        check_output_dir(out, overwrite=True, kind="export")
    (out / "rgb" / "notes.txt").write_text("mine")
    (out / "keep").mkdir()
    assert foreign_entries(out, "synthesize") == ["keep/", "rgb/notes.txt"]
    with pytest.raises(OutputDirError, match=r"does not write \(keep/, rgb/notes.txt\)"):
        prepare_output_dir(out, overwrite=True, kind="synthesize")
    assert (out / "rgb" / "a_v0.png").is_file() and (out / "rgb" / "notes.txt").is_file()
    (out / "rgb" / "notes.txt").unlink()
    (out / "keep").rmdir()
    prepare_output_dir(out, overwrite=True, kind="synthesize")
    assert sorted(p.name for p in out.rglob("*")) == [MARKER]


def test_folders_without_our_marker_are_never_replaced(tmp_path):
    bag = _bag_like(tmp_path / "recorded", marker=False)  # e.g. `ros2 bag record` output
    with pytest.raises(OutputDirError, match=f"has no {MARKER}"):
        check_output_dir(bag, overwrite=True, kind="rosbag2")
    with pytest.raises(OutputDirError, match="expected a folder, found a file"):
        check_output_dir(bag / "x_0.mcap", overwrite=True, kind="rosbag2")
    with pytest.raises(OutputDirError, match="has no"):
        check_output_dir(bag, overwrite=False, kind="augment", resume=True)
    assert check_output_dir(tmp_path / "empty_or_missing", overwrite=False, kind="rosbag2") \
        is False
    (tmp_path / "empty").mkdir()
    assert check_output_dir(tmp_path / "empty", overwrite=False, kind="rosbag2") is False
    with pytest.raises(ValueError, match="never overwritten"):
        check_output_dir(tmp_path / "x", overwrite=True, kind="experiments")


def test_resume_accepts_our_folder_as_it_is(tmp_path):
    out = prepare_output_dir(tmp_path / "aug", overwrite=False, kind="augment", resume=True)
    (out / "anything.json").write_text("{}")
    assert prepare_output_dir(out, overwrite=False, kind="augment", resume=True) == out
    assert (out / "anything.json").is_file()


def test_export_overwrite_clears_only_the_given_patterns(tmp_path):
    out = prepare_output_dir(tmp_path / "e", overwrite=False, kind="export")
    for split in ("train", "test"):
        (out / split / "rgb").mkdir(parents=True)
        (out / split / "rgb" / "0000.png").write_bytes(b"p")
    prepare_output_dir(out, overwrite=True, kind="export", clear=["train/rgb/*.png"])
    assert not (out / "train" / "rgb" / "0000.png").exists()
    assert (out / "test" / "rgb" / "0000.png").is_file()


def test_replace_swaps_a_finished_folder_in(tmp_path):
    old = _bag_like(tmp_path / "out")
    tmp = temp_dir_beside(old)
    new = _bag_like(tmp / "out", marker=False)
    (new / "x_0.mcap").write_bytes(b"new")
    replace_output_dir(new, old, overwrite=True, kind="rosbag2")
    assert (old / "x_0.mcap").read_bytes() == b"new" and (old / MARKER).is_file()
    assert list(tmp.iterdir()) == []
    # a foreign file in the old output: refused, both folders as they were
    (old / "other.txt").write_text("keep")
    new = _bag_like(tmp / "out", marker=False)
    with pytest.raises(OutputDirError, match="other.txt"):
        replace_output_dir(new, old, overwrite=True, kind="rosbag2")
    assert (old / "other.txt").read_text() == "keep" and (old / "x_0.mcap").read_bytes() == b"new"


def test_outputs_get_the_umask_permissions_and_a_replaced_file_keeps_its_mode(tmp_path):
    # tempfile's 0600 / 0700 used to reach every atomically written file and output folder
    old_umask = os.umask(0o022)
    try:
        written = atomic_write_text(tmp_path / "report.json", "{}")
        assert stat.S_IMODE(written.stat().st_mode) == 0o644
        folder = temp_dir_beside(tmp_path / "synth")
        assert stat.S_IMODE(folder.stat().st_mode) == 0o755
        os.umask(0o077)
        assert stat.S_IMODE(atomic_write_text(tmp_path / "private", "").stat().st_mode) == 0o600
        os.umask(0o022)
        written.chmod(0o640)
        atomic_write_text(written, "{\"new\": 1}")
        assert stat.S_IMODE(written.stat().st_mode) == 0o640
        assert written.read_text() == '{"new": 1}'
    finally:
        os.umask(old_umask)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".synth.tmp-" + folder.name.split(
        ".synth.tmp-")[1], "private", "report.json"]


def test_stale_temp_folders_of_dead_processes_only_are_removed(tmp_path):
    out = tmp_path / "bag"
    mine = temp_dir_beside(out)  # this (live) process
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / mine.name.replace(f"-{os.getpid()}-", f"-{dead_pid}-")
    stale.mkdir()
    (stale / "bag").mkdir()
    (stale / "bag" / "x.mcap").write_bytes(b"16 MB in real life")
    other_host = tmp_path / f".bag.tmp-someotherhost-{dead_pid}-abc"
    other_name = tmp_path / f".bags.tmp-{mine.name.split('.tmp-')[1]}"
    legacy = tmp_path / ".bag.tmp-k3j4h5"
    for folder in (other_host, other_name, legacy):
        folder.mkdir()
    assert remove_stale_temps(out) == [stale]
    assert not stale.exists()
    assert all(p.is_dir() for p in (mine, other_host, other_name, legacy))


def _tree(folder):
    return sorted((p.relative_to(folder).as_posix(), p.read_bytes() if p.is_file() else b"")
                  for p in folder.rglob("*"))


def _one_error(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1 and err.startswith("error: "), err
    return err


def test_every_overwriting_cli_protects_its_inputs(tmp_path, capsys):
    """export, synthesize, augment and experiments refuse an --out that is, holds or lies in
    an input (--overwrite or not), before writing anything."""
    from scmis_core import augment, synthesize
    from scmis_core.data import export
    from scmis_core.data.io import write_depth, write_labels, write_rgb
    from scmis_ros.fixtures import write_generator_checkpoint

    data = tmp_path / "data"
    (data / "classes.yaml").parent.mkdir()
    (data / "classes.yaml").write_text("classes: [floor, chair]\n")
    write_labels(data / "train" / "labels" / "f0.png", np.zeros((8, 8), np.uint8))
    write_rgb(data / "train" / "rgb" / "f0.png", np.zeros((8, 8, 3), np.uint8))
    write_depth(data / "train" / "depth" / "f0.png", np.ones((8, 8), np.float32))
    (data / "notes.txt").write_text("keep")
    ckpt = write_generator_checkpoint(tmp_path / "models" / "g.pt")
    (tmp_path / "models" / "notes.txt").write_text("keep")
    before = _tree(tmp_path)
    runs = [
        (export.main, ["--source", "folder", "--root", str(data), "--out", str(data),
                       "--overwrite", "--no-progress"], "is the input"),
        (export.main, ["--source", "folder", "--root", str(data), "--out", str(tmp_path),
                       "--overwrite", "--no-progress"], "contains the input"),
        (synthesize.main, ["--checkpoint", str(ckpt), "--labels",
                           str(data / "train" / "labels"), "--out", str(tmp_path / "models"),
                           "--overwrite"], "contains the input"),
        (synthesize.main, ["--checkpoint", str(ckpt), "--source", "folder", "--root",
                           str(data), "--out", str(data / "synth")], "lies inside"),
        (augment.main, ["--checkpoint", str(ckpt), "--source", "rooms", "--rooms-frames",
                        "2", "--size", "16x16", "--device", "cpu", "--no-progress",
                        "--out", str(tmp_path / "models")], "contains the input"),
    ]
    from scmis_core.experiments import main as experiments_main

    runs.append((experiments_main, ["table2", "--generator", str(ckpt), "--budget-min", "0",
                                    "--out", str(tmp_path / "models")],
                 "contains the input"))
    for entry, args, words in runs:
        assert entry(args) == 2, args
        assert words in _one_error(capsys), args
        assert _tree(tmp_path) == before, args
