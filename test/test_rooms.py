"""Tests of the procedural rooms data set (scmis_core.data.rooms); tiny sizes, seconds."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from scmis_core.data.labels import NYU40_CLASSES
from scmis_core.data.rooms import (
    CLASS_IDS_USED, MAX_DEPTH_M, MIN_DEPTH_M, NYU_INTRINSICS, RoomsDataset, frame_seed,
    generate_scene, intrinsics, main, render_room, render_scene)
from scmis_core.data.rooms.camera import _camera_rotation

SEEDS = (0, 1, 2, 3)


def _assert_same(a, b):
    np.testing.assert_array_equal(a.rgb, b.rgb)
    np.testing.assert_array_equal(a.depth_m, b.depth_m)
    np.testing.assert_array_equal(a.labels, b.labels)


def test_same_seed_gives_identical_arrays_and_other_seeds_differ():
    a, b = render_room(7, 48, 64), render_room(7, 48, 64)
    _assert_same(a, b)
    c = render_room(8, 48, 64)
    assert not np.array_equal(a.labels, c.labels)
    assert not np.array_equal(a.rgb, c.rgb)


def test_scene_is_a_pure_function_of_the_seed():
    s1, s2 = generate_scene(11), generate_scene(11)
    assert s1.room_type == s2.room_type and s1.size_m == s2.size_m
    assert [(b.center, b.half, b.label) for b in s1.boxes] == \
        [(b.center, b.half, b.label) for b in s2.boxes]
    assert 3.0 <= s1.size_m[0] <= 8.0 and 3.0 <= s1.size_m[2] <= 8.0
    assert 2.4 <= s1.size_m[1] <= 3.0
    assert 1.0 <= s1.cam_pos[1] <= 1.6


@pytest.mark.parametrize("size", [(48, 64), (240, 320)])
def test_sample_types_and_shapes(size):
    sample = render_room(3, *size).validate(len(NYU40_CLASSES), where="rooms test")
    assert sample.rgb.shape == (*size, 3) and sample.rgb.dtype == np.uint8
    assert sample.depth_m.shape == size and sample.depth_m.dtype == np.float32
    assert sample.labels.shape == size and sample.labels.dtype == np.int64


def test_depth_in_range_zero_exactly_where_invalid_and_holes_present():
    holes = 0
    for seed in SEEDS:
        depth = render_room(seed, 48, 64).depth_m
        assert np.all(np.isfinite(depth))
        valid = depth > 0
        assert np.all(depth[~valid] == 0.0)
        assert depth[valid].min() >= MIN_DEPTH_M and depth[valid].max() <= MAX_DEPTH_M
        assert valid.mean() > 0.6  # mostly measured, like a Kinect frame
        holes += int((~valid).sum())
    assert holes > 0


def test_exact_depth_without_noise_and_noise_grows_with_depth():
    near, far = [], []
    for seed in SEEDS:
        clean = render_room(seed, 60, 80, noise=False).depth_m
        noisy = render_room(seed, 60, 80, noise=True).depth_m
        inside = (clean > MIN_DEPTH_M) & (clean < MAX_DEPTH_M)
        assert np.all(clean[inside] > 0)  # no holes without noise
        both = inside & (noisy > 0)
        err = (noisy - clean)[both]
        z = clean[both]
        assert np.abs(err).max() < 0.5  # noise, not a different scene
        near.append(err[z < 1.8])
        far.append(err[z > 3.5])
    near_sd, far_sd = np.concatenate(near).std(), np.concatenate(far).std()
    assert far_sd > 2.0 * near_sd > 0


def test_labels_only_documented_ids_and_no_void_in_a_closed_room():
    for seed in SEEDS:
        labels = render_room(seed, 48, 64).labels
        assert labels.min() >= 1 and labels.max() <= 40
        assert set(np.unique(labels).tolist()) <= set(CLASS_IDS_USED)


def test_class_ids_used_are_nyu40_and_documented_and_all_reachable():
    for cid, text in CLASS_IDS_USED.items():
        assert 1 <= cid <= len(NYU40_CLASSES)
        assert text.startswith(NYU40_CLASSES[cid - 1] + ":"), (cid, text)
        assert len(text) > len(NYU40_CLASSES[cid - 1]) + 5
    seen = {1, 2, 22}  # wall, floor, ceiling are the room box itself
    for seed in range(150):
        seen |= {b.label for b in generate_scene(seed).boxes}
    assert seen == set(CLASS_IDS_USED)


def test_same_seed_at_two_resolutions_shows_the_same_scene():
    big = render_room(5, 240, 320, noise=False)
    small = render_room(5, 48, 64, noise=False)
    # Pixel (i, j) of the 5x smaller image has its centre on pixel (5i+2, 5j+2) of the big one.
    agree = (big.labels[2::5, 2::5] == small.labels).mean()
    assert agree > 0.9
    depth_ratio = small.depth_m / np.maximum(big.depth_m[2::5, 2::5], 1e-3)
    assert np.median(depth_ratio[small.depth_m > 0]) == pytest.approx(1.0, abs=0.01)


def test_floor_depth_grows_towards_the_top_of_the_image():
    checked = 0
    for seed in range(8):
        sample = render_room(seed, 60, 80, noise=False)
        rows, _ = np.nonzero((sample.labels == 2) & (sample.depth_m > 0))
        if len(rows) < 100 or np.ptp(rows) < 10:
            continue
        depth = sample.depth_m[sample.labels == 2][sample.depth_m[sample.labels == 2] > 0]
        assert np.corrcoef(rows, depth)[0, 1] < -0.7
        checked += 1
    assert checked >= 3


def test_depth_is_camera_z_that_back_projects_floor_pixels_onto_the_floor():
    for seed in (0, 3):
        scene = generate_scene(seed)
        sample = render_scene(scene, 48, 64, noise=False)
        fx, fy, cx, cy = intrinsics(48, 64)
        v, u = np.nonzero((sample.labels == 2) & (sample.depth_m > 0))
        assert len(v) > 50
        z = sample.depth_m[v, u].astype(np.float64)
        cam_xyz = np.stack([(u - cx) / fx * z, (v - cy) / fy * z, z])  # (3, P)
        rot = _camera_rotation(scene.cam_yaw, scene.cam_pitch, scene.cam_roll)
        world = rot @ cam_xyz + np.array(scene.cam_pos)[:, None]
        assert np.abs(world[1]).max() < 2e-3  # the floor is the plane y = 0
        # Ray length instead of z would put the points below the floor.
        ray = np.linalg.norm(cam_xyz / z, axis=0) * z
        assert np.abs((rot @ (cam_xyz * ray / z))[1] + scene.cam_pos[1]).max() > 0.05


def test_rgb_has_texture_and_classes_look_different():
    spreads = []
    for seed in SEEDS:
        sample = render_room(seed, 60, 80)
        assert sample.rgb.std() > 10.0
        means = [sample.rgb[sample.labels == c].mean(axis=0)
                 for c in np.unique(sample.labels) if (sample.labels == c).sum() >= 30]
        if len(means) >= 2:
            means = np.array(means)
            spreads.append(np.abs(means[:, None] - means[None]).sum(-1).max())
    assert len(spreads) >= 3 and min(spreads) > 20.0


def test_intrinsics_scale_with_the_image():
    assert intrinsics(480, 640) == pytest.approx(NYU_INTRINSICS)
    fx, fy, cx, cy = intrinsics(240, 320)
    assert fx == pytest.approx(NYU_INTRINSICS[0] / 2) and fy == pytest.approx(
        NYU_INTRINSICS[1] / 2)
    assert cx == pytest.approx((NYU_INTRINSICS[2] + 0.5) / 2 - 0.5)


def test_bad_size_raises_a_clear_error():
    with pytest.raises(ValueError, match="height and width"):
        render_scene(generate_scene(0), 1, 32)
    with pytest.raises(ValueError, match="size"):
        RoomsDataset(size=0)


def test_dataset_splits_differ_and_frames_are_reproducible():
    train = RoomsDataset(size=3, height=32, width=32, seed=4, split="train")
    test = RoomsDataset(size=3, height=32, width=32, seed=4, split="test")
    assert len(train) == 3 and train.num_classes == 40
    assert frame_seed(4, "train", 0) != frame_seed(4, "test", 0)
    assert frame_seed(4, "train", 0) != frame_seed(4, "train", 1)
    a, b = train[0], test[0]
    assert not np.array_equal(a.labels, b.labels)
    _assert_same(a, RoomsDataset(size=3, height=32, width=32, seed=4, split="train")[0])
    assert a.name == "rooms-train-000000"
    assert "train" in train.describe(0) and str(frame_seed(4, "train", 0)) in train.describe(0)
    _assert_same(train[-1], train[2])
    with pytest.raises(IndexError):
        train[3]


def test_cli_writes_a_preview_grid_and_benchmarks(tmp_path, capsys):
    out = tmp_path / "preview.png"
    assert main(["--preview", str(out), "--n", "2", "--size", "32x40", "--bench"]) == 0
    grid = np.asarray(Image.open(out))
    assert grid.shape == (2 * 32, 3 * 40, 3)
    assert "frames/s" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--size", "bad", "--bench"])
    with pytest.raises(SystemExit) as exc:
        main(["--size", "1x40", "--bench"])
    assert exc.value.code == 2
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["--n", "0", "--bench"])
    assert exc.value.code == 2
    assert "argument --n: expected a positive whole number, found 0" in capsys.readouterr().err


def test_module_runs_as_a_program(tmp_path):
    """``python -m scmis_core.data.rooms`` (the package's __main__) renders and exits 0."""
    import subprocess
    import sys

    out = tmp_path / "p.png"
    done = subprocess.run([sys.executable, "-m", "scmis_core.data.rooms", "--preview", str(out),
                           "--n", "1", "--size", "16x20"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert np.asarray(Image.open(out)).shape == (16, 60, 3)


def test_ray_parallel_to_a_wall_pair_still_hits_the_room():
    """Regression: train frame 1028 at 64x64 has a pixel ray with a direction component of
    exactly 0; it used to exit the room at -inf and turn into NaN colour and depth."""
    import warnings

    from scmis_core.data.rooms import frame_seed

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        sample = render_room(frame_seed(0, "train", 1028), 64, 64)
    assert np.isfinite(sample.depth_m).all()
    assert (sample.labels > 0).all()
