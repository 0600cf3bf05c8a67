"""XYZRGB point clouds: the pinhole model checked by hand, invalid depth dropped, the
PointCloud2 byte layout RViz reads, rclpy and rosbags messages."""

from __future__ import annotations

import time

import numpy as np
import pytest

from scmis_ros.camera_info import CameraModel
from scmis_ros.pointcloud import (POINT_DTYPE, PointCloudError, cloud_to_points,
                                  depth_to_points, fill_pointcloud2, make_pointcloud2,
                                  pack_rgb, point_fields, unpack_rgb)


def test_points_against_the_pinhole_model_by_hand():
    depth = np.zeros((3, 4), np.float32)
    depth[0, 0] = 1.0   # u=0, v=0
    depth[1, 2] = 2.0   # u=2, v=1
    depth[2, 3] = 4.0   # u=3, v=2
    depth[2, 0] = np.nan
    depth[0, 3] = np.inf
    depth[1, 1] = -1.0
    rgb = np.zeros((3, 4, 3), np.uint8)
    rgb[0, 0] = (255, 0, 0)
    rgb[1, 2] = (1, 128, 255)
    rgb[2, 3] = (10, 20, 30)
    fx, fy, cx, cy = 100.0, 110.0, 1.5, 1.0
    points = depth_to_points(depth, rgb, (fx, fy, cx, cy))
    assert points.dtype == POINT_DTYPE and points.size == 3  # 0, NaN, inf, -1 dropped
    # by hand: x = (u - cx) z / fx, y = (v - cy) z / fy, in row-major pixel order
    expected = [((0 - 1.5) * 1.0 / 100, (0 - 1.0) * 1.0 / 110, 1.0),
                ((2 - 1.5) * 2.0 / 100, 0.0, 2.0),
                ((3 - 1.5) * 4.0 / 100, (2 - 1.0) * 4.0 / 110, 4.0)]
    np.testing.assert_allclose(np.stack([points["x"], points["y"], points["z"]], 1),
                               expected, rtol=1e-6)
    np.testing.assert_array_equal(unpack_rgb(points["rgb"]),
                                  [[255, 0, 0], [1, 128, 255], [10, 20, 30]])
    bits = points["rgb"].view("<u4")
    assert list(bits) == [0xFF0000, 0x0180FF, 0x0A141E]  # 0x00RRGGBB
    # the same through a (3, 3) K and a CameraModel
    k = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]])
    np.testing.assert_array_equal(depth_to_points(depth, rgb, k), points)
    cam = CameraModel.from_intrinsics(3, 4, fx, fy, cx, cy)
    np.testing.assert_array_equal(depth_to_points(depth, rgb, cam), points)


def test_points_reproject_onto_their_pixels_at_640x480():
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 8.0, (480, 640)).astype(np.float32)
    depth[rng.random((480, 640)) < 0.1] = 0.0
    rgb = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    cam = CameraModel.nyu()
    start = time.perf_counter()
    points = depth_to_points(depth, rgb, cam)
    elapsed = time.perf_counter() - start
    valid = depth > 0
    assert points.size == int(valid.sum())
    xyz = np.stack([points["x"], points["y"], points["z"]], 1).astype(np.float64)
    uvw = xyz @ cam.K.T
    uv = uvw[:, :2] / uvw[:, 2:]
    v, u = np.nonzero(valid)
    np.testing.assert_allclose(uv, np.stack([u, v], 1), atol=2e-3)
    np.testing.assert_array_equal(unpack_rgb(points["rgb"]), rgb[valid])
    assert elapsed < 2.0  # vectorised (about 0.05 s here)
    # a camera at another size is scaled to the depth's size
    small = depth_to_points(depth[::2, ::2], rgb[::2, ::2], cam)
    np.testing.assert_array_equal(small, depth_to_points(depth[::2, ::2], rgb[::2, ::2],
                                                         cam.scaled(240, 320)))
    strided = depth_to_points(depth, rgb, cam, stride=4)
    assert strided.size == int(valid[::4, ::4].sum())


def test_layout_is_what_rviz_reads():
    assert POINT_DTYPE.itemsize == 16
    assert [(f["name"], f["offset"], f["datatype"], f["count"]) for f in point_fields()] == [
        ("x", 0, 7, 1), ("y", 4, 7, 1), ("z", 8, 7, 1), ("rgb", 12, 7, 1)]
    points = depth_to_points(np.full((1, 2), 2.0, np.float32),
                             np.array([[[1, 2, 3], [4, 5, 6]]], np.uint8), (1.0, 1.0, 0.0, 0.0))
    raw = points.tobytes()
    assert raw[8:12] == np.float32(2.0).tobytes()  # z of point 0, little-endian
    assert raw[12:16] == bytes([3, 2, 1, 0])       # 0x00010203 little-endian: b, g, r, 0
    assert raw[16:20] == np.float32(2.0).tobytes()  # x of point 1 = (1 - 0) * 2 / 1


def test_rclpy_message_round_trip():
    pytest.importorskip("sensor_msgs.msg")
    from sensor_msgs.msg import PointCloud2
    from std_msgs.msg import Header

    rng = np.random.default_rng(1)
    depth = rng.uniform(0.5, 3.0, (6, 8)).astype(np.float32)
    depth[0, :4] = 0
    rgb = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    points = depth_to_points(depth, rgb, CameraModel.nyu(6, 8))
    msg = fill_pointcloud2(PointCloud2(), points, Header(frame_id="cam"))
    assert (msg.height, msg.width, msg.point_step, msg.row_step) == (1, 44, 16, 16 * 44)
    assert msg.is_dense and not msg.is_bigendian and msg.header.frame_id == "cam"
    assert [f.name for f in msg.fields] == ["x", "y", "z", "rgb"]
    assert len(msg.data) == 16 * 44
    back = cloud_to_points(msg)
    for name in ("x", "y", "z", "rgb"):
        np.testing.assert_array_equal(back[name], points[name])


def test_rosbags_message_round_trip_and_empty_cloud():
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    types = store.types
    header = types["std_msgs/msg/Header"](stamp=types["builtin_interfaces/msg/Time"](
        sec=1, nanosec=0), frame_id="cam")
    for depth in (np.full((4, 5), 1.5, np.float32), np.zeros((4, 5), np.float32)):
        points = depth_to_points(depth, None, CameraModel.nyu(4, 5))
        msg = make_pointcloud2(points, header, types["sensor_msgs/msg/PointCloud2"],
                               types["sensor_msgs/msg/PointField"])
        raw = store.serialize_cdr(msg, "sensor_msgs/msg/PointCloud2")
        back = store.deserialize_cdr(raw, "sensor_msgs/msg/PointCloud2")
        out = cloud_to_points(back)
        assert out.size == int((depth > 0).sum())
        np.testing.assert_array_equal(out["z"], points["z"])
        if out.size:
            assert (unpack_rgb(out["rgb"]) == 255).all()  # no rgb: white


def test_padded_big_endian_cloud_reads_back():
    """cloud_to_points honours point_step, row_step and is_bigendian of foreign clouds."""
    class Field:
        def __init__(self, name, offset):
            self.name, self.offset, self.datatype, self.count = name, offset, 7, 1

    class Msg:
        pass

    dtype = np.dtype({"names": ["x", "y", "z", "rgb"], "formats": [">f4"] * 4,
                      "offsets": [0, 4, 8, 16], "itemsize": 32})
    rows = np.zeros((2, 3), dtype)
    for i, name in enumerate(("x", "y", "z", "rgb")):
        rows[name] = np.arange(6).reshape(2, 3) + 10 * i
    msg = Msg()
    msg.fields = [Field(n, o) for n, o in zip(dtype.names, (0, 4, 8, 16))]
    msg.height, msg.width, msg.point_step, msg.row_step = 2, 3, 32, 100
    msg.is_bigendian = True
    data = bytearray(200)
    for r in range(2):
        data[r * 100:r * 100 + 96] = rows[r].tobytes()
    msg.data = bytes(data)
    out = cloud_to_points(msg)
    np.testing.assert_array_equal(out["y"], np.arange(6) + 10)
    np.testing.assert_array_equal(out["rgb"], np.arange(6) + 30)


def test_errors():
    with pytest.raises(PointCloudError, match=r"expected uint8 \(2, 2, 3\)"):
        depth_to_points(np.ones((2, 2)), np.zeros((2, 3, 3), np.uint8), (1, 1, 0, 0))
    with pytest.raises(PointCloudError, match="non-empty"):
        depth_to_points(np.ones((2, 2, 1)), None, (1, 1, 0, 0))
    with pytest.raises(PointCloudError, match="found shape"):
        depth_to_points(np.ones((2, 2)), None, (1, 1, 0))
    with pytest.raises(PointCloudError, match="stride"):
        depth_to_points(np.ones((2, 2)), None, (1, 1, 0, 0), stride=0)
    assert pack_rgb(np.array([0, 0, 0], np.uint8)).view("<u4") == 0


def test_no_non_finite_point_and_is_dense_only_when_true():
    from scmis_ros.pointcloud import pointcloud2_fields

    depth = np.full((4, 5), 2.0, np.float32)
    depth[0, 0] = np.nan
    points = depth_to_points(depth, None, (1e-300, 1e-300, 2.0, 1.5))  # x, y overflow
    assert all(np.isfinite(points[n]).all() for n in ("x", "y", "z"))
    assert pointcloud2_fields(points)["is_dense"]
    bad = np.zeros(2, POINT_DTYPE)
    bad["x"][1] = np.inf
    assert not pointcloud2_fields(bad)["is_dense"]


def test_organized_cloud_has_one_point_per_pixel_and_nan_where_depth_is_invalid():
    from scmis_ros.pointcloud import depth_to_organized, pointcloud2_fields

    depth = np.full((6, 8), 2.0, np.float32)
    depth[1, 2], depth[3, 4], depth[5, 7] = 0.0, np.nan, np.inf
    rgb = np.zeros((6, 8, 3), np.uint8)
    rgb[..., 0] = 200
    camera = (4.0, 4.0, 3.5, 2.5)
    cloud = depth_to_organized(depth, rgb, camera)
    assert cloud.shape == (6, 8)
    invalid = ~(np.isfinite(depth) & (depth > 0))
    for name in ("x", "y", "z"):
        assert np.isnan(cloud[name][invalid]).all() and np.isfinite(cloud[name][~invalid]).all()
    flat = depth_to_points(depth, rgb, camera)
    np.testing.assert_array_equal(cloud[~invalid]["x"], flat["x"])  # the same points
    fields = pointcloud2_fields(cloud)
    assert (fields["height"], fields["width"]) == (6, 8) and not fields["is_dense"]
    assert fields["row_step"] == 8 * POINT_DTYPE.itemsize
    assert pointcloud2_fields(depth_to_organized(np.ones((2, 3), np.float32), None,
                                                 camera))["is_dense"]
