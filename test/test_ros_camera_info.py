"""CameraInfo models: NYU defaults, scaling that keeps images registered, rclpy / rosbags
messages, matching by stamp."""

from __future__ import annotations

import numpy as np
import pytest

from scmis_ros.camera_info import (CameraInfoBuffer, CameraInfoError, CameraModel,
                                   camera_info_fields, fill_camera_info, make_camera_info)


def project(cam: CameraModel, xyz: np.ndarray) -> np.ndarray:
    """Pixel coordinates of camera-frame points via P (homogeneous)."""
    uvw = np.array(cam.p).reshape(3, 4) @ np.append(xyz, 1.0)
    return uvw[:2] / uvw[2]


def test_nyu_defaults_at_640x480():
    cam = CameraModel.nyu()
    assert cam.size == (480, 640)
    assert (cam.fx, cam.fy, cam.cx, cam.cy) == (518.86, 519.47, 325.58, 253.74)
    np.testing.assert_array_equal(cam.K, [[518.86, 0, 325.58], [0, 519.47, 253.74], [0, 0, 1]])
    assert cam.p == (518.86, 0, 325.58, 0, 0, 519.47, 253.74, 0, 0, 0, 1, 0)
    assert cam.d == (0.0,) * 5 and cam.distortion_model == "plumb_bob"
    assert cam.r == (1, 0, 0, 0, 1, 0, 0, 0, 1)


def test_scaling_matches_rooms_and_keeps_pixels_registered():
    from scmis_core.data.rooms import intrinsics

    small = CameraModel.nyu().scaled(240, 320)
    assert small.size == (240, 320)
    np.testing.assert_allclose((small.fx, small.fy, small.cx, small.cy),
                               intrinsics(240, 320), rtol=1e-12)
    np.testing.assert_allclose((small.fx, small.cx), (259.43, (325.58 + 0.5) / 2 - 0.5))
    big = CameraModel.nyu()
    # any 3D point lands on the same place of the scene: u' + 0.5 = (u + 0.5) * s
    for xyz in ([0.3, -0.2, 2.0], [-1.0, 0.7, 4.5], [0.0, 0.0, 1.0]):
        xyz = np.array(xyz)
        u, v = project(big, xyz)
        u2, v2 = project(small, xyz)
        np.testing.assert_allclose([u2 + 0.5, v2 + 0.5], [(u + 0.5) / 2, (v + 0.5) / 2])
    # anisotropic scaling (640x480 -> 1280x720) and back
    wide = big.scaled(720, 1280)
    assert wide.fx == pytest.approx(2 * big.fx) and wide.fy == pytest.approx(1.5 * big.fy)
    back = wide.scaled(480, 640)
    np.testing.assert_allclose(back.k, big.k, atol=1e-9)
    assert big.scaled(480, 640) is big


def test_scaling_stereo_p_keeps_baseline_term_and_distortion():
    k = (600.0, 0.0, 320.0, 0.0, 610.0, 240.0, 0.0, 0.0, 1.0)
    p = (600.0, 0.0, 320.0, -30.0, 0.0, 610.0, 240.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    d = (0.1, -0.2, 0.001, 0.002, 0.05)
    cam = CameraModel(480, 640, k, d, p=p, frame_id="cam")
    half = cam.scaled(240, 320)
    assert half.p[3] == pytest.approx(-15.0)  # Tx = -fx * baseline scales with width
    assert half.d == d and half.frame_id == "cam" and half.r == cam.r
    xyz = np.array([0.4, 0.1, 3.0])
    u, v = project(cam, xyz)
    u2, v2 = project(half, xyz)
    np.testing.assert_allclose([u2 + 0.5, v2 + 0.5], [(u + 0.5) / 2, (v + 0.5) / 2])


def test_dict_forms_and_errors():
    cam = CameraModel.nyu(240, 320, frame_id="camera_color_optical_frame")
    assert CameraModel.from_dict(cam.to_dict()) == cam
    assert CameraModel.from_dict({"height": 240, "width": 320}) == CameraModel.nyu(240, 320)
    explicit = CameraModel.from_dict({"height": 480, "width": 640, "fx": 615.0, "fy": 615.5,
                                      "cx": 321.0, "cy": 238.0, "frame_id": "f"})
    assert (explicit.fx, explicit.fy, explicit.cx, explicit.cy) == (615.0, 615.5, 321.0, 238.0)
    assert explicit.frame_id == "f" and explicit.p[3] == 0.0
    with pytest.raises(CameraInfoError, match="expected all of fx, fy, cx, cy"):
        CameraModel.from_dict({"height": 480, "width": 640, "fx": 615.0})
    with pytest.raises(CameraInfoError, match="expected integer height and width"):
        CameraModel.from_dict({"width": 640})
    with pytest.raises(CameraInfoError, match="positive size"):
        CameraModel.from_intrinsics(0, 640, 1, 1, 0, 0)
    with pytest.raises(CameraInfoError, match="expected 9 numbers, found 4"):
        CameraModel(480, 640, (1.0, 2.0, 3.0, 4.0))
    with pytest.raises(CameraInfoError, match="finite"):
        CameraModel.from_intrinsics(480, 640, float("nan"), 1, 0, 0)
    with pytest.raises(CameraInfoError, match="positive focal"):
        CameraModel.from_intrinsics(480, 640, 0.0, 1, 0, 0)


def test_rclpy_message_fill_and_read_back():
    pytest.importorskip("sensor_msgs.msg")
    from sensor_msgs.msg import CameraInfo
    from std_msgs.msg import Header

    cam = CameraModel.nyu(240, 320, frame_id="cam")
    msg = fill_camera_info(CameraInfo(), cam)
    assert msg.header.frame_id == "cam" and (msg.height, msg.width) == (240, 320)
    assert msg.distortion_model == "plumb_bob" and list(msg.d) == [0.0] * 5
    np.testing.assert_array_equal(msg.k, cam.k)
    np.testing.assert_array_equal(msg.p, cam.p)
    assert CameraModel.from_msg(msg) == cam
    header = Header(frame_id="other")
    header.stamp.sec = 5
    msg2 = fill_camera_info(CameraInfo(), cam, header)
    assert msg2.header.frame_id == "other" and msg2.header.stamp.sec == 5


def test_rosbags_message_round_trip():
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    types = store.types
    header = types["std_msgs/msg/Header"](stamp=types["builtin_interfaces/msg/Time"](
        sec=1, nanosec=2), frame_id="cam")
    cam = CameraModel.from_intrinsics(720, 1280, 900.0, 901.0, 640.5, 360.5, "cam")
    msg = make_camera_info(cam, header, types["sensor_msgs/msg/CameraInfo"],
                           types["sensor_msgs/msg/RegionOfInterest"])
    raw = store.serialize_cdr(msg, "sensor_msgs/msg/CameraInfo")
    back = store.deserialize_cdr(raw, "sensor_msgs/msg/CameraInfo")
    assert CameraModel.from_msg(back) == cam
    assert back.roi.width == 0 and back.binning_x == 0
    assert set(camera_info_fields(cam)) == {"height", "width", "distortion_model", "d", "k",
                                            "r", "p", "binning_x", "binning_y"}


def test_buffer_matches_by_stamp():
    buf = CameraInfoBuffer(capacity=3)
    assert buf.match(10) is None and buf.latest() is None
    cams = {s: CameraModel.from_intrinsics(10, 10, 5.0 + s, 5.0, 4.5, 4.5) for s in range(4)}
    for stamp, cam in [(100, cams[0]), (300, cams[2]), (200, cams[1])]:
        buf.add(stamp, cam)
    assert buf.match(200) is cams[1]
    assert buf.match(210) is None  # exact by default
    assert buf.match(240, tolerance_ns=50) is cams[1]
    assert buf.match(260, tolerance_ns=50) is cams[2]
    assert buf.match(150, tolerance_ns=50) is cams[0]  # tie -> earlier stamp
    assert buf.match(1000, tolerance_ns=50) is None
    assert buf.latest() is cams[2]
    buf.add(400, cams[3])  # capacity 3: the oldest stamp leaves
    assert len(buf) == 3 and buf.match(100) is None and buf.latest() is cams[3]
    buf.add(400, cams[0])  # same stamp replaces
    assert len(buf) == 3 and buf.match(400) is cams[0]


@pytest.mark.parametrize("k, message", [
    ((1e-300, 0, 320, 0, 500, 240, 0, 0, 1), "focal lengths between"),
    ((5e-324, 0, 320, 0, 5e-324, 240, 0, 0, 1), "focal lengths between"),
    ((500, 0, 1e308, 0, 500, 240, 0, 0, 1), "principal point"),
    ((1e12, 0, 320, 0, 500, 240, 0, 0, 1), "focal lengths between"),
])
def test_absurd_intrinsics_are_refused_at_receipt_and_after_scaling(k, message):
    with pytest.raises(CameraInfoError, match=message):
        CameraModel(480, 640, k)
    good = CameraModel(480, 640, (500, 0, 320, 0, 500, 240, 0, 0, 1))
    assert good.scaled(48, 64).fx == pytest.approx(50.0)
    with pytest.raises(CameraInfoError, match="focal lengths between"):
        good.scaled(480, 640 * 10**7)  # scaled into absurdity: refused there too
