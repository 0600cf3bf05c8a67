"""The export and preview command-line tools."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scmis_core.data import export, preview
from scmis_core.data.folder import FolderDataset
from scmis_core.data.io import read_rgb, write_depth, write_labels, write_rgb
from scmis_core.data.labels import colorize_depth, colorize_labels
from scmis_core.data.nyuv2 import NYUv2Dataset
from scmis_core.data.transforms import resize

REPO = Path(__file__).resolve().parents[1]
H, W = 24, 32


def make_folder(root: Path, n: int = 3, split: str = "train", h: int = H, w: int = W) -> Path:
    """A generic folder data set with 3 classes, depth in 0.1 mm units with holes."""
    (root / "classes.yaml").parent.mkdir(parents=True, exist_ok=True)
    (root / "classes.yaml").write_text("classes: [floor, chair, lamp]\ndepth_scale_m: 0.0001\n")
    for i in range(n):
        rng = np.random.default_rng(i)
        stem = f"f{i}"
        depth = rng.uniform(0.4, 6.0, (h, w)).astype(np.float32)
        depth[rng.random((h, w)) < 0.2] = 0
        write_rgb(root / split / "rgb" / f"{stem}.png",
                  rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        write_depth(root / split / "depth" / f"{stem}.png", depth, scale_m=0.0001)
        write_labels(root / split / "labels" / f"{stem}.png", rng.integers(0, 4, (h, w)))
    return root


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error: ")
    return err[0]


def test_export_roundtrip_through_nyuv2_loader(tmp_path):
    src = make_folder(tmp_path / "src", n=3)
    out = tmp_path / "out"
    rc = export.main(["--source", "folder", "--root", str(src), "--out", str(out),
                      "--no-progress"])
    assert rc == 0
    assert (out / "classes.txt").read_text() == "floor\nchair\nlamp\n"
    assert sorted(p.name for p in (out / "train" / "rgb").iterdir()) == \
        ["0000.png", "0001.png", "0002.png"]
    original, copy = FolderDataset(src), NYUv2Dataset(out, "train")
    assert len(copy) == 3 and copy.class_names == original.class_names
    for i in range(3):
        a, b = original[i], copy[i]
        np.testing.assert_array_equal(a.rgb, b.rgb)
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_allclose(a.depth_m, b.depth_m, atol=5e-4 + 1e-6)  # mm precision
        assert not np.array_equal(a.depth_m, b.depth_m)  # the source had sub-mm values
        np.testing.assert_array_equal(a.depth_m > 0, b.depth_m > 0)


def test_export_size_and_n(tmp_path):
    src = make_folder(tmp_path / "src", n=3)
    out = tmp_path / "out"
    assert export.main(["--source", "folder", "--root", str(src), "--out", str(out),
                        "--n", "2", "--size", "12x20", "--no-progress"]) == 0
    copy = NYUv2Dataset(out)
    assert len(copy) == 2
    expected = resize(FolderDataset(src)[1], 12, 20)
    np.testing.assert_array_equal(copy[1].labels, expected.labels)
    np.testing.assert_array_equal(copy[1].rgb, expected.rgb)


def test_export_refuses_non_empty_out_dir(tmp_path, capsys):
    src = make_folder(tmp_path / "src", n=3)
    out = tmp_path / "out"
    args = ["--source", "folder", "--root", str(src), "--out", str(out), "--no-progress"]
    assert export.main(args) == 0
    capsys.readouterr()
    assert export.main(args + ["--n", "1"]) == 2
    assert "not empty" in _error_line(capsys)
    assert len(NYUv2Dataset(out)) == 3  # untouched
    assert export.main(args + ["--n", "1", "--overwrite"]) == 0
    assert len(NYUv2Dataset(out)) == 1  # stale frames of the split were removed


@pytest.mark.parametrize("extra, message", [
    (["--source", "nyuv2", "--root", "{tmp}/missing"], "not found"),
    (["--source", "nyuv2"], "expected the path of the data set"),
    (["--source", "folder", "--root", "{tmp}/src", "--size", "12by20"], "expected HxW"),
    (["--source", "folder", "--root", "{tmp}/src", "--n", "0"],
     "argument --n: expected a positive whole number, found 0"),
    (["--source", "kitti", "--root", "{tmp}"], "invalid choice"),
])
def test_export_bad_input_one_line(tmp_path, capsys, extra, message):
    make_folder(tmp_path / "src", n=1)
    args = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    assert export.main(args + ["--out", str(tmp_path / "out"), "--no-progress"]) == 2
    assert message in _error_line(capsys)


def test_export_bad_file_subprocess_no_traceback(tmp_path):
    src = make_folder(tmp_path / "src", n=2)
    write_labels(src / "train" / "labels" / "f1.png", np.full((H, W), 9))  # ids > 3
    proc = subprocess.run(
        [sys.executable, "-m", "scmis_core.data.export", "--source", "folder", "--root",
         str(src), "--out", str(tmp_path / "out"), "--no-progress"],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr and len(lines) == 1
    assert lines[0].startswith("error: label file ") and "f1.png" in lines[0]
    assert "expected class ids in 0..3, found 9..9" in lines[0]


def test_preview_grid_layout(tmp_path):
    src = make_folder(tmp_path / "src", n=3, h=20, w=30)
    out = tmp_path / "grid.png"
    assert preview.main(["--source", "folder", "--root", str(src), "--n", "2",
                         "--size", "10x16", "--out", str(out), "--max-depth-m", "8"]) == 0
    grid = read_rgb(out)
    gap = preview.GAP
    assert grid.shape == (2 * 10 + gap, 3 * 16 + 2 * gap, 3)
    ds = FolderDataset(src)
    for row in range(2):
        s = resize(ds[row], 10, 16)
        top = row * (10 + gap)
        panels = [grid[top:top + 10, k * (16 + gap):k * (16 + gap) + 16] for k in range(3)]
        np.testing.assert_array_equal(panels[0], s.rgb)
        np.testing.assert_array_equal(panels[1], colorize_depth(s.depth_m, 8.0))
        np.testing.assert_array_equal(panels[2], colorize_labels(s.labels, ds.palette))
    assert (grid[10:10 + gap] == 255).all() and (grid[:, 16:16 + gap] == 255).all()


def test_preview_bad_input(tmp_path, capsys):
    src = make_folder(tmp_path / "src", n=2)
    base = ["--source", "folder", "--root", str(src)]
    assert preview.main(base + ["--out", str(tmp_path / "g.jpg")]) == 2
    assert ".png" in _error_line(capsys)
    assert preview.main(base + ["--n", "0", "--out", str(tmp_path / "g.png")]) == 2
    assert "argument --n: expected a positive whole number, found 0" in _error_line(capsys)
    assert preview.main(base + ["--start", "5", "--out", str(tmp_path / "g.png")]) == 2
    assert "below the 2 frames" in _error_line(capsys)
    assert preview.main(["--source", "sunrgbd", "--root", str(tmp_path / "nothing"),
                         "--out", str(tmp_path / "g.png")]) == 2
    assert "nothing" in _error_line(capsys)
    assert not (tmp_path / "g.png").exists()


def test_help_texts():
    for module in (export, preview):
        with pytest.raises(SystemExit) as exit_info:
            module.build_parser().parse_args(["--help"])
        assert exit_info.value.code == 0


def test_export_rooms_all_splits_roundtrip(tmp_path):
    from scmis_core.data.rooms import RoomsDataset

    out = tmp_path / "rooms"
    assert export.main(["--source", "rooms", "--split", "all", "--n", "2", "--size", "32x48",
                        "--seed", "5", "--out", str(out), "--no-progress"]) == 0
    for split in ("train", "test"):
        copy = NYUv2Dataset(out, split)
        rooms = RoomsDataset(size=2, height=32, width=48, seed=5, split=split)
        assert len(copy) == 2 and copy.num_classes == rooms.num_classes
        for i in range(2):
            a, b = rooms[i], copy[i]
            np.testing.assert_array_equal(a.rgb, b.rgb)
            np.testing.assert_array_equal(a.labels, b.labels)
            np.testing.assert_allclose(a.depth_m, b.depth_m, atol=5e-4 + 1e-6)


def test_preview_rooms(tmp_path):
    out = tmp_path / "rooms.png"
    assert preview.main(["--source", "rooms", "--n", "2", "--size", "32x48",
                         "--out", str(out)]) == 0
    assert read_rgb(out).shape == (2 * 32 + preview.GAP, 3 * 48 + 2 * preview.GAP, 3)
