"""label node with real rclpy at camera size (640x480): colour + depth in (raw, or compressed
under realsense-style topic names), labels predicted by a segmenter checkpoint out, every
pair received by a default-QoS subscriber."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy (ROS 2) is not installed")

from ros_harness import ros_session  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from scmis_core.finetune import OnlineFinetuner  # noqa: E402
from scmis_core.segment import Segmenter  # noqa: E402
from scmis_ros import image_codecs  # noqa: E402
from scmis_ros.conversions import (depth_m_to_mm, labels_from_image,  # noqa: E402
                                   numpy_to_image, stamp_ns)

pytestmark = [pytest.mark.ros, pytest.mark.usefixtures("one_thread")]
H, W = 480, 640
ONE_THREAD = {"OMP_NUM_THREADS": "1"}  # the same arithmetic as the expected labels here
REALSENSE = {"rgb": "/camera/camera/color/image_raw",
             "depth": "/camera/camera/aligned_depth_to_color/image_raw"}


@pytest.fixture
def ros(tmp_path):
    yield from ros_session(tmp_path)


@pytest.fixture(scope="module")
def segmenter_path(tmp_path_factory):
    """A tiny RGB-D U-Net segmenter checkpoint (40 classes, trained at 60x80)."""
    tuner = OnlineFinetuner(40, height=60, width=80, device="cpu", lr=1e-2, seed=0,
                            arch="unet-rgbd", arch_kwargs={"widths": (4, 8)})
    for i in range(4):
        rgb, depth = frame(i, 60, 80)
        tuner.add(rgb, depth, 1 + (rgb[..., 0] // 32).astype(np.int64))
    for _ in range(4):
        tuner.train_step(batch_size=2)
    return tuner.save(tmp_path_factory.mktemp("seg") / "segmenter.pt")


def frame(seed: int, height: int = H, width: int = W) -> tuple[np.ndarray, np.ndarray]:
    """A smooth colour image and depth in metres (0 = no measurement in a corner)."""
    y, x = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    phase = seed * 0.7
    rgb = np.stack([127 + 120 * np.sin(6 * x + phase), 127 + 120 * np.cos(5 * y - phase),
                    127 + 100 * np.sin(4 * (x + y))], -1).astype(np.uint8)
    depth = (1.0 + 3.0 * y + 0.5 * np.sin(3 * x + phase)).astype(np.float32)
    depth[: height // 8, : width // 8] = 0.0
    return rgb, depth


def stamped(msg, t_ns, frame_id="camera_color_optical_frame"):
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(t_ns, 10**9)
    msg.header.frame_id = frame_id
    return msg


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float((a == b).mean())


def test_raw_640x480_every_pair_reaches_a_default_qos_subscriber(ros, segmenter_path):
    _, client, start = ros
    node = start("scmis_ros.label_node", {"segmenter": str(segmenter_path), "device": "cpu"},
                 env=ONE_THREAD)
    reliable = client.qos("reliable", 10)
    pub_rgb = client.publisher(Image, "rgb", reliable)
    pub_depth = client.publisher(Image, "depth", reliable)
    labels = client.collect(Image, "labels", 10)  # a plain default-QoS subscription
    diag = client.diagnostics("label_node")
    assert client.wait_for_node("label_node", 90), node.output()
    assert client.spin_until(lambda: pub_rgb.get_subscription_count() > 0
                             and pub_depth.get_subscription_count() > 0, 60), node.output()
    seg = Segmenter.from_checkpoint(segmenter_path, device="cpu")
    t0 = 100 * 10**9
    for i in range(3):
        rgb, depth = frame(i)
        t = t0 + i * 10**8
        pub_depth.publish(stamped(numpy_to_image(depth_m_to_mm(depth), "16UC1"), t + 3_000_000))
        pub_rgb.publish(stamped(numpy_to_image(rgb, "rgb8"), t))
        assert client.spin_until(lambda: len(labels) > i, 60), node.output()
        msg = labels[i]
        assert stamp_ns(msg.header) == t and msg.header.frame_id == "camera_color_optical_frame"
        assert (msg.height, msg.width, msg.encoding) == (H, W, "mono8")
        got = labels_from_image(msg)
        expected = seg.predict_frame(rgb, np.round(depth * 1000) / 1000)
        assert len(np.unique(expected)) >= 2  # the check below is not about a constant image
        assert agreement(got, expected) > 0.999
    # depth of another size (not registered to the colour image): dropped, the node goes on
    pub_depth.publish(stamped(numpy_to_image(depth_m_to_mm(frame(0, 240, 320)[1]), "16UC1"),
                              t0 + 10**9))
    pub_rgb.publish(stamped(numpy_to_image(frame(0)[0], "rgb8"), t0 + 10**9))
    rgb, depth = frame(5)
    pub_depth.publish(stamped(numpy_to_image(depth, "32FC1"), t0 + 2 * 10**9))
    pub_rgb.publish(stamped(numpy_to_image(rgb[..., ::-1], "bgr8"), t0 + 2 * 10**9))
    assert client.spin_until(lambda: len(labels) == 4, 60), node.output()
    assert stamp_ns(labels[3].header) == t0 + 2 * 10**9
    assert agreement(labels_from_image(labels[3]), seg.predict_frame(rgb, depth)) > 0.999
    # /diagnostics: WARN for the period with the bad pair, OK again afterwards
    assert client.spin_until(lambda: any(d.get("bad", 0) >= 1 for d in diag), 30)
    first_bad = next(d for d in diag if d.get("bad", 0) >= 1)
    assert first_bad["level"] == "WARN" and "bad" in first_bad["message"]
    seen = len(diag)
    assert client.spin_until(lambda: len(diag) > seen and diag[-1]["level"] == "OK", 30)
    assert diag[-1]["classes"] == 40 and diag[-1]["published"] == 4
    assert node.stop() == 0
    assert "published 4 label images" in node.output()


def test_compressed_realsense_topics_and_compressed_output(ros, segmenter_path):
    _, client, start = ros
    node = start("scmis_ros.label_node", {"segmenter": str(segmenter_path), "device": "cpu",
                                          "publish_compressed": True},
                 remaps={**REALSENSE, "labels": "/camera/labels"}, env=ONE_THREAD)
    reliable = client.qos("reliable", 10)
    pub_rgb = client.publisher(CompressedImage, REALSENSE["rgb"] + "/compressed", reliable)
    pub_depth = client.publisher(CompressedImage, REALSENSE["depth"] + "/compressedDepth",
                                 reliable)
    raw = client.collect(Image, "/camera/labels", 10)
    png = client.collect(CompressedImage, "/camera/labels/compressed", 10)
    diag = client.diagnostics("label_node")
    assert client.wait_for_node("label_node", 90), node.output()
    assert client.spin_until(lambda: pub_rgb.get_subscription_count() > 0
                             and pub_depth.get_subscription_count() > 0, 60), node.output()
    seg = Segmenter.from_checkpoint(segmenter_path, device="cpu")
    rgb, depth = frame(2)
    t = 7 * 10**9 + 5
    fmt, data = image_codecs.encode_image(rgb, "rgb8", "jpeg", quality=90)
    pub_rgb.publish(stamped(image_codecs.make_compressed(fmt, data, Header(), CompressedImage),
                            t))
    dfmt, ddata = image_codecs.encode_depth_m(depth, "16UC1")
    pub_depth.publish(stamped(image_codecs.make_compressed(dfmt, ddata, Header(),
                                                           CompressedImage), t))
    assert client.spin_until(lambda: raw and png, 60), (node.output(), diag[-1:])
    assert stamp_ns(raw[0].header) == t == stamp_ns(png[0].header)
    assert png[0].format == "mono8; png compressed "
    from_png, encoding = image_codecs.decode_image(png[0].format, png[0].data)
    assert encoding == "mono8"
    np.testing.assert_array_equal(from_png, labels_from_image(raw[0]))  # png is lossless
    decoded_rgb, _ = image_codecs.decode_image(fmt, data)
    expected = seg.predict_frame(decoded_rgb,
                                 image_codecs.depth_m_from_compressed(dfmt, ddata))
    assert agreement(from_png.astype(np.int64), expected) > 0.999
    assert "CompressedImage" in node.output()  # the inputs it chose are logged
    assert client.spin_until(lambda: any(d["published"] == 1 for d in diag), 30), diag[-1:]
    assert diag[-1]["level"] == "OK"


def test_augment_launch_labels_from_segmenter(repo_root):
    """augment.launch.py labels:=segmenter: a label node on the camera topics feeds the synth
    and mix nodes through segmenter/labels (the launch description, nothing started)."""
    import importlib.util

    pytest.importorskip("launch_ros", reason="launch_ros is not installed")
    from launch import LaunchContext
    from launch.utilities import perform_substitutions

    spec = importlib.util.spec_from_file_location(
        "augment_launch", repo_root / "launch" / "augment.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def nodes(**args):
        context = LaunchContext()
        context.launch_configurations.update(
            {name: default for name, default, _, _ in module.ARGS})
        context.launch_configurations.update(params_file="nodes.yaml", **args)
        started = [n for n in module._nodes(context)
                   if n.condition is None or n.condition.evaluate(context)]
        return {n.node_executable: n for n in started}, context

    def remaps(node, context):
        return {perform_substitutions(context, src): perform_substitutions(context, dst)
                for src, dst in node._Node__remappings}

    started, _ = nodes(source="camera")
    assert "label_node" not in started
    started, context = nodes(source="camera", labels="segmenter", label_segmenter="seg.pt",
                             rgb_topic=REALSENSE["rgb"], depth_topic=REALSENSE["depth"])
    assert remaps(started["label_node"], context) == {**REALSENSE,
                                                      "labels": "segmenter/labels"}
    assert remaps(started["synth_node"], context) == {
        "labels": "segmenter/labels",
        "camera_info": "/camera/camera/color/camera_info"}  # beside the colour topic
    assert remaps(started["mix_node"], context)["labels"] == "segmenter/labels"
    assert remaps(started["mix_node"], context)["rgb"] == REALSENSE["rgb"]


def test_realsense_parameter_file_is_valid(repo_root):
    """config/ros/realsense.yaml names only parameters the nodes declare, with valid values."""
    import importlib

    import yaml

    cfg = yaml.safe_load((repo_root / "config" / "ros" / "realsense.yaml").read_text())
    assert set(cfg) == {"label_node", "synth_node", "mix_node", "finetune_node"}
    for node, section in cfg.items():
        params = {p.name: p for p in importlib.import_module(f"scmis_ros.{node}").PARAMS}
        for key, value in section["ros__parameters"].items():
            assert key in params, f"{node}: {key} is not a parameter"
            assert type(value) is type(params[key].default), (node, key, value)
            assert params[key].validate(value) is None, (node, key, value)


@pytest.mark.slow
def test_a_decompression_bomb_on_the_colour_topic_is_refused(ros, segmenter_path):
    """A 629-byte JPEG declaring 24000 x 24000: refused from its header, counted bad, with a
    warning naming its size; the next good pair is labelled."""
    import struct

    _, client, start = ros
    node = start("scmis_ros.label_node", {"segmenter": str(segmenter_path), "device": "cpu",
                                          "diagnostics_period_s": 0.2},
                 remaps={**REALSENSE, "labels": "/camera/labels"}, env=ONE_THREAD)
    reliable = client.qos("reliable", 10)
    pub_rgb = client.publisher(CompressedImage, REALSENSE["rgb"] + "/compressed", reliable)
    pub_depth = client.publisher(CompressedImage, REALSENSE["depth"] + "/compressedDepth",
                                 reliable)
    raw = client.collect(Image, "/camera/labels", 10)
    diag = client.diagnostics("label_node")
    assert client.wait_for_node("label_node", 90), node.output()
    rgb, depth = frame(1, 48, 64)
    fmt, good = image_codecs.encode_image(rgb, "rgb8", "jpeg", quality=90)
    bomb = bytearray(good)
    i = 2
    while bomb[i + 1] not in (0xC0, 0xC1, 0xC2):
        i += 2 + struct.unpack(">H", bomb[i + 2:i + 4])[0]
    bomb[i + 5:i + 9] = struct.pack(">HH", 24000, 24000)
    dfmt, ddata = image_codecs.encode_depth_m(depth, "16UC1")

    def send(t, data):
        pub_rgb.publish(stamped(image_codecs.make_compressed(fmt, bytes(data), Header(),
                                                             CompressedImage), t))
        pub_depth.publish(stamped(image_codecs.make_compressed(dfmt, ddata, Header(),
                                                               CompressedImage), t))

    assert client.spin_until(lambda: diag and diag[-1]["bad"] >= 1, 60,
                             every=lambda: send(3 * 10**9, bomb)), (node.output(), diag[-1:])
    assert "24000x24000" in node.output() and node.alive() and not raw
    assert client.spin_until(lambda: raw, 60, every=lambda: send(5 * 10**9, good)), \
        node.output()
