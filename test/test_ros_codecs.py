"""image_transport ``compressed`` / ``compressedDepth`` payloads: byte layout, round trips,
errors. Fixtures are built by hand (PNG chunks with zlib, ConfigHeader with struct) so the
layout is checked independently of the OpenCV calls the codec makes."""

from __future__ import annotations

import array
import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image as PILImage

from scmis_ros import image_codecs as ic
from scmis_ros.image_codecs import CompressedImageError


def png_bytes(pixels: np.ndarray) -> bytes:
    """A PNG file written by hand: uint8 (H,W) grey, (H,W,3) RGB, or uint16 (H,W) grey."""
    height, width = pixels.shape[:2]
    colour_type = 2 if pixels.ndim == 3 else 0
    bit_depth = 16 if pixels.dtype == np.uint16 else 8
    samples = pixels.astype(">u2") if bit_depth == 16 else pixels.astype(np.uint8)
    raw = b"".join(b"\x00" + samples[y].tobytes() for y in range(height))  # filter 0 rows

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def pil_decode(data: bytes) -> np.ndarray:
    """Decode with Pillow (true RGB order), independently of OpenCV."""
    return np.asarray(PILImage.open(io.BytesIO(data)))


def smooth_rgb(height: int = 48, width: int = 64) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // (width - 1), y * 255 // (height - 1),
                     np.full_like(x, 90)], -1).astype(np.uint8)


# -------------------------------------------------------------------------------------------
# compressed: hand-built fixtures


def test_hand_built_png_colour_decodes_to_rgb8():
    rgb = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [10, 20, 30]]], np.uint8)
    image, encoding = ic.decode_image("rgb8; png compressed bgr8", png_bytes(rgb))
    assert encoding == "rgb8"
    np.testing.assert_array_equal(image, rgb)
    image, encoding = ic.decode_image("bgr8; png compressed bgr8", png_bytes(rgb))
    assert encoding == "bgr8"
    np.testing.assert_array_equal(image, rgb[..., ::-1])


def test_hand_built_png_mono8_and_mono16():
    mono = np.array([[0, 7], [200, 255]], np.uint8)
    image, encoding = ic.decode_image("mono8; png compressed ", png_bytes(mono))
    assert encoding == "mono8" and image.dtype == np.uint8
    np.testing.assert_array_equal(image, mono)
    ids = np.array([[0, 300], [40, 65535]], np.uint16)
    image, encoding = ic.decode_image("mono16; png compressed ", png_bytes(ids))
    assert encoding == "mono16" and image.dtype == np.uint16
    np.testing.assert_array_equal(image, ids)


def test_format_without_semicolon_guesses_by_channels_like_the_plugin():
    rgb = np.array([[[255, 0, 0], [0, 0, 255]]], np.uint8)
    image, encoding = ic.decode_image("png", png_bytes(rgb))
    assert encoding == "bgr8"
    np.testing.assert_array_equal(image, rgb[..., ::-1])
    image, encoding = ic.decode_image("jpeg", png_bytes(np.zeros((2, 2), np.uint8)))
    assert encoding == "mono8"


# -------------------------------------------------------------------------------------------
# compressed: encoder output as the plugin writes it


def test_encode_png_rgb8_layout_and_lossless_round_trip():
    rgb = np.random.default_rng(0).integers(0, 256, (30, 41, 3), dtype=np.uint8)
    fmt, data = ic.encode_image(rgb, "rgb8", "png")
    assert fmt == "rgb8; png compressed bgr8"
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    np.testing.assert_array_equal(pil_decode(data), rgb)  # the file holds true colour
    image, encoding = ic.decode_image(fmt, data)
    assert encoding == "rgb8"
    np.testing.assert_array_equal(image, rgb)
    fmt, data = ic.encode_image(rgb[..., ::-1], "bgr8", "png")
    assert fmt == "bgr8; png compressed bgr8"
    np.testing.assert_array_equal(pil_decode(data), rgb)
    np.testing.assert_array_equal(ic.decode_image(fmt, data)[0], rgb[..., ::-1])


@pytest.mark.parametrize("encoding,dtype,hi", [("mono8", np.uint8, 255),
                                               ("8UC1", np.uint8, 255),
                                               ("mono16", np.uint16, 65535),
                                               ("16UC1", np.uint16, 65535)])
def test_encode_png_labels_lossless(encoding, dtype, hi):
    labels = np.random.default_rng(1).integers(0, hi + 1, (37, 53)).astype(dtype)
    labels[0, 0], labels[0, 1] = 0, hi
    fmt, data = ic.encode_image(labels, encoding, "png")
    assert fmt == f"{encoding}; png compressed "  # trailing space, as the plugin writes it
    np.testing.assert_array_equal(pil_decode(data).astype(dtype), labels)
    image, enc = ic.decode_image(fmt, data)
    assert enc == encoding and image.dtype == dtype
    np.testing.assert_array_equal(image, labels)
    # int64 class ids that fit are accepted (the nodes hold labels as int64)
    np.testing.assert_array_equal(ic.decode_image(*ic.encode_image(labels.astype(np.int64),
                                                                   encoding))[0], labels)


def test_encode_jpeg_rgb8_layout_and_bounded_error():
    rgb = smooth_rgb()
    rgb[:8, :8] = (255, 0, 0)
    fmt, data = ic.encode_image(rgb, "rgb8", "jpeg", quality=95)
    assert fmt == "rgb8; jpeg compressed bgr8"
    assert data[:3] == b"\xff\xd8\xff" and data[-2:] == b"\xff\xd9"  # SOI ... EOI
    independent = pil_decode(data).astype(int)
    assert independent[2, 2, 0] > 200 and independent[2, 2, 1:].max() < 60  # red stays red
    image, encoding = ic.decode_image(fmt, data)
    assert encoding == "rgb8" and image.shape == rgb.shape
    err = np.abs(image.astype(int) - rgb.astype(int))
    assert err.mean() < 2.5 and np.percentile(err, 99) < 25
    low_fmt, low = ic.encode_image(rgb, "rgb8", "jpeg", quality=20)
    assert len(low) < len(data)
    mono_fmt, mono = ic.encode_image(rgb[..., 0], "mono8", "jpeg")
    assert mono_fmt == "mono8; jpeg compressed mono8"
    assert np.abs(ic.decode_image(mono_fmt, mono)[0].astype(int)
                  - rgb[..., 0].astype(int)).mean() < 2.5


def test_payload_types_bytes_array_numpy_list():
    rgb = smooth_rgb(8, 8)
    fmt, data = ic.encode_image(rgb, "rgb8")
    for payload in (data, bytearray(data), array.array("B", data),
                    np.frombuffer(data, np.uint8), list(data)):
        np.testing.assert_array_equal(ic.decode_image(fmt, payload)[0], rgb)


# -------------------------------------------------------------------------------------------
# compressedDepth


def test_hand_built_compressed_depth_16uc1():
    mm = np.array([[0, 1], [4321, 65535]], np.uint16)
    data = struct.pack("<iff", 0, 0.0, 0.0) + png_bytes(mm)
    out = ic.decode_compressed_depth("16UC1; compressedDepth png", data)
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, mm)
    # older publishers: no codec name after compressedDepth
    np.testing.assert_array_equal(ic.decode_compressed_depth("16UC1; compressedDepth", data),
                                  mm)


def test_hand_built_compressed_depth_32fc1():
    a, b = 10100.0, -1009.0  # q (q + 1), 1 - A / depth_max with the defaults
    stored = np.array([[0, 9091], [3031, 1]], np.uint16)
    data = struct.pack("<iff", 0, a, b) + png_bytes(stored)
    out = ic.decode_compressed_depth("32FC1; compressedDepth png", data)
    assert out.dtype == np.float32
    assert np.isnan(out[0, 0])
    np.testing.assert_allclose(out[0, 1], 1.0, rtol=1e-7)        # 10100 / (9091 + 1009)
    np.testing.assert_allclose(out[1, 0], 10100 / 4040, rtol=1e-7)
    np.testing.assert_allclose(out[1, 1], 10.0, rtol=1e-7)       # v = 1 is depth_max


def test_encode_compressed_depth_16uc1_header_bytes_and_lossless():
    mm = np.random.default_rng(2).integers(0, 10001, (24, 32)).astype(np.uint16)
    mm[0, :3] = (0, 10000, 10001)
    fmt, data = ic.encode_compressed_depth(mm, "16UC1")
    assert fmt == "16UC1; compressedDepth png"
    assert data[:12] == struct.pack("<iff", 0, 0.0, 0.0) == b"\x00" * 12
    assert data[12:20] == b"\x89PNG\r\n\x1a\n"
    expected = mm.copy()
    expected[0, 2] = 0  # above depth_max (10 m = 10000 mm): the plugin stores 0
    np.testing.assert_array_equal(pil_decode(data[12:]).astype(np.uint16), expected)
    np.testing.assert_array_equal(ic.decode_compressed_depth(fmt, data), expected)
    fmt16, data16 = ic.encode_compressed_depth(expected, "mono16", depth_max_m=20.0)
    assert fmt16 == "mono16; compressedDepth png"
    np.testing.assert_array_equal(ic.decode_compressed_depth(fmt16, data16), expected)


def test_encode_compressed_depth_32fc1_header_and_quantised_values():
    depth = np.array([[1.0, 2.5, 0.0, 10.0], [np.nan, np.inf, -1.0, 0.1]], np.float32)
    fmt, data = ic.encode_compressed_depth(depth, "32FC1")
    assert fmt == "32FC1; compressedDepth png"
    kind, a, b = struct.unpack("<iff", data[:12])
    assert (kind, a, b) == (0, 10100.0, -1009.0)
    assert data[:12] == (b"\x00\x00\x00\x00" + np.float32(10100).tobytes()
                         + np.float32(-1009).tobytes())
    stored = pil_decode(data[12:]).astype(np.int64)
    # trunc(A / d + B): 1 m -> 9091, 2.5 m -> 3031; invalid and >= depth_max -> 0;
    # 0.1 m (10091 + ... > 65535) clips to the nearest storable value
    np.testing.assert_array_equal(stored, [[9091, 3031, 0, 0], [0, 0, 0, 65535]])
    out = ic.decode_compressed_depth(fmt, data)
    np.testing.assert_allclose(out[0, :2], [1.0, 2.5], rtol=1e-6)
    assert np.isnan(out[0, 2:]).all() and np.isnan(out[1, :3]).all()
    np.testing.assert_allclose(out[1, 3], 10100 / (65535 + 1009), rtol=1e-6)
    _, _, b2 = struct.unpack("<iff", ic.encode_compressed_depth(depth, "32FC1", 5.0, 50.0)[1][:12])
    assert b2 == np.float32(1 - 2550 / 5.0)


def test_compressed_depth_32fc1_error_bounded():
    rng = np.random.default_rng(3)
    depth = rng.uniform(0.2, 9.99, (60, 80)).astype(np.float32)
    a = 100.0 * 101.0
    fmt, data = ic.encode_compressed_depth(depth, "32FC1")
    out = ic.decode_compressed_depth(fmt, data).astype(np.float64)
    d = depth.astype(np.float64)
    assert np.isfinite(out).all()
    err = out - d
    bound = d ** 2 / (a - d)  # one inverse-depth step at d
    assert (err >= -1e-5 * d).all() and (err <= bound + 1e-5 * d).all()
    assert np.abs(err).max() < 0.0102  # about 1 cm at 10 m
    metres = ic.depth_m_from_compressed(fmt, data)
    assert metres.dtype == np.float32 and (metres > 0).all()


def test_depth_m_helpers_round_trip():
    depth = np.array([[0.0, 1.2344], [3.0, np.nan]], np.float32)
    fmt, data = ic.encode_depth_m(depth, "16UC1")
    np.testing.assert_array_equal(ic.decode_compressed_depth(fmt, data), [[0, 1234], [3000, 0]])
    np.testing.assert_allclose(ic.depth_m_from_compressed(fmt, data), [[0, 1.234], [3.0, 0]],
                               atol=1e-6)
    fmt, data = ic.encode_depth_m(depth, "32FC1")
    np.testing.assert_allclose(ic.depth_m_from_compressed(fmt, data), [[0, 1.2344], [3.0, 0]],
                               atol=3.0 ** 2 / (10100 - 3.0))  # one step at 3 m
    array_out, encoding = ic.decode(fmt, data)
    assert encoding == "32FC1" and array_out.dtype == np.float32
    assert ic.is_compressed_depth(fmt) and not ic.is_compressed_depth("rgb8; png compressed ")


# -------------------------------------------------------------------------------------------
# errors


@pytest.mark.parametrize("call,match", [
    (lambda: ic.encode_image(np.zeros((4, 4), np.uint8), "rgb8"), r"shape \(H, W, 3\)"),
    (lambda: ic.encode_image(np.zeros((4, 4), np.uint16), "mono16", "jpeg"), "8-bit"),
    (lambda: ic.encode_image(np.zeros((4, 4), np.float32), "mono8"),
     r"expected integer values \(uint8\), found float32"),
    (lambda: ic.encode_image(np.full((4, 4), 300), "mono8"), "do not fit"),
    (lambda: ic.encode_image(np.zeros((4, 4), np.uint8), "yuv422"), "expected encoding"),
    (lambda: ic.encode_image(np.zeros((4, 4), np.uint8), "mono8", "webp"), "png or jpeg"),
    (lambda: ic.encode_compressed_depth(np.zeros((4, 4), np.float32), "16UC1"),
     "expected uint16"),
    (lambda: ic.encode_compressed_depth(np.zeros((4, 4), np.uint16), "32FC1"),
     "expected float"),
    (lambda: ic.encode_compressed_depth(np.zeros((4, 4), np.uint16), "rgb8"),
     "expected encoding"),
])
def test_encode_errors(call, match):
    with pytest.raises(CompressedImageError, match=match):
        call()


def test_encode_checks_arrays_as_raw_images_do():
    """One array check (conversions.image_array) for raw and compressed: a boolean mask is
    mono8 0/1 in both, a float array is refused by both with the same words."""
    from scmis_ros.conversions import ImageConversionError, image_fields

    mask = np.arange(12).reshape(3, 4) % 3 == 0
    fmt, data = ic.encode_image(mask, "mono8", "png")
    decoded, _ = ic.decode_image(fmt, data)
    np.testing.assert_array_equal(decoded, mask.astype(np.uint8))
    np.testing.assert_array_equal(image_fields(mask, "mono8")["data"], decoded.reshape(-1))
    for call in (lambda a: ic.encode_image(a, "mono16", "png"),
                 lambda a: image_fields(a, "mono16")):
        with pytest.raises(ImageConversionError,
                           match=r"mono16: expected integer values \(uint16\), found float64"):
            call(np.ones((2, 2)))


def test_decode_errors_name_expected_and_found():
    mono_png = png_bytes(np.zeros((2, 2), np.uint8))
    depth = struct.pack("<iff", 0, 0.0, 0.0) + png_bytes(np.ones((2, 2), np.uint16))
    cases = [
        (lambda: ic.decode_image("rgb8; png compressed bgr8", b"not an image"),
         "expected a PNG or JPEG file"),
        (lambda: ic.decode_image("rgb8; png compressed bgr8", b""), "empty payload"),
        (lambda: ic.decode_image("rgb8; png compressed bgr8", mono_png),
         "expected an 8-bit colour image for rgb8, found uint8 with 1"),
        (lambda: ic.decode_image("mono16; png compressed ", mono_png), "expected uint16"),
        (lambda: ic.decode_image("yuv422; png compressed ", mono_png), "found 'yuv422'"),
        (lambda: ic.decode_image("mono8; tiff compressed", mono_png), "jpeg|png"),
        (lambda: ic.decode_image("16UC1; compressedDepth png", depth),
         "decode_compressed_depth"),
        (lambda: ic.decode_compressed_depth("16UC1; compressedDepth rvl", depth), "'rvl'"),
        (lambda: ic.decode_compressed_depth("16UC1; png compressed ", depth),
         "compressedDepth png"),
        (lambda: ic.decode_compressed_depth("rgb8; compressedDepth png", depth),
         "found 'rgb8'"),
        (lambda: ic.decode_compressed_depth("16UC1; compressedDepth png", depth[:12]),
         "found 12 bytes"),
        (lambda: ic.decode_compressed_depth("16UC1; compressedDepth png",
                                            struct.pack("<iff", 1, 0, 0) + depth[12:]),
         "found 1"),
        (lambda: ic.decode_compressed_depth("16UC1; compressedDepth png", depth[12:]),
         "ConfigHeader before the PNG"),
        (lambda: ic.decode_compressed_depth("16UC1; compressedDepth png", depth[:12] + b"x" * 9),
         "expected a PNG after"),
        (lambda: ic.decode_compressed_depth("16UC1; compressedDepth png",
                                            depth[:12] + mono_png), "16-bit"),
        (lambda: ic.decode_compressed_depth(None, depth), "expected a string"),
    ]
    for call, match in cases:
        with pytest.raises(CompressedImageError, match=match):
            call()
    assert issubclass(CompressedImageError, ValueError)


# -------------------------------------------------------------------------------------------
# messages


def test_make_compressed_rclpy_and_rosbags():
    from rosbags.typesys import Stores, get_typestore

    rgb = smooth_rgb(6, 5)
    fmt, data = ic.encode_image(rgb, "rgb8", "png")
    store = get_typestore(Stores.ROS2_KILTED)
    header = store.types["std_msgs/msg/Header"](
        stamp=store.types["builtin_interfaces/msg/Time"](sec=3, nanosec=4), frame_id="cam")
    bag_msg = ic.make_compressed(fmt, data, header,
                                 store.types["sensor_msgs/msg/CompressedImage"])
    raw = store.serialize_cdr(bag_msg, "sensor_msgs/msg/CompressedImage")
    back = store.deserialize_cdr(raw, "sensor_msgs/msg/CompressedImage")
    assert back.format == fmt and bytes(back.data) == data
    np.testing.assert_array_equal(ic.decode_image(back.format, back.data)[0], rgb)
    pytest.importorskip("sensor_msgs.msg")
    from sensor_msgs.msg import CompressedImage
    from std_msgs.msg import Header

    msg = ic.make_compressed(fmt, data, Header(frame_id="cam"), CompressedImage)
    assert msg.format == fmt and bytes(msg.data) == data and msg.header.frame_id == "cam"
    np.testing.assert_array_equal(ic.decode_image(msg.format, msg.data)[0], rgb)


def test_opencv_reads_the_stored_bgr_order():
    """The stored colour file is what cv2 writes from a BGR Mat: cv2.imdecode gives BGR."""
    rgb = smooth_rgb(10, 12)
    _, data = ic.encode_image(rgb, "rgb8", "png")
    np.testing.assert_array_equal(cv2.imdecode(np.frombuffer(data, np.uint8),
                                               cv2.IMREAD_UNCHANGED), rgb[..., ::-1])


# -------------------------------------------------------------------------------------------
# colour with alpha (e.g. the Azure Kinect's bgra8)


def test_bgra8_and_rgba8_compressed_and_raw():
    from types import SimpleNamespace

    from scmis_ros.conversions import image_fields, rgb_from_image

    rng = np.random.default_rng(4)
    rgb = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (9, 11, 1), dtype=np.uint8)
    bgra = np.concatenate([rgb[..., ::-1], alpha], -1)
    rgba = np.concatenate([rgb, alpha], -1)
    fmt, data = ic.encode_image(bgra, "bgra8", "png")
    assert fmt == "bgra8; png compressed bgra8"  # as the plugin names the 8-bit target
    np.testing.assert_array_equal(pil_decode(data), rgba)  # a true RGBA file
    np.testing.assert_array_equal(ic.decode_image(fmt, data)[0], bgra)
    fmt, data = ic.encode_image(rgba, "rgba8", "png")
    assert fmt == "rgba8; png compressed bgra8"
    np.testing.assert_array_equal(ic.decode_image(fmt, data)[0], rgba)
    fmt, data = ic.encode_image(bgra, "bgra8", "jpeg")
    assert fmt == "bgra8; jpeg compressed bgr8"  # jpeg has no alpha
    image, encoding = ic.decode_image(fmt, data)
    assert encoding == "bgra8" and image.shape == (9, 11, 4) and (image[..., 3] == 255).all()
    # a hand-built RGB PNG under a bgra8 format: alpha added, channels in bgra order
    image, _ = ic.decode_image("bgra8; png compressed bgr8", png_bytes(rgb))
    np.testing.assert_array_equal(image[..., :3], rgb[..., ::-1])
    # raw Image messages: alpha dropped, RGB order
    for pixels, encoding in ((bgra, "bgra8"), (rgba, "rgba8")):
        msg = SimpleNamespace(**image_fields(pixels, encoding))
        np.testing.assert_array_equal(rgb_from_image(msg, backend="numpy"), rgb)
