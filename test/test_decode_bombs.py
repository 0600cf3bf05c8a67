"""Decompression bombs: a payload whose header declares a huge image is refused from its
header, before any pixel is decoded, on every decode path (issue "Reliability, round 3")."""

from __future__ import annotations

import os
import resource
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rosbags", reason="the rosbags library is not installed")

from scmis_ros import image_codecs  # noqa: E402
from scmis_ros.bag_io import COMPRESSED_TYPE  # noqa: E402
from scmis_ros.bags import typestore  # noqa: E402
from scmis_ros.fixtures import write_generator_checkpoint  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SIDE = 24000


def bomb_jpeg(side: int = SIDE) -> tuple[str, bytes]:
    """A ~630-byte JPEG whose frame header declares side x side pixels."""
    fmt, data = image_codecs.encode_image(np.zeros((8, 8, 3), np.uint8), "rgb8", "jpeg",
                                          quality=50)
    data = bytearray(data)
    i = 2
    while data[i + 1] not in (0xC0, 0xC1, 0xC2):
        i += 2 + struct.unpack(">H", data[i + 2:i + 4])[0]
    data[i + 5:i + 9] = struct.pack(">HH", side, side)
    return fmt, bytes(data)


def bomb_png(height: int, width: int) -> bytes:
    """A small mono8 PNG whose IHDR declares height x width (the CRC left as it is: the
    header is read before anything checks it)."""
    _, data = image_codecs.encode_image(np.zeros((4, 4), np.uint8), "mono8", "png")
    return data[:16] + struct.pack(">II", width, height) + data[24:]


def test_declared_sizes_are_read_from_the_header():
    fmt, data = image_codecs.encode_image(np.zeros((30, 50, 3), np.uint8), "rgb8", "jpeg")
    assert image_codecs.declared_size(data, "x") == (30, 50)
    _, data = image_codecs.encode_image(np.zeros((30, 50), np.uint8), "mono8", "png")
    assert image_codecs.declared_size(data, "x") == (30, 50)
    assert image_codecs.declared_size(bomb_jpeg()[1], "x") == (SIDE, SIDE)
    assert len(bomb_jpeg()[1]) < 1000
    with pytest.raises(image_codecs.CompressedImageError, match="expected a PNG or JPEG"):
        image_codecs.declared_size(b"GIF89a....", "x")


@pytest.mark.parametrize("payload, what", [
    (lambda: bomb_jpeg(), "24000x24000"),
    (lambda: ("mono8; png compressed ", bomb_png(1, 100000)), "100000x1"),
    (lambda: ("mono8; png compressed ", bomb_png(20000, 20000)), "20000x20000"),
])
def test_codecs_refuse_bombs_before_decoding(payload, what):
    fmt, data = payload()
    with pytest.raises(image_codecs.ImageTooLargeError, match=f"{what} .* not decoded"):
        image_codecs.decode(fmt, data)


def test_compressed_depth_bomb_is_refused():
    header = image_codecs.CONFIG_HEADER.pack(0, 0.0, 0.0)
    _, png = image_codecs.encode_image(np.zeros((4, 4), np.uint16), "mono16", "png")
    bomb = header + png[:16] + struct.pack(">II", 30000, 30000) + png[24:]
    with pytest.raises(image_codecs.ImageTooLargeError, match="30000x30000"):
        image_codecs.depth_m_from_compressed("16UC1; compressedDepth png", bomb)


def _bag_with_bomb(path: Path) -> Path:
    """Compressed labels / colour / depth, 3 frames; frame 1's colour is the JPEG bomb."""
    from rosbags.rosbag2 import Writer

    store = typestore()
    writer = Writer(path, version=Writer.VERSION_LATEST)
    writer.open()
    topics = {"/cam/labels/compressed": "labels", "/cam/color/image_raw/compressed": "rgb",
              "/cam/depth/image_raw/compressedDepth": "depth"}
    conns = {t: writer.add_connection(t, COMPRESSED_TYPE, typestore=store) for t in topics}
    rgb = np.full((24, 32, 3), 120, np.uint8)
    for i in range(3):
        header = store.types["std_msgs/msg/Header"](
            stamp=store.types["builtin_interfaces/msg/Time"](sec=5, nanosec=i * 1000),
            frame_id="cam")
        payloads = {"labels": image_codecs.encode_image(np.full((24, 32), 1 + i, np.uint8),
                                                        "mono8", "png"),
                    "rgb": bomb_jpeg() if i == 1 else image_codecs.encode_image(rgb, "rgb8",
                                                                                "jpeg"),
                    "depth": image_codecs.encode_compressed_depth(
                        np.full((24, 32), 2.0, np.float32), "32FC1")}
        for topic, role in topics.items():
            msg = image_codecs.make_compressed(*payloads[role], header,
                                               store.types[COMPRESSED_TYPE])
            writer.write(conns[topic], 5_000_000_000 + i * 1000,
                         store.serialize_cdr(msg, COMPRESSED_TYPE))
    writer.close()
    return path


@pytest.mark.slow
def test_bag_augment_exits_with_one_line_under_an_address_space_limit(tmp_path):
    """The 629-byte JPEG declaring 24000 x 24000 (3.7 GB RSS before): one error line, exit 2,
    with the process's address space capped at 1.5 GiB (measured: under 1 GiB rclpy's libssl
    cannot even be mapped, under 1.25 GiB torch cannot allocate the generator; at 1.5 GiB the
    run peaks at 326 MB RSS)."""
    bag = _bag_with_bomb(tmp_path / "bag")
    gen = write_generator_checkpoint(tmp_path / "gen.pt")
    limit = 3 << 29  # 1.5 GiB

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    proc = subprocess.run([sys.executable, "-m", "scmis_ros.bag_augment", str(bag),
                           str(tmp_path / "out"), "--checkpoint", str(gen), "--device", "cpu",
                           "--no-progress"], env=dict(os.environ, PYTHONPATH=str(REPO)),
                          capture_output=True, text=True, timeout=300, preexec_fn=cap)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "/cam/color/image_raw/compressed" in lines[0] and "24000x24000" in lines[0]
    assert "decoding limit" in lines[0]
    assert not (tmp_path / "out").exists()


class _Compressed:
    def __init__(self, fmt, data):
        self.format, self.data = fmt, data


class _Raw:
    encoding = "mono8"

    def __init__(self, height, width):
        self.height, self.width = height, width


def test_node_input_check_reads_the_header_and_limits_each_side():
    """What the synth, label, mix and fine-tune nodes run before decoding a message
    (image_topics.message_pixels, then max_input_pixels): the bomb is 576 M pixels (dropped as
    too large, nothing decoded), a 1 x 100000 strip is refused for its side; both raise
    ImageTooLargeError, an ImageConversionError, which the nodes drop with a throttled
    warning."""
    from scmis_ros.conversions import ImageConversionError
    from scmis_ros.image_topics import message_pixels

    assert issubclass(image_codecs.ImageTooLargeError, ImageConversionError)
    with pytest.raises(image_codecs.ImageTooLargeError, match="24000x24000"):
        message_pixels(_Compressed(*bomb_jpeg()))
    assert message_pixels(_Compressed(*bomb_jpeg(8000))) == 8000 * 8000  # max_input_pixels
    with pytest.raises(image_codecs.ImageTooLargeError, match="100000x1"):
        message_pixels(_Raw(1, 100000))
    with pytest.raises(image_codecs.ImageTooLargeError, match="100000x1"):
        message_pixels(_Compressed("mono8; png compressed ", bomb_png(1, 100000)))
    assert message_pixels(_Raw(480, 640)) == 480 * 640


@pytest.mark.parametrize("reader, data", [
    ("read_labels", lambda: bomb_png(20000, 20000)),
    ("read_labels", lambda: bomb_png(1, 100000)),
    ("read_rgb", lambda: bomb_jpeg()[1]),
    ("read_depth", lambda: bomb_png(30000, 30000)),
])
def test_data_loaders_refuse_file_bombs_by_their_header(tmp_path, reader, data):
    """A 150 KB label PNG declaring 20000 x 20000 cost 1.55 GB in the data loaders."""
    from scmis_core.data import io

    path = tmp_path / "bomb.png"
    path.write_bytes(data())
    with pytest.raises(ValueError, match=r"bomb\.png: .* larger than the decoding limit"):
        getattr(io, reader)(path)
