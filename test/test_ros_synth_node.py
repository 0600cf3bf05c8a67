"""The synth node with real rclpy: a node subprocess on loopback DDS with this test's own
domain id, driven by a client node in the test process."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy (ROS 2) is not installed")

from ros_harness import ros_session  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from scmis_ros.conversions import image_to_numpy, numpy_to_image, stamp_ns  # noqa: E402
from scmis_ros.fixtures import label_map, write_generator_checkpoint  # noqa: E402

pytestmark = pytest.mark.ros
NODE = "scmis_ros.synth_node"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_generator_checkpoint(tmp_path_factory.mktemp("gen") / "tiny.pt")


@pytest.fixture
def ros(tmp_path):
    """(domain id, client, start(params) -> NodeProcess); everything stopped afterwards."""
    for domain, client, start in ros_session(tmp_path):
        yield domain, client, lambda params, name="node", **kw: start(NODE, params, name, **kw)


def labels_msg(labels: np.ndarray, sec: int, encoding: str = "mono8", frame: str = "cam"
               ) -> Image:
    msg = numpy_to_image(labels, encoding)
    msg.header.stamp.sec, msg.header.stamp.nanosec = sec, 1234
    msg.header.frame_id = frame
    return msg


def latest(statuses):
    return statuses[-1] if statuses else {}


def test_labels_in_rgb_depth_out_with_header_sizes_encodings_and_params(ros, checkpoint,
                                                                        tmp_path):
    _, client, start = ros
    node = start({"checkpoint": str(checkpoint), "device": "cpu", "publish_depth_mm": True,
                  "status_period_s": 0.2})
    status = client.status("synth/status")
    pub = client.publisher(Image, "labels")
    assert client.wait_for_node("synth_node", 60), node.output()
    labels = label_map(24, 40)
    # Nobody subscribes to the outputs yet: label images are counted but not synthesized.
    assert client.spin_until(lambda: latest(status).get("skipped_no_subscribers", 0) >= 2,
                             30, every=lambda: pub.publish(labels_msg(labels, 1))), \
        node.output()
    assert latest(status)["processed"] == 0
    rgb = client.collect(Image, "synth/rgb")
    depth = client.collect(Image, "synth/depth")
    depth_mm = client.collect(Image, "synth/depth_mm")
    ok = client.spin_until(lambda: rgb and depth and depth_mm, 60,
                           every=lambda: pub.publish(labels_msg(labels, 7)))
    assert ok, node.output()
    for msg, encoding in ((rgb[0], "rgb8"), (depth[0], "32FC1"), (depth_mm[0], "16UC1")):
        assert msg.encoding == encoding
        assert (msg.height, msg.width) == (24, 40)
        assert msg.header.frame_id == "cam" and stamp_ns(msg.header) == 7 * 10**9 + 1234
    depth_m = image_to_numpy(depth[0])
    assert depth_m.dtype == np.float32 and np.isfinite(depth_m).all() and depth_m.min() >= 0
    np.testing.assert_allclose(image_to_numpy(depth_mm[0]) / 1000.0, depth_m, atol=6e-4)

    # Validation: descriptor ranges, choices, read-only and file checks all refuse with a reason.
    bad = {"variants": 0, "seed": -5, "max_rate_hz": -1.0, "output_height": 5000,
           "class_remap": str(tmp_path / "missing.yaml"), "qos": "reliable"}
    for key, value in bad.items():
        (result,) = client.set_parameters("synth_node", {key: value})
        assert not result.successful, key
        assert result.reason, key
    (result,) = client.set_parameters("synth_node", {"class_remap": str(tmp_path / "x.yaml")})
    assert "file not found" in result.reason
    remap = tmp_path / "remap.yaml"
    remap.write_text("200: 3\n201: 4\n")
    results = client.set_parameters("synth_node", {"variants": 2, "seed": 5,
                                                   "output_height": 16, "output_width": 20,
                                                   "class_remap": str(remap)})
    assert all(r.successful for r in results), [r.reason for r in results]
    # a remap to ids beyond the model's 40 classes is refused before it is accepted: the
    # parameter keeps the file in force (and so does the lookup table, used below)
    too_big = tmp_path / "too_big.yaml"
    too_big.write_text("200: 3\n201: 41\n")
    (result,) = client.set_parameters("synth_node", {"class_remap": str(too_big)})
    assert not result.successful and "model id 41 (for 201) outside 0..40" in result.reason
    assert client.get_parameters("synth_node", ["class_remap"]) == [str(remap)]
    # ids 200/201 are out of range for the 40-class model, but the remap makes them valid;
    # variants=2 gives two images per label image, fixed seed gives the same two every time.
    remapped = np.where(labels > 20, 200, 201).astype(np.uint8)
    rgb.clear()
    ok = client.spin_until(lambda: len([m for m in rgb if m.header.stamp.sec == 9]) >= 4, 60,
                           every=lambda: pub.publish(labels_msg(remapped, 9)), period=1.0)
    assert ok, node.output()
    answers = [m for m in rgb if m.header.stamp.sec == 9]
    assert all((m.height, m.width) == (16, 20) for m in answers)
    images = [image_to_numpy(m) for m in answers[:4]]
    assert not np.array_equal(images[0], images[1])  # variant 0 vs variant 1: seeds 5, 6
    np.testing.assert_array_equal(images[0], images[2])  # same seed, same image
    assert latest(status)["bad"] == 0
    assert node.stop() == 0


def test_bad_start_parameters_and_missing_checkpoint_fail_clearly(ros, checkpoint, tmp_path):
    _, _, start = ros
    bad_qos = start({"checkpoint": str(checkpoint), "qos": "fastest"})
    missing = start({"checkpoint": ""}, name="missing",
                    env={"SCMIS_DEMO_DIR": str(tmp_path / "no_demo")})
    assert bad_qos.wait(60) == 2
    assert "qos: expected one of sensor_data" in bad_qos.output()
    assert missing.wait(60) == 2
    text = missing.output()
    assert "no generator checkpoint" in text and "make demo" in text
    assert str(tmp_path / "no_demo" / "train" / "final.pt") in text


def test_200_malformed_messages_do_not_kill_the_node(ros, checkpoint):
    _, client, start = ros
    # reliable QoS so that every one of the 200 messages reaches the node (the default
    # sensor-data QoS may lose some on the way, which would prove nothing about the node)
    node = start({"checkpoint": str(checkpoint), "device": "cpu", "status_period_s": 0.2,
                  "qos": "reliable", "qos_depth": 50})
    status = client.status("synth/status")
    rgb = client.collect(Image, "synth/rgb", client.qos("reliable"))
    reliable = client.qos("reliable", 50)
    pub = client.publisher(Image, "labels", reliable)
    assert client.wait_for_node("synth_node", 60), node.output()
    assert client.spin_until(lambda: pub.get_subscription_count() > 0, 30)
    good = label_map(16, 16)

    def malformed(i: int) -> Image:
        kind = i % 5
        if kind == 0:  # wrong encoding for labels
            return numpy_to_image(np.zeros((16, 16, 3), np.uint8), "rgb8")
        if kind == 1:  # data shorter than height * step
            msg = numpy_to_image(good, "mono8")
            msg.data = bytes(msg.data)[:100]
            return msg
        if kind == 2:  # class ids out of range (model has 40)
            return numpy_to_image(np.full((16, 16), 200, np.uint8), "mono8")
        if kind == 3:  # empty image
            msg = numpy_to_image(good, "mono8")
            msg.height, msg.width, msg.step, msg.data = 0, 0, 0, b""
            return msg
        msg = numpy_to_image(good, "mono16")  # unknown encoding string
        msg.encoding = "weird16"
        return msg

    for i in range(200):
        msg = malformed(i)
        msg.header.stamp.sec = 100 + i
        pub.publish(msg)
        client.spin_for(0.01)
    assert client.spin_until(lambda: latest(status).get("received", 0) >= 200, 30), \
        (latest(status), node.output())
    client.spin_for(1.0)
    counts = latest(status)
    # every malformed message was either rejected as bad or replaced in the slot by a newer one
    assert counts["bad"] >= 20 and counts["bad"] + counts["dropped"] == 200, counts
    assert counts["processed"] == 0 and node.alive()
    assert client.spin_until(lambda: any(m.header.stamp.sec == 999 for m in rgb), 60,
                             every=lambda: pub.publish(labels_msg(good, 999))), node.output()
    assert "dropped a bad label image" in node.output()
    assert node.stop() == 0


def test_queue_stays_bounded_under_a_30hz_publisher_with_slow_inference(ros, checkpoint):
    _, client, start = ros
    # 480x640 output makes every synthesis far slower than the 33 ms between messages.
    # Reliable QoS: best-effort 900 kB images can lose fragments on the way to the client.
    node = start({"checkpoint": str(checkpoint), "device": "cpu", "output_height": 480,
                  "output_width": 640, "status_period_s": 0.2, "qos": "reliable"})
    status = client.status("synth/status")
    rgb = client.collect(Image, "synth/rgb", client.qos("reliable"))
    pub = client.publisher(Image, "labels", client.qos("reliable", 10))
    assert client.wait_for_node("synth_node", 60), node.output()
    assert client.spin_until(lambda: pub.get_subscription_count() > 0, 30)
    labels = label_map(48, 64)
    sent = 0
    t_end = client.node.get_clock().now().nanoseconds + 4 * 10**9
    while client.node.get_clock().now().nanoseconds < t_end:
        pub.publish(labels_msg(labels, 1000 + sent))
        sent += 1
        client.spin_for(1 / 30)
    last_sent = 1000 + sent - 1

    def settled() -> bool:
        c = latest(status)
        return (c.get("received", 0) >= sent - 5 and c.get("processed", 0) >= 2 and
                c["processed"] + c["dropped"] + c["bad"] == c["received"])

    # every received message was either synthesized or replaced in the slot by a newer one
    assert client.spin_until(settled, 60), latest(status)
    client.spin_for(0.5)  # the last image may still be on its way
    counts = latest(status)
    assert counts["infer_ms_mean"] > 1000 / 30, counts  # inference really is the bottleneck
    assert counts["queue_max"] <= 1 and counts["queue_len"] == 0
    assert counts["dropped"] > 0 and counts["processed"] < counts["received"] / 2
    # a frame waits at most for one inference in progress, then takes one itself (the
    # latency of a piling-up queue would grow with every frame instead)
    assert counts["latency_ms_max"] <= 2 * counts["infer_ms_max"] + 500, counts
    # the node answered recent frames, not a backlog of old ones
    newest = max(m.header.stamp.sec for m in rgb)
    assert newest >= last_sent - 10, (newest, last_sent, counts)
    assert node.stop() == 0
