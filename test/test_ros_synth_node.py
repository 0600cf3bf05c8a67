"""The synth node with real rclpy: a node subprocess on loopback DDS with this test's own
domain id, driven by a client node in the test process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ros_harness import ros_env, ros_session, rss_mb
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from scmis_ros import image_codecs
from scmis_ros.camera_info import CameraModel, fill_camera_info
from scmis_ros.conversions import depth_m_to_mm, image_to_numpy, numpy_to_image, stamp_ns
from scmis_ros.pointcloud import cloud_to_points, unpack_rgb
from scmis_ros.fixtures import label_map, write_generator_checkpoint

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
                  "diagnostics_period_s": 0.2})
    status = client.diagnostics("synth_node")
    pub = client.publisher(Image, "labels")
    assert client.wait_for_node("synth_node", 60), node.output()
    labels = label_map(24, 40)
    # Nobody subscribes to the outputs yet: label images are counted but not synthesized.
    assert client.spin_until(lambda: latest(status).get("skipped_no_subscribers", 0) >= 2,
                             30, every=lambda: pub.publish(labels_msg(labels, 1))), \
        node.output()
    assert latest(status)["processed"] == 0 and latest(status)["level"] == "OK"
    assert latest(status)["lifecycle_state"] == "active"
    rgb = client.collect(Image, "synth/rgb")
    depth = client.collect(Image, "synth/depth")
    depth_mm = client.collect(Image, "synth/depth_mm")
    info = client.collect(CameraInfo, "synth/camera_info")
    ok = client.spin_until(lambda: rgb and depth and depth_mm and info, 60,
                           every=lambda: pub.publish(labels_msg(labels, 7)))
    assert ok, node.output()
    for msg, encoding in ((rgb[0], "rgb8"), (depth[0], "32FC1"), (depth_mm[0], "16UC1")):
        assert msg.encoding == encoding
        assert (msg.height, msg.width) == (24, 40)
        assert msg.header.frame_id == "cam" and stamp_ns(msg.header) == 7 * 10**9 + 1234
    depth_m = image_to_numpy(depth[0])
    assert depth_m.dtype == np.float32 and np.isfinite(depth_m).all() and depth_m.min() >= 0
    np.testing.assert_allclose(image_to_numpy(depth_mm[0]) / 1000.0, depth_m, atol=6e-4)
    # no input camera_info: the NYU Kinect intrinsics (fx 518.86 at 640 wide) scaled to 40
    cam = info[0]
    assert (cam.height, cam.width, stamp_ns(cam.header)) == (24, 40, 7 * 10**9 + 1234)
    assert cam.k[0] == pytest.approx(518.8579 * 40 / 640, rel=1e-3)

    # Validation: descriptor ranges, choices, read-only and file checks all refuse with a reason.
    bad = {"variants": 0, "seed": -5, "max_rate_hz": -1.0, "output_height": 5000,
           "class_remap": str(tmp_path / "missing.yaml"), "qos": "best_effort",
           "checkpoint": str(checkpoint)}
    for key, value in bad.items():
        (result,) = client.set_parameters("synth_node", {key: value})
        assert not result.successful, key
        assert result.reason, key
    (result,) = client.set_parameters("synth_node", {"class_remap": str(tmp_path / "x.yaml")})
    assert "file not found" in result.reason
    (result,) = client.set_parameters("synth_node", {"checkpoint": str(checkpoint)})
    assert "change it while unconfigured" in result.reason  # the model is loaded
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
    missing = start({"checkpoint": str(tmp_path / "no_such.pt")}, name="missing")
    assert bad_qos.wait(60) == 2
    assert "qos: expected one of sensor_data" in bad_qos.output()
    assert missing.wait(60) == 2
    text = missing.output()
    assert "file not found" in text and str(tmp_path / "no_such.pt") in text


def test_lifecycle_transitions_through_the_services(ros, checkpoint, tmp_path):
    """configure loads, activate publishes, deactivate stops, cleanup frees, a failed
    configure stays unconfigured with an ERROR diagnostic, shutdown ends the process."""
    domain, client, start = ros
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    node = start({"checkpoint": str(junk), "device": "cpu", "autostart": False,
                  "diagnostics_period_s": 0.2})
    status = client.diagnostics("synth_node")
    rgb = client.collect(Image, "synth/rgb", 10)
    pub = client.publisher(Image, "labels", 10)
    labels = label_map(16, 16)
    sec = [100]

    def send():
        sec[0] += 1
        pub.publish(labels_msg(labels, sec[0]))

    assert client.wait_for_node("synth_node", 60), node.output()
    assert client.lifecycle_state("synth_node") == "unconfigured"
    assert client.spin_until(lambda: latest(status).get("lifecycle_state") == "unconfigured",
                             20)
    assert latest(status)["level"] == "WARN" and latest(status)["model_loaded"] == "false"
    # a corrupt checkpoint: configure fails, the node stays unconfigured and says why
    assert not client.lifecycle("synth_node", "configure")
    assert client.lifecycle_state("synth_node") == "unconfigured"
    assert client.spin_until(lambda: latest(status).get("level") == "ERROR", 20)
    assert "configure failed" in latest(status)["message"]
    # while unconfigured the checkpoint may change; then configure loads it
    (result,) = client.set_parameters("synth_node", {"checkpoint": str(checkpoint)})
    assert result.successful, result.reason
    assert client.lifecycle("synth_node", "configure")
    assert client.lifecycle_state("synth_node") == "inactive"
    assert client.spin_until(lambda: latest(status).get("model_loaded") == "true", 20)
    # inactive: nothing is subscribed, nothing published
    client.spin_for(1.0)
    assert pub.get_subscription_count() == 0 and not rgb
    assert client.lifecycle("synth_node", "activate")
    assert client.spin_until(lambda: rgb, 60, every=send), node.output()
    assert client.lifecycle("synth_node", "deactivate")
    assert client.lifecycle_state("synth_node") == "inactive"
    client.spin_for(1.0)  # answers already on their way
    count = len(rgb)
    for _ in range(5):
        send()
        client.spin_for(0.2)
    assert len(rgb) == count and pub.get_subscription_count() == 0
    assert client.lifecycle("synth_node", "cleanup")
    assert client.lifecycle_state("synth_node") == "unconfigured"
    assert client.spin_until(lambda: latest(status).get("model_loaded") == "false" and
                             latest(status)["level"] == "WARN", 20)
    # configure + activate again, this time with the ros2 CLI as the docs give it (the
    # vendored ros2lifecycle; --no-daemon: this test's own domain): a fresh model answers
    ros2 = Path(sys.executable).parent / "ros2"
    if ros2.is_file():
        cli = [str(ros2), "lifecycle"]
        env = ros_env(domain)
        for verb in (["set", "--no-daemon", "--spin-time", "3", "/synth_node", "configure"],
                     ["set", "--no-daemon", "--spin-time", "3", "/synth_node", "activate"]):
            done = subprocess.run(cli + verb, env=env, capture_output=True, text=True,
                                  timeout=120)
            assert "Transitioning successful" in done.stdout, done.stdout + done.stderr
        done = subprocess.run(cli + ["get", "--no-daemon", "--spin-time", "3", "/synth_node"],
                              env=env, capture_output=True, text=True, timeout=120)
        assert done.stdout.strip() == "active [3]", done.stdout + done.stderr
    else:
        assert client.lifecycle("synth_node", "configure")
        assert client.lifecycle("synth_node", "activate")
    assert client.spin_until(lambda: len(rgb) > count, 60, every=send), node.output()
    assert client.lifecycle("synth_node", "shutdown")
    assert node.wait(30) == 0, node.output()
    assert "shut down (lifecycle finalized)" in node.output()


def test_200_malformed_messages_do_not_kill_the_node(ros, checkpoint):
    _, client, start = ros
    node = start({"checkpoint": str(checkpoint), "device": "cpu", "diagnostics_period_s": 0.2,
                  "qos_depth": 50})
    status = client.diagnostics("synth_node")
    rgb = client.collect(Image, "synth/rgb", 10)
    # a default (reliable) publisher: every one of the 200 messages reaches the node
    pub = client.publisher(Image, "labels", 50)
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
    # while they came in, /diagnostics said so (ERROR: more than half of a period's inputs)
    assert any(s["level"] == "ERROR" and "of the inputs bad" in s["message"] for s in status)
    assert client.spin_until(lambda: any(m.header.stamp.sec == 999 for m in rgb), 60,
                             every=lambda: pub.publish(labels_msg(good, 999))), node.output()
    assert "dropped a bad label image" in node.output()
    assert node.stop() == 0


@pytest.mark.slow
def test_oversize_inputs_are_dropped_and_large_ones_give_memory_back(ros, checkpoint):
    _, client, start = ros
    node = start({"checkpoint": str(checkpoint), "device": "cpu", "diagnostics_period_s": 0.2,
                  "max_input_pixels": 1024 * 1024})
    status = client.diagnostics("synth_node")
    rgb = client.collect(Image, "synth/rgb", 10)
    pub = client.publisher(Image, "labels", 10)
    assert client.wait_for_node("synth_node", 60), node.output()
    small = label_map(32, 32)
    assert client.spin_until(lambda: any(m.header.stamp.sec == 1 for m in rgb), 60,
                             every=lambda: pub.publish(labels_msg(small, 1))), node.output()
    client.spin_for(1.0)
    base = rss_mb(node.proc.pid)
    # 2048 x 2048 (4.2 MP) > 1 MP: dropped at once with a warning, never synthesized
    pub.publish(labels_msg(label_map(2048, 2048), 2))
    assert client.spin_until(lambda: latest(status).get("too_large", 0) == 1, 30), \
        latest(status)
    assert "larger than max_input_pixels 1048576" in node.output()
    assert latest(status)["processed"] == 1
    # 768 x 768 is allowed: synthesized, and its buffers are given back afterwards (RSS ends
    # within 50 MB of where it started)
    pub.publish(labels_msg(label_map(768, 768), 3))
    assert client.spin_until(lambda: any(m.header.stamp.sec == 3 for m in rgb), 120), \
        node.output()
    assert client.spin_until(lambda: latest(status).get("in_progress") == 0, 10)
    client.spin_for(1.0)
    after = rss_mb(node.proc.pid)
    assert after - base < 50, (base, after)
    assert node.alive() and node.stop() == 0


@pytest.mark.slow
def test_every_640x480_pair_reaches_a_default_qos_subscriber(ros, checkpoint):
    """Camera-size images: a plain create_subscription(..., 10) receives every answer."""
    _, client, start = ros
    node = start({"checkpoint": str(checkpoint), "device": "cpu"})
    answers = {name: client.collect(kind, f"synth/{name}", 10)
               for name, kind in (("rgb", Image), ("depth", Image),
                                  ("camera_info", CameraInfo))}
    pub = client.publisher(Image, "labels", 10)
    assert client.wait_for_node("synth_node", 60), node.output()
    assert client.spin_until(lambda: pub.get_subscription_count() > 0 and
                             client.node.count_publishers("synth/rgb") > 0, 30)
    client.spin_for(0.5)
    labels = label_map(480, 640)
    sent = list(range(200, 204))
    for sec in sent:  # one at a time, as a camera slower than the model would
        pub.publish(labels_msg(labels, sec))
        assert client.spin_until(lambda: all(any(m.header.stamp.sec == sec for m in got)
                                             for got in answers.values()), 60), \
            ({k: len(v) for k, v in answers.items()}, node.output())
    for name, got in answers.items():
        assert sorted(m.header.stamp.sec for m in got) == sent, name
    assert (answers["rgb"][0].height, answers["rgb"][0].width) == (480, 640)
    assert len(answers["depth"][0].data) == 480 * 640 * 4
    assert node.stop() == 0


def test_compressed_outputs_camera_info_from_the_input_and_points(ros, checkpoint):
    """publish_compressed / publish_points: synth/rgb/compressed (jpeg), compressedDepth,
    synth/camera_info copied from the input camera_info of the same stamp (scaled to the
    output size), and synth/points on the pinhole model of that camera."""
    _, client, start = ros
    node = start({"checkpoint": str(checkpoint), "device": "cpu", "publish_compressed": True,
                  "publish_points": True, "output_height": 48, "output_width": 64})
    got = {name: client.collect(kind, f"synth/{name}", 10) for name, kind in (
        ("rgb", Image), ("depth", Image), ("rgb/compressed", CompressedImage),
        ("depth/compressedDepth", CompressedImage), ("camera_info", CameraInfo),
        ("points", PointCloud2))}
    pub = client.publisher(Image, "labels", 10)
    pub_info = client.publisher(CameraInfo, "camera_info", 10)
    assert client.wait_for_node("synth_node", 60), node.output()
    # the real camera: 480x640 with its own intrinsics, stamped like the label image
    camera = CameraModel.from_intrinsics(480, 640, 600.0, 610.0, 300.0, 250.0, "cam")

    def send():
        pub_info.publish(fill_camera_info(CameraInfo(), camera, labels_msg(
            label_map(8, 8), 5).header))
        pub.publish(labels_msg(label_map(24, 32), 5))

    assert client.spin_until(lambda: all(got.values()), 60, every=send), \
        ({k: len(v) for k, v in got.items()}, node.output())
    rgb, depth = image_to_numpy(got["rgb"][0]), image_to_numpy(got["depth"][0])
    jpeg = got["rgb/compressed"][0]
    assert jpeg.format == "rgb8; jpeg compressed bgr8"
    decoded, _ = image_codecs.decode_image(jpeg.format, jpeg.data)
    assert np.abs(decoded.astype(int) - rgb).mean() < 8  # jpeg at quality 95
    comp = got["depth/compressedDepth"][0]
    assert comp.format == "16UC1; compressedDepth png"
    np.testing.assert_array_equal(image_codecs.decode_compressed_depth(comp.format, comp.data),
                                  np.where(depth <= 10, depth_m_to_mm(depth), 0))
    info = got["camera_info"][0]
    assert (info.height, info.width, stamp_ns(info.header)) == (48, 64, stamp_ns(
        got["rgb"][0].header))
    expect = camera.scaled(48, 64)
    np.testing.assert_allclose(info.k, expect.k)
    assert info.k[0] == pytest.approx(600.0 / 10)  # 640 -> 64 wide
    # points: organized 48 x 64, NaN where there is no depth, else on the rays of that
    # camera and coloured by the rgb
    cloud = got["points"][0]
    assert (cloud.height, cloud.width) == (48, 64)
    points = cloud_to_points(cloud)
    valid = np.isfinite(depth) & (depth > 0)
    assert points.size == 48 * 64
    assert np.isnan(points["z"][~valid.reshape(-1)]).all()
    assert cloud.is_dense == bool(valid.all())
    points = points[valid.reshape(-1)]
    u = points["x"] / points["z"] * expect.fx + expect.cx
    v = points["y"] / points["z"] * expect.fy + expect.cy
    ui, vi = np.round(u).astype(int), np.round(v).astype(int)
    np.testing.assert_allclose(u, ui, atol=1e-3)
    np.testing.assert_allclose(v, vi, atol=1e-3)
    np.testing.assert_allclose(points["z"], depth[vi, ui], rtol=1e-6)
    np.testing.assert_array_equal(unpack_rgb(points["rgb"]), rgb[vi, ui])
    assert node.stop() == 0


@pytest.mark.slow
def test_queue_stays_bounded_under_a_30hz_publisher_with_slow_inference(ros, checkpoint):
    _, client, start = ros
    # 480x640 output makes every synthesis far slower than the 33 ms between messages.
    node = start({"checkpoint": str(checkpoint), "device": "cpu", "output_height": 480,
                  "output_width": 640, "diagnostics_period_s": 0.2})
    status = client.diagnostics("synth_node")
    rgb = client.collect(Image, "synth/rgb", 10)
    pub = client.publisher(Image, "labels", 10)
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
                c.get("in_progress") == 0 and
                c["processed"] + c["dropped"] + c["bad"] == c["received"])

    # every received message was either synthesized or replaced in the slot by a newer one
    assert client.spin_until(settled, 60), latest(status)
    client.spin_for(0.5)  # the last image may still be on its way
    counts = latest(status)
    assert counts["infer_ms_mean"] > 1000 / 30, counts  # inference really is the bottleneck
    assert counts["dropped"] > 0 and counts["processed"] < counts["received"] / 2
    # the node never works through a backlog: each answer is a newer frame than the last
    # (frames in between were replaced in the slot), and every processed frame was answered
    answered = [m.header.stamp.sec for m in rgb]
    assert answered == sorted(set(answered)) and len(answered) == counts["processed"]
    assert any(b - a > 1 for a, b in zip(answered, answered[1:])), answered
    # a frame waits at most for one inference in progress, then takes one itself (the
    # latency of a piling-up queue would grow with every frame instead)
    assert counts["latency_ms_max"] <= 2 * counts["infer_ms_max"] + 500, counts
    # the node answered recent frames, not a backlog of old ones
    assert max(answered) >= last_sent - 10, (max(answered), last_sent, counts)
    assert node.stop() == 0


@pytest.mark.slow
def test_a_bomb_and_an_absurd_camera_info_are_dropped_and_good_ones_follow(ros, checkpoint):
    """Reliability round 3 at the node: a compressed label PNG declaring 24000 x 24000 is
    refused from its header (the node lives on, nothing decoded); a CameraInfo with
    fx = 5e-324 is dropped with a warning naming camera_info (not a label image), and the
    next good CameraInfo gives synth/camera_info and finite synth/points again."""
    import struct

    _, client, start = ros
    node = start({"checkpoint": str(checkpoint), "device": "cpu", "transport": "compressed",
                  "publish_points": True, "output_height": 48, "output_width": 64,
                  "diagnostics_period_s": 0.2})
    status = client.diagnostics("synth_node")
    infos = client.collect(CameraInfo, "synth/camera_info", 10)
    clouds = client.collect(PointCloud2, "synth/points", 10)
    pub = client.publisher(CompressedImage, "labels/compressed", 10)
    pub_info = client.publisher(CameraInfo, "camera_info", 10)
    assert client.wait_for_node("synth_node", 60), node.output()

    def compressed(labels: np.ndarray, sec: int, declare: tuple[int, int] | None = None):
        fmt, data = image_codecs.encode_image(labels, "mono8", "png")
        if declare is not None:  # the IHDR says another size
            data = data[:16] + struct.pack(">II", declare[1], declare[0]) + data[24:]
        return image_codecs.make_compressed(fmt, data, labels_msg(labels, sec).header,
                                            CompressedImage)

    bomb = compressed(label_map(8, 8), 3, declare=(24000, 24000))
    assert client.spin_until(lambda: latest(status).get("bad", 0) >= 1, 30,
                             every=lambda: pub.publish(bomb)), (latest(status), node.output())
    assert node.alive() and "24000x24000" in node.output()
    absurd = CameraInfo()
    absurd.header = labels_msg(label_map(2, 2), 5).header
    absurd.height, absurd.width, absurd.distortion_model = 480, 640, "plumb_bob"
    absurd.k = [5e-324, 0.0, 320.0, 0.0, 5e-324, 240.0, 0.0, 0.0, 1.0]
    absurd.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    absurd.p = [5e-324, 0.0, 320.0, 0.0, 0.0, 5e-324, 240.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    pub_info.publish(absurd)
    assert client.spin_until(lambda: "dropped a bad camera_info" in node.output(), 30), \
        node.output()
    camera = CameraModel.from_intrinsics(480, 640, 600.0, 610.0, 300.0, 250.0, "cam")

    def send_good():
        pub_info.publish(fill_camera_info(CameraInfo(), camera, labels_msg(
            label_map(2, 2), 6).header))
        pub.publish(compressed(label_map(24, 32), 6))

    assert client.spin_until(lambda: infos and clouds, 60, every=send_good), node.output()
    assert infos[-1].k[0] == pytest.approx(600.0 / 10)
    points = cloud_to_points(clouds[-1])
    finite = np.isfinite(points["x"]) & np.isfinite(points["y"]) & np.isfinite(points["z"])
    assert finite.any() and clouds[-1].is_dense == bool(finite.all())
    assert "bad label image" not in node.output().split("dropped a bad camera_info")[-1]
    assert node.stop() == 0
