"""Image IO and every file-based data source, on tiny files written to tmp_path."""

from __future__ import annotations

import pickle
import warnings

import cv2
import h5py
import numpy as np
import pytest
import scipy.io
from PIL import Image

from scmis_core.config import DATA_SOURCES, DataConfig
from scmis_core.data import io
from scmis_core.data.cityscapes import CityscapesDataset
from scmis_core.data.folder import FolderDataset
from scmis_core.data.labels import CITYSCAPES_CLASSES, NYU40_CLASSES, SUNRGBD37_CLASSES
from scmis_core.data.nyuv2 import NYUv2Dataset, NYUv2MatDataset
from scmis_core.data.registry import dataset_from_config, open_dataset
from scmis_core.data.sunrgbd import (SUNRGBDDataset, decode_sunrgbd_depth,
                                     encode_sunrgbd_depth)

H, W = 24, 32


def _frame(seed: int, num_classes: int = 40, h: int = H, w: int = W):
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    depth_mm = rng.integers(500, 9000, (h, w)).astype(np.uint16)
    depth_mm[rng.random((h, w)) < 0.1] = 0  # holes
    labels = rng.integers(0, num_classes + 1, (h, w)).astype(np.uint8)
    return rgb, depth_mm, labels


def _save_png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def make_nyu(root, split="train", n=3, label_dir="labels_40", num_classes=40, depth=True,
             encode_depth=None, h=H, w=W):
    """Write n frames; return the list of (rgb, depth_mm, labels) arrays written."""
    frames = []
    for i in range(n):
        rgb, depth_mm, labels = _frame(100 + i, num_classes, h, w)
        stem = f"{i + 1:04d}"
        _save_png(root / split / "rgb" / f"{stem}.png", rgb)
        if depth:
            stored = depth_mm if encode_depth is None else encode_depth(depth_mm)
            _save_png(root / split / "depth" / f"{stem}.png", stored)
        _save_png(root / split / label_dir / f"{stem}.png", labels)
        frames.append((rgb, depth_mm, labels))
    return frames


# --- io ------------------------------------------------------------------------------------

def test_rgb_roundtrip_keeps_channel_order(tmp_path):
    rgb, _, _ = _frame(0)
    path = tmp_path / "a.png"
    io.write_rgb(path, rgb)
    with Image.open(path) as image:  # an independent decoder
        assert image.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(image), rgb)
    out = io.read_rgb(path)
    assert out.dtype == np.uint8 and out.shape == (H, W, 3)
    np.testing.assert_array_equal(out, rgb)


def test_rgb_reads_jpeg_and_drops_alpha(tmp_path):
    red = np.zeros((16, 16, 3), np.uint8)
    red[..., 0] = 250
    Image.fromarray(red).save(tmp_path / "red.jpg", quality=95)
    out = io.read_rgb(tmp_path / "red.jpg")
    assert out.shape == (16, 16, 3)
    assert out[..., 0].min() > 230 and out[..., 1:].max() < 20
    rgba = np.dstack([red, np.full((16, 16), 7, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    np.testing.assert_array_equal(io.read_rgb(tmp_path / "rgba.png"), red)


@pytest.mark.parametrize("array, found", [
    (np.zeros((8, 8), np.uint8), "8-bit grayscale"),
    (np.zeros((8, 8), np.uint16), "16-bit grayscale"),
    (np.zeros((8, 8, 3), np.uint16), "16-bit 3-channel"),
])
def test_rgb_rejects_wrong_mode(tmp_path, array, found):
    path = tmp_path / "bad.png"
    cv2.imwrite(str(path), array)
    with pytest.raises(ValueError) as err:
        io.read_rgb(path)
    assert str(path) in str(err.value) and found in str(err.value)


def test_depth_roundtrip_and_encoding(tmp_path):
    depth_m = np.array([[0.0, 0.0004, 1.2344], [np.nan, -1.0, 70.0]], np.float32)
    path = tmp_path / "d.png"
    io.write_depth(path, depth_m)
    raw = io.read_depth_raw(path)
    assert raw.dtype == np.uint16
    # invalid -> 0, a tiny valid depth stays valid (1 mm), mm rounding, clip at 65.535 m
    np.testing.assert_array_equal(raw, [[0, 1, 1234], [0, 0, 65535]])
    out = io.read_depth(path)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0, 0.001, 1.234], [0, 0, 65.535]], atol=1e-6)


def test_depth_rejects_8bit_and_colour(tmp_path):
    path = tmp_path / "d8.png"
    cv2.imwrite(str(path), np.full((8, 8), 3, np.uint8))
    with pytest.raises(ValueError, match="expected a 16-bit depth PNG, found 8-bit") as err:
        io.read_depth(path)
    assert str(path) in str(err.value)
    cv2.imwrite(str(tmp_path / "c.png"), np.zeros((8, 8, 3), np.uint16))
    with pytest.raises(ValueError, match="single-channel"):
        io.read_depth(tmp_path / "c.png")


def test_labels_8bit_16bit_palette(tmp_path):
    ids8 = np.arange(64, dtype=np.uint8).reshape(8, 8)
    _save_png(tmp_path / "l8.png", ids8)
    ids16 = (np.arange(64, dtype=np.uint16) * 1000).reshape(8, 8)
    _save_png(tmp_path / "l16.png", ids16)
    pal = Image.fromarray(ids8 % 5, mode="P")
    pal.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9])
    pal.save(tmp_path / "lp.png")
    for name, expected in (("l8", ids8), ("l16", ids16), ("lp", ids8 % 5)):
        out = io.read_labels(tmp_path / f"{name}.png")
        assert out.dtype == np.int64
        np.testing.assert_array_equal(out, expected)


def test_labels_write_roundtrip_and_rejects_colour(tmp_path):
    labels = np.array([[0, 3], [300, 7]], np.int64)
    io.write_labels(tmp_path / "l.png", labels)
    np.testing.assert_array_equal(io.read_labels(tmp_path / "l.png"), labels)
    _save_png(tmp_path / "c.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="single-channel 8- or 16-bit label PNG") as err:
        io.read_labels(tmp_path / "c.png")
    assert "c.png" in str(err.value) and "RGB" in str(err.value)
    with pytest.raises(ValueError, match="0..65535"):
        io.write_labels(tmp_path / "neg.png", np.array([[-1]]))


@pytest.mark.parametrize("reader", [io.read_rgb, io.read_depth, io.read_labels])
def test_missing_and_corrupt_files(tmp_path, reader):
    missing = tmp_path / "nope.png"
    with pytest.raises(FileNotFoundError, match="not found") as err:
        reader(missing)
    assert str(missing) in str(err.value)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match="cannot decode") as err:
        reader(corrupt)
    assert str(corrupt) in str(err.value)


# --- NYUv2 folder layout ---------------------------------------------------------------------

def test_nyuv2_layout_loads_frames(tmp_path):
    frames = make_nyu(tmp_path, "train", n=3)
    make_nyu(tmp_path, "test", n=2)
    ds = NYUv2Dataset(tmp_path, "train")
    assert len(ds) == 3 and ds.num_classes == 40 and ds.class_names == NYU40_CLASSES
    assert len(NYUv2Dataset(tmp_path, "test")) == 2
    for i, (rgb, depth_mm, labels) in enumerate(frames):
        s = ds[i]
        assert s.name == f"{i + 1:04d}"
        np.testing.assert_array_equal(s.rgb, rgb)
        np.testing.assert_array_equal(s.labels, labels)
        np.testing.assert_allclose(s.depth_m, depth_mm / 1000.0, atol=1e-6)
    assert "labels_40/0002.png" in ds.describe(1) and "depth/0002.png" in ds.describe(1)


def test_nyuv2_classes_txt_overrides_names(tmp_path):
    make_nyu(tmp_path, n=1, num_classes=3)
    (tmp_path / "classes.txt").write_text("a\nb\nc\n")
    ds = NYUv2Dataset(tmp_path)
    assert ds.class_names == ("a", "b", "c") and ds[0].labels.max() <= 3


def test_nyuv2_missing_and_empty_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found") as err:
        NYUv2Dataset(tmp_path / "nothing")
    assert "nothing" in str(err.value)
    (tmp_path / "train" / "rgb").mkdir(parents=True)
    with pytest.raises(ValueError, match="empty") as err:
        NYUv2Dataset(tmp_path)
    assert str(tmp_path / "train" / "rgb") in str(err.value)
    make_nyu(tmp_path, "test", n=1)
    with pytest.raises(FileNotFoundError) as err:
        NYUv2Dataset(tmp_path, "val")
    assert str(tmp_path / "val") in str(err.value)


def test_nyuv2_missing_label_file_named(tmp_path):
    make_nyu(tmp_path, n=3)
    (tmp_path / "train" / "labels_40" / "0002.png").unlink()
    with pytest.raises(FileNotFoundError) as err:
        NYUv2Dataset(tmp_path)
    msg = str(err.value)
    assert "0002.png" in msg and "labels_40" in msg


def test_nyuv2_size_mismatch_names_files(tmp_path):
    make_nyu(tmp_path, n=2)
    _save_png(tmp_path / "train" / "depth" / "0002.png", np.ones((10, 12), np.uint16))
    ds = NYUv2Dataset(tmp_path)
    ds[0]
    with pytest.raises(ValueError, match="differ in size") as err:
        ds[1]
    msg = str(err.value)
    assert "depth/0002.png is 10x12" in msg and f"rgb/0002.png is {H}x{W}" in msg


def test_nyuv2_ids_out_of_range_name_file(tmp_path):
    make_nyu(tmp_path, n=2)
    bad = np.zeros((H, W), np.uint8)
    bad[3, 4] = 41
    _save_png(tmp_path / "train" / "labels_40" / "0001.png", bad)
    with pytest.raises(ValueError, match=r"expected class ids in 0\.\.40, found 0\.\.41") as err:
        NYUv2Dataset(tmp_path)[0]
    assert "labels_40/0001.png" in str(err.value)


# --- NYUv2 official .mat -------------------------------------------------------------------

def make_nyu_mat(tmp_path, n=5, h=6, w=8, with_files=True):
    """A tiny nyu_depth_v2_labeled.mat look-alike in MATLAB v7.3's transposed HDF5 layout."""
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8)
    depth = rng.uniform(0.5, 9.0, (n, h, w)).astype(np.float32)
    raw = rng.integers(0, 895, (n, h, w)).astype(np.uint16)
    path = tmp_path / "nyu_depth_v2_labeled.mat"
    with h5py.File(path, "w") as f:
        f["images"] = rgb.transpose(0, 3, 2, 1)  # (N, 3, W, H)
        f["depths"] = depth.transpose(0, 2, 1)  # (N, W, H)
        f["labels"] = raw.transpose(0, 2, 1)
        f["names"] = np.zeros(3)  # extra datasets of the real file are ignored
    map_class = (np.arange(894) % 40 + 1).astype(np.float64)[None, :]  # 1x894 like MATLAB
    names = np.empty((1, 40), dtype=object)
    for i, name in enumerate(NYU40_CLASSES):
        names[0, i] = name
    if with_files:
        scipy.io.savemat(tmp_path / "classMapping40.mat",
                         {"mapClass": map_class, "className": names})
        scipy.io.savemat(tmp_path / "splits.mat",
                         {"trainNdxs": np.array([[2], [4], [5]], np.float64),
                          "testNdxs": np.array([[1], [3]], np.float64)})
    lut = np.concatenate([[0], map_class[0]]).astype(np.int64)
    return path, rgb, depth, lut[raw]


def test_nyuv2_mat_transposes_maps_and_splits(tmp_path):
    path, rgb, depth, labels40 = make_nyu_mat(tmp_path)
    train = NYUv2MatDataset(path, "train")
    test = NYUv2MatDataset(path, "test")
    assert (len(train), len(test)) == (3, 2) and train.num_classes == 40
    assert train.class_names == NYU40_CLASSES
    for ds, frames in ((train, [1, 3, 4]), (test, [0, 2])):
        for i, k in enumerate(frames):
            s = ds[i]
            assert s.rgb.shape == (6, 8, 3) and s.name == f"{k + 1:04d}"
            np.testing.assert_array_equal(s.rgb, rgb[k])
            np.testing.assert_array_equal(s.depth_m, depth[k])
            np.testing.assert_array_equal(s.labels, labels40[k])
    assert "frame 5 (1-based)" in train.describe(2) and str(path) in train.describe(2)
    train.close()
    clone = pickle.loads(pickle.dumps(train))  # data-loader workers reopen the file
    np.testing.assert_array_equal(clone[0].rgb, rgb[1])


def test_nyuv2_mat_explicit_paths_and_fallback_split(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    path, rgb, _, labels40 = make_nyu_mat(data_dir, n=6, with_files=False)
    with pytest.raises(FileNotFoundError, match="classMapping40.mat"):
        NYUv2MatDataset(path)
    make_nyu_mat(tmp_path, n=1)  # writes the two small files elsewhere
    ds = NYUv2MatDataset(path, "test", mapping=tmp_path / "classMapping40.mat",
                         splits=tmp_path / "splits.mat")
    np.testing.assert_array_equal(ds[1].labels, labels40[2])
    lut = np.zeros(895, np.int64)
    with pytest.warns(UserWarning, match="NOT the standard NYUv2 split"):
        fallback = NYUv2MatDataset(path, "train", mapping=lut)
    assert len(fallback) == round(6 * 795 / 1449) == 3
    assert fallback[0].labels.max() == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert len(NYUv2MatDataset(path, "test", mapping=lut)) == 3
        assert len(NYUv2MatDataset(path, "all", mapping=lut)) == 6


def test_nyuv2_mat_bad_layout(tmp_path):
    path = tmp_path / "x.mat"
    with h5py.File(path, "w") as f:
        f["images"] = np.zeros((2, 4, 5, 3), np.uint8)  # not (N, 3, W, H)
        f["depths"] = np.zeros((2, 4, 5), np.float32)
        f["labels"] = np.zeros((2, 4, 5), np.uint16)
    with pytest.raises(ValueError, match=r"expected images of shape \(N, 3, W, H\)") as err:
        NYUv2MatDataset(path, mapping=np.zeros(895, np.int64))
    assert str(path) in str(err.value)
    with h5py.File(path, "w") as f:
        f["images"] = np.zeros((2, 3, 5, 4), np.uint8)
    with pytest.raises(ValueError, match=r"missing \['depths', 'labels'\]"):
        NYUv2MatDataset(path, mapping=np.zeros(895, np.int64))


# --- SUN RGB-D, Cityscapes, folder ----------------------------------------------------------

def test_sunrgbd_depth_decode_hand_values():
    # stored = rotate-left-3(mm): 1000 -> 8000; 8191 -> 65528; 8192 = 2**13 -> 1;
    # 12345 -> (12345 << 3) mod 2**16 = 33224, | (12345 >> 13) = 1 -> 33225
    raw = np.array([[0, 8000, 65528], [1, 33225, 65535]], np.uint16)
    np.testing.assert_allclose(decode_sunrgbd_depth(raw),
                               [[0, 1.0, 8.191], [8.192, 12.345, 65.535]], rtol=1e-6)
    assert decode_sunrgbd_depth(raw).dtype == np.float32
    mm = np.array([0, 1000, 8191, 8192, 12345, 65535], np.uint16)
    np.testing.assert_array_equal(encode_sunrgbd_depth(mm), [0, 8000, 65528, 1, 33225, 65535])


def test_sunrgbd_layout(tmp_path):
    frames = make_nyu(tmp_path, "test", n=2, label_dir="labels", num_classes=37,
                      encode_depth=encode_sunrgbd_depth)
    ds = SUNRGBDDataset(tmp_path, "test")
    assert ds.num_classes == 37 and ds.class_names == SUNRGBD37_CLASSES and len(ds) == 2
    s = ds[1]
    np.testing.assert_allclose(s.depth_m, frames[1][1] / 1000.0, atol=1e-6)
    np.testing.assert_array_equal(s.labels, frames[1][2])
    _save_png(tmp_path / "test" / "labels" / "0001.png", np.full((H, W), 38, np.uint8))
    with pytest.raises(ValueError, match=r"0\.\.37, found 38\.\.38") as err:
        ds[0]
    assert "labels/0001.png" in str(err.value)


def _make_cityscapes(root, split="val"):
    rng = np.random.default_rng(3)
    written = {}
    for city, frame in (("bonn", 19), ("aachen", 7), ("aachen", 12)):
        stem = f"{city}_000000_{frame:06d}"
        rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        ids = rng.integers(0, 34, (H, W)).astype(np.uint8)
        _save_png(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", rgb)
        _save_png(root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png", ids)
        _save_png(root / "gtFine" / split / city / f"{stem}_gtFine_color.png", rgb)
        written[stem] = (rgb, ids)
    return written


def test_cityscapes_layout(tmp_path):
    written = _make_cityscapes(tmp_path)
    ds = CityscapesDataset(tmp_path, "val")
    assert ds.num_classes == 33 and ds.class_names == CITYSCAPES_CLASSES and not ds.has_depth
    assert [ds[i].name for i in range(len(ds))] == sorted(written)
    for i in range(len(ds)):
        s = ds[i]
        np.testing.assert_array_equal(s.rgb, written[s.name][0])
        np.testing.assert_array_equal(s.labels, written[s.name][1])
        assert s.depth_m.dtype == np.float32 and not s.depth_m.any()
    missing = tmp_path / "gtFine" / "val" / "bonn" / "bonn_000000_000019_gtFine_labelIds.png"
    missing.unlink()
    with pytest.raises(FileNotFoundError) as err:
        CityscapesDataset(tmp_path, "val")
    assert str(missing) in str(err.value)
    with pytest.raises(FileNotFoundError, match="leftImg8bit"):
        CityscapesDataset(tmp_path, "train")


def test_folder_layout_scale_and_optional_depth(tmp_path):
    (tmp_path / "classes.yaml").write_text("classes: [floor, chair, lamp]\n"
                                           "depth_scale_m: 0.0002\n")
    frames = make_nyu(tmp_path, "train", n=2, label_dir="labels", num_classes=3)
    make_nyu(tmp_path, "val", n=1, label_dir="labels", num_classes=3, depth=False)
    ds = FolderDataset(tmp_path, "train")
    assert ds.class_names == ("floor", "chair", "lamp") and ds.has_depth
    np.testing.assert_allclose(ds[0].depth_m, frames[0][1] * 0.0002, rtol=1e-6)
    val = FolderDataset(tmp_path, "val")
    assert not val.has_depth and not val[0].depth_m.any()


@pytest.mark.parametrize("text, match", [
    ("classes: []\n", "non-empty list"),
    ("- a\n- b\n", "expected a mapping"),
    ("classes: [a]\ndepth_scale_m: -1\n", "depth_scale_m > 0"),
    ("classes: [a]\nscale: 1\n", "unknown keys"),
    ("classes: [a\n", "not valid YAML"),
])
def test_folder_bad_classes_yaml(tmp_path, text, match):
    (tmp_path / "classes.yaml").write_text(text)
    make_nyu(tmp_path, n=1, label_dir="labels", num_classes=1)
    with pytest.raises(ValueError, match=match) as err:
        FolderDataset(tmp_path)
    assert "classes.yaml" in str(err.value)


def test_folder_missing_classes_yaml(tmp_path):
    make_nyu(tmp_path, n=1, label_dir="labels")
    with pytest.raises(FileNotFoundError, match="classes.yaml"):
        FolderDataset(tmp_path)


# --- registry ------------------------------------------------------------------------------

def test_registry_opens_each_file_source(tmp_path):
    make_nyu(tmp_path / "nyu", n=2)
    make_nyu(tmp_path / "sun", n=1, label_dir="labels", num_classes=37,
             encode_depth=encode_sunrgbd_depth)
    _make_cityscapes(tmp_path / "cs", "train")
    (tmp_path / "fo").mkdir()
    (tmp_path / "fo" / "classes.yaml").write_text("classes: [a, b]\n")
    make_nyu(tmp_path / "fo", n=1, label_dir="labels", num_classes=2)
    mat, _, _, _ = make_nyu_mat(tmp_path)
    expected = {"nyuv2": ("nyu", NYUv2Dataset, 2), "sunrgbd": ("sun", SUNRGBDDataset, 1),
                "cityscapes": ("cs", CityscapesDataset, 3), "folder": ("fo", FolderDataset, 1),
                "nyuv2-mat": (mat.name, NYUv2MatDataset, 3)}
    assert set(expected) | {"rooms"} == set(DATA_SOURCES)
    for source, (sub, cls, n) in expected.items():
        ds = open_dataset(source, str(tmp_path / sub), "train")
        assert isinstance(ds, cls) and len(ds) == n
        ds[0]


def test_registry_errors():
    with pytest.raises(ValueError, match="unknown data source 'kitti'") as err:
        open_dataset("kitti", "/x")
    for name in DATA_SOURCES:
        assert name in str(err.value)
    with pytest.raises(ValueError, match="expected the path of the data set"):
        open_dataset("nyuv2", "")


def test_dataset_from_config(tmp_path):
    make_nyu(tmp_path, "test", n=2)
    cfg = DataConfig(source="nyuv2", root=str(tmp_path))
    assert len(dataset_from_config(cfg, "test")) == 2
    cfg.num_classes = 37
    with pytest.raises(ValueError, match="data.num_classes: expected 40"):
        dataset_from_config(cfg, "test")


def test_dataset_from_config_rooms():
    cfg = DataConfig(source="rooms", height=32, width=48, rooms_train_size=5,
                     rooms_test_size=3)
    train, test = dataset_from_config(cfg, "train"), dataset_from_config(cfg, "test")
    assert (len(train), len(test)) == (5, 3) and train.num_classes == 40
    assert train[0].rgb.shape == (32, 48, 3)


def test_nyuv2_mat_in_data_loader_workers(tmp_path):
    import torch

    from scmis_core.data.transforms import TorchDataset

    path, rgb, _, labels40 = make_nyu_mat(tmp_path)
    ds = NYUv2MatDataset(path, "train")
    ds[0]  # the parent opens the file before the worker starts
    loader = torch.utils.data.DataLoader(TorchDataset(ds, 6, 8), batch_size=3, num_workers=1)
    (batch,) = list(loader)
    np.testing.assert_array_equal(batch["labels"].numpy(), labels40[[1, 3, 4]])
    expected_rgb = torch.from_numpy(rgb[[1, 3, 4]]).permute(0, 3, 1, 2) / 127.5 - 1
    torch.testing.assert_close(batch["rgb"], expected_rgb)
