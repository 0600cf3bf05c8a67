"""Real NYU Depth v2 data (the nyu_mini bundle): labels, RGB and depth decode as expected.

The bundle is found by :func:`conftest.nyu_mini_path` (``$SCMIS_NYU_MINI``, optional); the
tests are skipped where it is absent.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import nyu_mini_path
from scmis_core.data import export, preview
from scmis_core.data.io import read_depth, read_labels, read_rgb, write_labels
from scmis_core.data.labels import NYU40_CLASSES, voc_palette
from scmis_core.data.nyuv2 import NYUv2Dataset, read_classes_txt

REPO = Path(__file__).resolve().parents[1]
FRAMES = ("0003", "0004", "0005", "0006", "0007", "0008", "0010", "0011", "0012", "0013")


NYU_MINI = nyu_mini_path()
pytestmark = pytest.mark.skipif(
    NYU_MINI is None, reason="nyu_mini not found: set SCMIS_NYU_MINI (real NYUv2 test data)")


def test_classes_and_colours_match_labels_module():
    assert read_classes_txt(NYU_MINI / "classes.txt") == NYU40_CLASSES
    colours = np.loadtxt(NYU_MINI / "classes_colors.txt", dtype=np.int64)
    np.testing.assert_array_equal(colours, voc_palette(41))


def test_all_654_test_label_maps_load_in_range():
    paths = sorted((NYU_MINI / "labels40").glob("*.png"))
    assert len(paths) == 654
    counts = np.zeros(41, np.int64)
    for path in paths:
        labels = read_labels(path)
        assert labels.dtype == np.int64 and labels.shape == (480, 640), path
        assert 0 <= labels.min() and labels.max() <= 40, path
        counts += np.bincount(labels.ravel(), minlength=41)
    assert (counts > 0).all()  # every NYU40 id and void occur in the test split
    void_fraction = counts[0] / counts.sum()
    assert 0.10 < void_fraction < 0.25, void_fraction  # README: about 17 %


@pytest.mark.parametrize("stem", FRAMES)
def test_real_rgb_and_depth_decode(stem):
    rgb_path = NYU_MINI / "frames" / "rgb" / f"{stem}.png"
    rgb = read_rgb(rgb_path)
    assert rgb.dtype == np.uint8 and rgb.shape == (480, 640, 3)
    with Image.open(rgb_path) as image:  # channel order agrees with Pillow's RGB decode
        np.testing.assert_array_equal(rgb, np.asarray(image))
    assert rgb[:, :3].mean() > 250 and rgb[:3].mean() > 250  # white registration border
    depth = read_depth(NYU_MINI / "frames" / "depth" / f"{stem}.png")
    assert depth.dtype == np.float32 and depth.shape == (480, 640)
    assert depth.min() >= 0.5 and depth.max() <= 10.0
    assert 1.0 <= float(np.median(depth)) <= 6.0


def test_real_frames_through_loader_export_and_preview(tmp_path):
    root = tmp_path / "nyu"
    for stem in FRAMES[:3]:
        for kind in ("rgb", "depth"):
            dst = root / "train" / kind / f"{stem}.png"
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(NYU_MINI / "frames" / kind / f"{stem}.png", dst)
        # train labels are not in the bundle: a void map with one labelled wall block
        labels = np.zeros((480, 640), np.int64)
        labels[100:200, 100:300] = 1
        write_labels(root / "train" / "labels_40" / f"{stem}.png", labels)
    ds = NYUv2Dataset(root, "train")
    assert len(ds) == 3 and ds.num_classes == 40
    s = ds[0]
    np.testing.assert_array_equal(s.rgb, read_rgb(NYU_MINI / "frames" / "rgb" / "0003.png"))
    assert export.main(["--source", "nyuv2", "--root", str(root), "--size", "120x160",
                        "--out", str(tmp_path / "small"), "--no-progress"]) == 0
    small = NYUv2Dataset(tmp_path / "small")
    assert small[0].rgb.shape == (120, 160, 3)
    assert 1.0 <= float(np.median(small[0].depth_m)) <= 6.0
    grid_path = tmp_path / "grid.png"
    assert preview.main(["--source", "nyuv2", "--root", str(root), "--n", "3",
                         "--size", "120x160", "--out", str(grid_path)]) == 0
    assert read_rgb(grid_path).shape == (3 * 120 + 2 * preview.GAP,
                                         3 * 160 + 2 * preview.GAP, 3)
