"""mix, finetune, rooms_source, bag_source and bag_record nodes with real rclpy (node
subprocesses on loopback DDS, this test's own domain id)."""

from __future__ import annotations

import json
import re
import signal

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy (ROS 2) is not installed")

from ros_harness import ros_session  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402

from scmis_ros import image_codecs  # noqa: E402
from scmis_ros.conversions import (image_to_numpy, labels_from_image,  # noqa: E402
                                   numpy_to_image, stamp_ns)
from scmis_ros.fixtures import label_map, write_rooms_bag  # noqa: E402

pytestmark = pytest.mark.ros
MS = 1_000_000


@pytest.fixture
def ros(tmp_path):
    yield from ros_session(tmp_path)


def image(array, encoding, stamp_ns_, frame="cam"):
    msg = numpy_to_image(array, encoding)
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns_, 10**9)
    msg.header.frame_id = frame
    return msg


def test_mix_node_synchronises_by_stamp_and_class_mixes(ros):
    _, client, start = ros
    node = start("scmis_ros.mix_node", {"mode": "rgbd", "ratio": 1.0, "tolerance_s": 0.01,
                                        "diagnostics_period_s": 0.2})
    status = client.diagnostics("mix_node")
    # default-QoS endpoints (reliable keep-last 20), as a plain rclpy client makes them
    pubs = {name: client.publisher(Image, name, 20)
            for name in ("rgb", "depth", "labels", "synth/rgb", "synth/depth")}
    out = {name: client.collect(Image, f"mixed/{name}", 20)
           for name in ("rgb", "depth", "labels")}
    assert client.wait_for_node("mix_node", 60), node.output()
    assert client.spin_until(lambda: all(p.get_subscription_count() for p in pubs.values()),
                             30), node.output()
    rng = np.random.default_rng(0)
    labels = label_map(12, 16, seed=3)  # ids 1..40, no void: ratio 1 replaces everything
    real_rgb = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    real_depth = rng.uniform(1, 5, (12, 16)).astype(np.float32)
    synth_rgb = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    synth_depth = rng.uniform(1, 5, (12, 16)).astype(np.float32)

    def send(t_ns, offsets_ms):
        arrays = {"rgb": (real_rgb, "rgb8"), "depth": (real_depth, "32FC1"),
                  "labels": (labels, "mono8"), "synth/rgb": (synth_rgb, "rgb8"),
                  "synth/depth": (synth_depth, "32FC1")}
        for (name, (arr, enc)), off in zip(arrays.items(), offsets_ms):
            pubs[name].publish(image(arr, enc, t_ns + off * MS))

    t1 = 50 * 10**9
    send(t1, [3, -4, 0, 0, 2])  # within 10 ms of each other: one group
    assert client.spin_until(lambda: all(out.values()), 30), node.output()
    assert stamp_ns(out["rgb"][0].header) == t1 and out["rgb"][0].header.frame_id == "cam"
    np.testing.assert_array_equal(image_to_numpy(out["rgb"][0]), synth_rgb)
    np.testing.assert_array_equal(image_to_numpy(out["depth"][0]), synth_depth)
    np.testing.assert_array_equal(labels_from_image(out["labels"][0]), labels)
    # ratio 0 keeps the real frame; a group spread over 30 ms (> 10 ms) is never matched
    (result,) = client.set_parameters("mix_node", {"ratio": 0.0})
    assert result.successful
    (result,) = client.set_parameters("mix_node", {"ratio": 1.5})
    assert not result.successful
    send(t1 + 10**9, [0, 30, 0, 0, 0])
    send(t1 + 2 * 10**9, [0, 0, 0, 1, 1])
    assert client.spin_until(lambda: len(out["rgb"]) >= 2, 30), node.output()
    client.spin_for(0.5)
    assert [stamp_ns(m.header) for m in out["rgb"]] == [t1, t1 + 2 * 10**9]
    np.testing.assert_array_equal(image_to_numpy(out["rgb"][1]), real_rgb)
    np.testing.assert_array_equal(image_to_numpy(out["depth"][1]), real_depth)
    # camera size: 640x480 groups (0.9 MB rgb, 1.2 MB depth each way) arrive whole, every one
    big_labels = label_map(480, 640, seed=4)
    big = {"rgb": (np.full((480, 640, 3), 7, np.uint8), "rgb8"),
           "depth": (np.full((480, 640), 2.0, np.float32), "32FC1"),
           "labels": (big_labels, "mono8"),
           "synth/rgb": (np.full((480, 640, 3), 200, np.uint8), "rgb8"),
           "synth/depth": (np.full((480, 640), 4.0, np.float32), "32FC1")}
    (result,) = client.set_parameters("mix_node", {"ratio": 1.0})
    assert result.successful
    stamps = [t1 + k * 10**9 for k in range(10, 13)]
    for t in stamps:
        for name, (arr, enc) in big.items():
            pubs[name].publish(image(arr, enc, t))
        assert client.spin_until(lambda: all(any(stamp_ns(m.header) == t for m in got)
                                             for got in out.values()), 60), node.output()
    for name in ("rgb", "depth", "labels"):
        assert [stamp_ns(m.header) for m in out[name]][-3:] == stamps, name
    np.testing.assert_array_equal(image_to_numpy(out["rgb"][-1]), big["synth/rgb"][0])
    assert client.spin_until(lambda: status and status[-1]["processed"] >= 5, 10), status[-1:]
    # (WARN is possible: latency above 2 s on a loaded CPU)
    assert status[-1]["bad"] == 0 and status[-1]["level"] != "ERROR", status[-1]["message"]
    # images above max_input_pixels are counted and dropped before they are grouped
    (result,) = client.set_parameters("mix_node", {"max_input_pixels": 100})
    assert result.successful
    processed, published = status[-1]["processed"], len(out["rgb"])
    send(t1 + 20 * 10**9, [0, 0, 0, 0, 0])  # 12 x 16 = 192 pixels each
    assert client.spin_until(lambda: status[-1]["too_large"] >= 5, 10), status[-1:]
    client.spin_for(0.5)
    assert status[-1]["processed"] == processed and len(out["rgb"]) == published
    warned = re.compile(r"dropped an? \w+ image of 192 pixels: larger than max_input_pixels 100")
    assert client.spin_until(lambda: warned.search(node.output()), 10), node.output()[-2000:]
    assert node.stop() == 0


@pytest.mark.slow
def test_finetune_node_trains_predicts_checkpoints_and_resumes(ros, tmp_path):
    _, client, start = ros
    params_file = tmp_path / "finetune.yaml"
    params_file.write_text(
        "finetune_node:\n  ros__parameters:\n"
        f"    checkpoint_dir: {tmp_path / 'ft'}\n"
        "    arch: esanet-r18\n    arch_kwargs: '{base_width: 8, decoder_blocks: 1}'\n"
        "    height: 16\n    width: 16\n    batch_size: 2\n    min_buffer: 2\n"
        "    train_rate_hz: 0.0\n    checkpoint_every: 3\n    max_steps: 6\n"
        "    device: cpu\n")
    # a lifecycle node: driven through its services here (the restart below autostarts)
    node = start("scmis_ros.finetune_node", {"autostart": False}, params_file=params_file)
    diag = client.diagnostics("finetune_node")
    pubs = {name: client.publisher(Image, f"mixed/{name}", 20)
            for name in ("rgb", "depth", "labels")}
    preds = client.collect(Image, "segmentation/labels", 20)
    metrics = client.status("finetune/metrics")
    assert client.wait_for_node("finetune_node", 60), node.output()
    assert client.lifecycle_state("finetune_node") == "unconfigured"
    assert client.lifecycle("finetune_node", "configure"), node.output()
    assert client.spin_until(lambda: diag and diag[-1]["lifecycle_state"] == "inactive", 30)
    assert diag[-1]["model_loaded"] == "true" and diag[-1]["arch"] == "esanet-r18"
    assert client.lifecycle("finetune_node", "activate")
    assert client.spin_until(lambda: all(p.get_subscription_count() for p in pubs.values()),
                             30), node.output()
    labels = label_map(480, 640, num_classes=5, seed=1)  # camera size
    rgb = np.stack([labels * 40, 255 - labels * 40, labels * 10], -1).astype(np.uint8)
    depth = (labels.astype(np.float32) * 0.5)
    sent = [0]

    def send():
        t = (7 + sent[0]) * 10**9
        pubs["rgb"].publish(image(rgb, "rgb8", t))
        pubs["depth"].publish(image(depth, "32FC1", t))
        pubs["labels"].publish(image(labels, "mono8", t))
        sent[0] += 1

    assert client.spin_until(lambda: len(metrics) >= 6 and preds, 90, every=send), \
        node.output()
    steps = [m["step"] for m in metrics]
    assert steps[:6] == [1, 2, 3, 4, 5, 6]
    assert all(np.isfinite(m["loss"]) and 2 <= m["buffer"] for m in metrics)
    pred = preds[-1]
    assert (pred.height, pred.width, pred.encoding) == (480, 640, "mono8")
    assert stamp_ns(pred.header) >= 7 * 10**9 and pred.header.frame_id == "cam"
    assert 1 <= labels_from_image(pred).min() and labels_from_image(pred).max() <= 40
    ckpt = tmp_path / "ft" / "finetune.pt"
    assert ckpt.is_file()
    # deactivate stops training and writes the checkpoint; cleanup frees the model;
    # shutdown ends the process
    assert client.lifecycle("finetune_node", "deactivate")
    assert "saved" in node.output() and "at step 6" in node.output()
    assert client.lifecycle("finetune_node", "cleanup")
    assert client.spin_until(lambda: diag[-1]["model_loaded"] == "false", 30), diag[-1]
    assert client.lifecycle("finetune_node", "shutdown")
    assert node.wait(30) == 0, node.output()
    from scmis_core.checkpoint import load_checkpoint
    from scmis_core.segment import Segmenter

    assert load_checkpoint(ckpt, kind="segmenter")["step"] == 6
    seg = Segmenter.from_checkpoint(ckpt, device="cpu")
    assert seg.num_classes == 40 and type(seg.model).__name__ == "ESANet"
    # a restart resumes at step 6 and trains on to max_steps 8, now on compressed frames the
    # image_transport way (found by itself: transport auto): jpeg colour, compressedDepth, png
    metrics.clear()
    comp = {name: client.publisher(CompressedImage, f"mixed/{name}/{sub}", 20)
            for name, sub in (("rgb", "compressed"), ("depth", "compressedDepth"),
                              ("labels", "compressed"))}
    payloads = {"rgb": image_codecs.encode_image(rgb, "rgb8", "jpeg"),
                "depth": image_codecs.encode_depth_m(depth, "16UC1"),
                "labels": image_codecs.encode_image(labels, "mono8", "png")}

    def send_compressed():
        t = (7 + sent[0]) * 10**9
        for name, (fmt, data) in payloads.items():
            msg = CompressedImage(format=fmt, data=data)
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(t, 10**9)
            comp[name].publish(msg)
        sent[0] += 1

    for pub in pubs.values():
        client.node.destroy_publisher(pub)
    # arch and arch_kwargs empty: both come from the checkpoint resumed from
    again = start("scmis_ros.finetune_node", {"max_steps": 8, "arch": "", "arch_kwargs": ""},
                  name="again", params_file=params_file)
    assert client.spin_until(lambda: len(metrics) >= 2, 90, every=send_compressed), \
        again.output()
    assert "mixed/depth/compressedDepth (CompressedImage" in again.output()
    assert [m["step"] for m in metrics[:2]] == [7, 8]
    assert "resumed from" in again.output() and "at step 6" in again.output()
    # SIGTERM (docker stop, systemd) shuts down as cleanly as Ctrl-C: exit 0, not -15
    assert again.stop(signum=signal.SIGTERM) == 0, again.output()
    assert load_checkpoint(ckpt, kind="segmenter")["step"] == 8
    logged = [json.loads(line)["step"] for line in
              (tmp_path / "ft" / "metrics.jsonl").read_text().splitlines()]
    assert logged == list(range(1, 9))
    assert not list((tmp_path / "ft").glob(".*.tmp*"))  # atomic_write temporaries


def test_rooms_source_streams_frames_with_one_header(ros):
    _, client, start = ros
    node = start("scmis_ros.rooms_source", {"rate_hz": 10.0, "height": 24, "width": 32,
                                            "num_frames": 2, "frame_id": "rooms_cam"})
    reliable = client.qos("reliable", 10)
    out = {name: client.collect(Image, name, reliable) for name in ("rgb", "depth", "labels")}
    assert client.spin_until(lambda: all(len(v) >= 3 for v in out.values()), 60), \
        node.output()
    for i in range(3):
        headers = {(stamp_ns(out[k][i].header), out[k][i].header.frame_id) for k in out}
        assert len(headers) == 1 and headers.pop()[1] == "rooms_cam"
    assert [m.encoding for m in (out["rgb"][0], out["depth"][0], out["labels"][0])] == \
        ["rgb8", "32FC1", "mono8"]
    labels = labels_from_image(out["labels"][0])
    assert labels.shape == (24, 32) and 1 <= labels.max() <= 40
    # frames cycle through num_frames=2 rendered rooms: 0 1 0 1 ...
    first = [image_to_numpy(m) for m in out["rgb"][:3]]
    np.testing.assert_array_equal(first[0], first[2])
    assert not np.array_equal(first[0], first[1])
    assert node.stop() == 0


def test_bag_source_replays_bytes_in_order_then_exits(ros, tmp_path):
    _, client, start = ros
    bag = write_rooms_bag(tmp_path / "bag", "mcap", frames=3, height=8, width=8)
    from scmis_ros.bags import open_bag

    with open_bag(bag) as reader:
        recorded = [(c.topic, bytes(raw)) for c, _, raw in reader.messages()
                    if c.topic != "/chatter"]
    reliable = client.qos("reliable", 50)
    got = []
    for topic in ("/camera/rgb", "/camera/depth", "/camera/labels"):
        client.node.create_subscription(Image, topic, lambda raw, t=topic: got.append((t, raw)),
                                        reliable, raw=True)
    node = start("scmis_ros.bag_source", {"bag": str(bag), "rate": 5.0,
                                          "topics": ["/camera/rgb", "/camera/depth",
                                                     "/camera/labels"],
                                          "start_delay_s": 3.0})
    assert client.spin_until(lambda: len(got) == len(recorded), 60), node.output()
    assert got == recorded  # same bytes, same order (the bag's time order)
    assert node.wait(30) == 0  # no loop: the player exits when done
    assert "done: 9 messages" in node.output()


def test_bag_record_writes_what_rooms_source_publishes(ros, tmp_path):
    _, client, start = ros
    source = start("scmis_ros.rooms_source", {"rate_hz": 5.0, "height": 16, "width": 16,
                                              "num_frames": 2})
    out = tmp_path / "rec"
    recorder = start("scmis_ros.bag_record", {"output": str(out), "storage": "mcap",
                                              "topics": ["/rgb", "/labels"],
                                              "max_messages": 3,
                                              # rooms_source may take a while to come up
                                              "discovery_timeout_s": 60.0}, name="rec")
    assert recorder.wait(90) == 0, recorder.output()
    source.stop()
    from scmis_ros.bags import bag_summary

    info = bag_summary(out)
    assert info["storage"] == "mcap"
    assert info["topics"]["/rgb"]["count"] >= 3 and info["topics"]["/labels"]["count"] >= 3
    assert info["topics"]["/rgb"]["type"] == "sensor_msgs/msg/Image"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".rec")] == []


@pytest.mark.slow
def test_mix_node_refuses_a_decompression_bomb_from_its_header(ros):
    """A 629-byte JPEG declaring 24000 x 24000 on the colour input: dropped before decoding
    with a warning naming its size, counted bad, the node alive and mixing the next group."""
    import struct

    _, client, start = ros
    node = start("scmis_ros.mix_node", {"mode": "rgb", "ratio": 1.0, "tolerance_s": 0.01,
                                        "transport": "compressed",
                                        "diagnostics_period_s": 0.2})
    status = client.diagnostics("mix_node")
    names = ("rgb", "depth", "labels", "synth/rgb", "synth/depth")
    pubs = {n: client.publisher(CompressedImage, f"{n}/compressedDepth" if "depth" in n
                                else f"{n}/compressed", 20) for n in names}
    out = client.collect(Image, "mixed/rgb", 20)
    assert client.wait_for_node("mix_node", 60), node.output()
    rgb = np.full((12, 16, 3), 90, np.uint8)
    depth = np.full((12, 16), 2.0, np.float32)
    labels = label_map(12, 16, seed=3)

    def payload(name, bomb):
        if "depth" in name:
            return image_codecs.encode_compressed_depth(depth, "32FC1")
        if name == "labels":
            return image_codecs.encode_image(labels, "mono8", "png")
        fmt, data = image_codecs.encode_image(rgb, "rgb8", "jpeg")
        if bomb and name == "rgb":
            data = bytearray(data)
            i = 2
            while data[i + 1] not in (0xC0, 0xC1, 0xC2):
                i += 2 + struct.unpack(">H", data[i + 2:i + 4])[0]
            data[i + 5:i + 9] = struct.pack(">HH", 24000, 24000)
            data = bytes(data)
        return fmt, data

    def send(t_ns, bomb=False):
        for name in names:
            msg = image_codecs.make_compressed(*payload(name, bomb),
                                               image(labels, "mono8", t_ns).header,
                                               CompressedImage)
            pubs[name].publish(msg)

    assert client.spin_until(lambda: status and status[-1]["bad"] >= 1, 30,
                             every=lambda: send(10 * 10**9, bomb=True)), node.output()
    assert "24000x24000" in node.output() and node.alive()
    assert client.spin_until(lambda: out, 30, every=lambda: send(20 * 10**9)), node.output()
    assert node.stop() == 0
