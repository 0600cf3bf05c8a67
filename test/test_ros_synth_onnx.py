"""The synth node on the onnxruntime backend (``-p backend:=onnxruntime``): a node subprocess
on loopback DDS publishes the same images as the PyTorch synthesizer with the same seed."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="optional package onnxruntime not installed")
pytest.importorskip("rclpy", reason="rclpy (ROS 2) is not installed")

from ros_harness import ros_session  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from scmis_core.synthesize import Synthesizer  # noqa: E402
from scmis_ros.conversions import image_to_numpy, numpy_to_image  # noqa: E402
from scmis_ros.fixtures import label_map, write_generator_checkpoint  # noqa: E402

pytestmark = pytest.mark.ros
NODE = "scmis_ros.synth_node"


@pytest.fixture
def ros(tmp_path):
    for domain, client, start in ros_session(tmp_path):
        yield domain, client, lambda params, name="node", **kw: start(NODE, params, name, **kw)


def test_synth_node_with_onnxruntime_backend_matches_torch(ros, tmp_path):
    checkpoint = write_generator_checkpoint(tmp_path / "tiny.pt", seed=4)
    _, client, start = ros
    node = start({"checkpoint": str(checkpoint), "device": "cpu", "backend": "onnxruntime",
                  "seed": 5})
    assert client.wait_for_node("synth_node", 60), node.output()
    pub = client.publisher(Image, "labels")
    rgb, depth = client.collect(Image, "synth/rgb"), client.collect(Image, "synth/depth")
    labels = label_map(24, 40)
    msg = numpy_to_image(labels, "mono8")
    msg.header.frame_id = "cam"
    assert client.spin_until(lambda: rgb and depth, 60, every=lambda: pub.publish(msg)), \
        node.output()
    assert "CPUExecutionProvider" in node.output()  # the node says what runs the graph
    want_rgb, want_depth = Synthesizer.from_checkpoint(checkpoint, device="cpu").synth(
        labels, seed=5)
    got_rgb, got_depth = image_to_numpy(rgb[0]), image_to_numpy(depth[0])
    assert got_rgb.shape == (24, 40, 3) and rgb[0].header.frame_id == "cam"
    assert np.abs(got_rgb.astype(int) - want_rgb.astype(int)).max() <= 1
    assert np.abs(got_depth - want_depth).max() <= 1e-3


def test_unknown_backend_is_refused(ros, tmp_path):
    checkpoint = write_generator_checkpoint(tmp_path / "tiny.pt")
    _, _, start = ros
    node = start({"checkpoint": str(checkpoint), "backend": "tensorflow"})
    assert node.wait(60) == 2
    assert "backend: expected one of torch, onnxruntime" in node.output()
