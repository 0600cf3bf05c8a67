"""sensor_msgs/Image <-> numpy: every encoding, row padding, byte order, errors, cv_bridge."""

from __future__ import annotations

import struct
import sys

import numpy as np
import pytest

pytest.importorskip("sensor_msgs.msg", reason="ROS 2 message packages are not installed")

from sensor_msgs.msg import Image  # noqa: E402

from scmis_ros import conversions as conv  # noqa: E402
from scmis_ros.conversions import (ImageConversionError, depth_m_from_image,  # noqa: E402
                                   image_to_numpy, labels_from_image, numpy_to_image,
                                   rgb_from_image)

RNG = np.random.default_rng(0)
ARRAYS = {
    "mono8": RNG.integers(0, 256, (5, 7), dtype=np.uint8),
    "8UC1": RNG.integers(0, 256, (5, 7), dtype=np.uint8),
    "mono16": RNG.integers(0, 65536, (5, 7), dtype=np.uint16),
    "16UC1": RNG.integers(0, 65536, (5, 7), dtype=np.uint16),
    "32FC1": RNG.uniform(0, 10, (5, 7)).astype(np.float32),
    "rgb8": RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8),
    "bgr8": RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8),
}
STRUCT = {"mono8": "B", "8UC1": "B", "rgb8": "B", "bgr8": "B", "mono16": "H", "16UC1": "H",
          "32FC1": "f"}


def handmade(array: np.ndarray, encoding: str, pad: int, big: bool) -> Image:
    """An Image built with struct (independent of the code under test), rows padded."""
    fmt = (">" if big else "<") + STRUCT[encoding]
    rows = []
    for row in array.reshape(array.shape[0], -1):
        packed = b"".join(struct.pack(fmt, v.item()) for v in row)
        rows.append(packed + b"\xee" * pad)
    msg = Image()
    msg.height, msg.width = array.shape[:2]
    msg.encoding = encoding
    msg.is_bigendian = int(big)
    msg.step = len(rows[0])
    msg.data = b"".join(rows)
    return msg


@pytest.mark.parametrize("encoding", sorted(ARRAYS))
@pytest.mark.parametrize("pad, big", [(0, False), (5, False), (3, True)])
def test_decode_handmade_messages_with_padding_and_byte_order(encoding, pad, big):
    array = ARRAYS[encoding]
    out = image_to_numpy(handmade(array, encoding, pad, big), backend="numpy")
    assert out.dtype == array.dtype.newbyteorder("=") and out.shape == array.shape
    np.testing.assert_array_equal(out, array)


@pytest.mark.parametrize("encoding", sorted(ARRAYS))
def test_round_trip_and_packed_native_layout(encoding):
    array = ARRAYS[encoding]
    msg = numpy_to_image(array, encoding, backend="numpy")
    assert msg.encoding == encoding and (msg.height, msg.width) == array.shape[:2]
    assert msg.step == array[0].nbytes and len(msg.data) == array.nbytes
    assert msg.is_bigendian == int(sys.byteorder == "big")
    np.testing.assert_array_equal(image_to_numpy(msg, backend="numpy"), array)


def test_header_is_copied_and_typed_views():
    labels = ARRAYS["mono8"] % 41
    src = numpy_to_image(labels, "mono8")
    src.header.frame_id = "cam"
    src.header.stamp.sec, src.header.stamp.nanosec = 12, 345
    out = numpy_to_image(ARRAYS["rgb8"], "bgr8", src.header)
    assert out.header.frame_id == "cam" and out.header.stamp.nanosec == 345
    np.testing.assert_array_equal(rgb_from_image(out), ARRAYS["rgb8"][..., ::-1])
    assert labels_from_image(src).dtype == np.int64
    with pytest.raises(ImageConversionError, match="0..20, found max"):
        labels_from_image(src, num_classes=20)
    mm = numpy_to_image(np.array([[1500, 0]], np.uint16), "16UC1")
    np.testing.assert_allclose(depth_m_from_image(mm), [[1.5, 0.0]])
    bad_depth = numpy_to_image(np.array([[np.nan, -1.0, 2.0]], np.float32), "32FC1")
    np.testing.assert_array_equal(depth_m_from_image(bad_depth), [[0.0, 0.0, 2.0]])
    assert conv.stamp_ns(src.header) == 12_000_000_345


@pytest.mark.parametrize("mutate, words", [
    (lambda m: setattr(m, "encoding", "yuv422"), ["unsupported encoding", "'yuv422'"]),
    (lambda m: setattr(m, "data", b""), ["expected >=", "found 0"]),
    (lambda m: setattr(m, "data", bytes(m.data)[:-1]), ["expected >= 70", "found 69"]),
    (lambda m: setattr(m, "step", 13), ["step >= 14", "found 13"]),
    (lambda m: setattr(m, "height", 0), ["non-empty", "0x7"]),
])
def test_bad_messages_raise_clear_errors(mutate, words):
    msg = numpy_to_image(ARRAYS["mono16"], "mono16")
    mutate(msg)
    with pytest.raises(ImageConversionError) as info:
        image_to_numpy(msg, backend="numpy")
    for word in words:
        assert word in str(info.value)


def test_wrong_encoding_for_the_role_and_bad_arrays():
    with pytest.raises(ImageConversionError, match="labels: expected encoding.*'rgb8'"):
        labels_from_image(numpy_to_image(ARRAYS["rgb8"], "rgb8"))
    with pytest.raises(ImageConversionError, match="depth: expected encoding.*'mono8'"):
        depth_m_from_image(numpy_to_image(ARRAYS["mono8"], "mono8"))
    with pytest.raises(ImageConversionError, match=r"rgb8: expected an array of shape"):
        numpy_to_image(ARRAYS["mono8"], "rgb8")
    with pytest.raises(ImageConversionError, match="do not fit uint8"):
        numpy_to_image(np.array([[300]]), "mono8")
    with pytest.raises(ImageConversionError, match="expected integer values"):
        numpy_to_image(np.array([[1.5]]), "mono16")


def test_rosbags_message_objects_work_too():
    from scmis_ros import bags

    store = bags.typestore()
    header = store.types["std_msgs/msg/Header"](
        stamp=store.types["builtin_interfaces/msg/Time"](sec=1, nanosec=2), frame_id="c")
    msg = conv.make_image(ARRAYS["32FC1"], "32FC1", header,
                          store.types["sensor_msgs/msg/Image"])
    raw = store.serialize_cdr(msg, "sensor_msgs/msg/Image")
    back = store.deserialize_cdr(raw, "sensor_msgs/msg/Image")
    np.testing.assert_array_equal(image_to_numpy(back), ARRAYS["32FC1"])


@pytest.mark.skipif(not conv.cv_bridge_available(),
                    reason="cv_bridge is not installed (not on PyPI); numpy path only")
@pytest.mark.parametrize("encoding", sorted(ARRAYS))
def test_cv_bridge_and_numpy_paths_agree(encoding):
    array = ARRAYS[encoding]
    for pad, big in [(0, False), (4, False)]:
        msg = handmade(array, encoding, pad, big)
        np.testing.assert_array_equal(image_to_numpy(msg, backend="cv_bridge"),
                                      image_to_numpy(msg, backend="numpy"))
    a = numpy_to_image(array, encoding, backend="cv_bridge")
    b = numpy_to_image(array, encoding, backend="numpy")
    assert (a.step, a.encoding, bytes(a.data)) == (b.step, b.encoding, bytes(b.data))


def test_camera_size_1280x720_through_cdr_raw_and_compressed():
    """1280x720 frames: raw Image and CompressedImage (jpeg / png / compressedDepth) survive
    rclpy's CDR serialisation and decode back as the nodes decode them; the size check reads
    a compressed image's header only."""
    from rclpy.serialization import deserialize_message, serialize_message
    from sensor_msgs.msg import CompressedImage
    from std_msgs.msg import Header

    from scmis_ros import image_codecs
    from scmis_ros.fixtures import label_map
    from scmis_ros.image_topics import (decode_depth_m, decode_labels, decode_rgb,
                                        message_pixels)

    h, w = 720, 1280
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([xx % 256, yy % 256, (xx + yy) % 256], -1).astype(np.uint8)
    depth_m = (0.5 + (xx + yy) / (w + h) * 5).astype(np.float32)
    labels = label_map(h, w)

    def through_cdr(msg):
        return deserialize_message(serialize_message(msg), type(msg))

    for array, encoding, decode in ((rgb, "rgb8", decode_rgb), (depth_m, "32FC1",
                                                                decode_depth_m),
                                    (labels, "mono8", decode_labels)):
        msg = through_cdr(numpy_to_image(array, encoding))
        assert (msg.height, msg.width, len(msg.data)) == (h, w, array.nbytes)
        assert message_pixels(msg) == h * w
        np.testing.assert_array_equal(decode(msg), array)
    mm = conv.depth_m_to_mm(depth_m)
    np.testing.assert_allclose(
        conv.depth_m_from_image(through_cdr(numpy_to_image(mm, "16UC1"))), mm * 0.001,
        atol=1e-6)
    for payload, decode, check in (
            (image_codecs.encode_image(rgb, "rgb8", "png"), decode_rgb,
             lambda out: np.testing.assert_array_equal(out, rgb)),
            (image_codecs.encode_image(rgb, "rgb8", "jpeg"), decode_rgb,
             lambda out: np.testing.assert_array_less(np.abs(out.astype(int) - rgb).mean(), 4)),
            (image_codecs.encode_image(labels, "mono8", "png"), decode_labels,
             lambda out: np.testing.assert_array_equal(out, labels)),
            (image_codecs.encode_compressed_depth(mm, "16UC1"), decode_depth_m,
             lambda out: np.testing.assert_allclose(out, mm * 0.001, atol=1e-6))):
        msg = through_cdr(image_codecs.make_compressed(*payload, Header(), CompressedImage))
        assert message_pixels(msg) == h * w  # from the PNG / JPEG header
        check(decode(msg))
