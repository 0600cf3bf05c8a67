"""bag_augment on a robot's recording (issue 11 items 2, 3, 7): a realsense-style mcap bag with
only compressed colour, compressedDepth and camera_info, no labels, and ``--labels-from``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rosbags", reason="the rosbags library is not installed")

from bag_fixtures import read_all  # noqa: E402
from scmis_core.finetune import OnlineFinetuner  # noqa: E402
from scmis_core.segment import Segmenter  # noqa: E402
from scmis_ros import image_codecs  # noqa: E402
from scmis_ros.bag_augment import main  # noqa: E402
from scmis_ros.bag_io import COMPRESSED_TYPE, IMAGE_TYPE, Topics, find_topics  # noqa: E402
from scmis_ros.bags import open_bag, typestore  # noqa: E402
from scmis_ros.camera_info import CameraModel, make_camera_info  # noqa: E402
from scmis_ros.conversions import depth_m_to_mm, stamp_ns  # noqa: E402
from scmis_ros.fixtures import write_generator_checkpoint  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

COLOR = "/camera/camera/color/image_raw/compressed"
DEPTH = "/camera/camera/aligned_depth_to_color/image_raw/compressedDepth"
INFO = "/camera/camera/color/camera_info"
DEPTH_INFO = "/camera/camera/aligned_depth_to_color/camera_info"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
H, W, FRAMES = 48, 64, 5
T0 = 1_700_000_000_000_000_000


def frame(i: int) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:H, 0:W] / np.array([H, W])[:, None, None]
    rgb = np.stack([127 + 120 * np.sin(6 * x + i), 127 + 120 * np.cos(5 * y - i),
                    127 + 100 * np.sin(4 * (x + y))], -1).astype(np.uint8)
    depth = (1.0 + 3.0 * y + 0.5 * np.sin(3 * x + i)).astype(np.float32)
    depth[: H // 8, : W // 8] = 0.0  # no measurement in a corner
    return rgb, depth


def write_realsense_bag(path: Path) -> Path:
    """compressed jpeg colour, 16UC1 compressedDepth (stamps 2 ms later, as aligned depth
    arrives) and both camera_info topics, written as realsense2_camera publishes them."""
    from rosbags.rosbag2 import Writer

    from scmis_ros.bags import STORAGES

    store = typestore()
    header_cls = store.types["std_msgs/msg/Header"]
    time_cls = store.types["builtin_interfaces/msg/Time"]
    camera = CameraModel.from_intrinsics(H, W, 61.5, 62.0, 31.2, 24.4,
                                         frame_id="camera_color_optical_frame")
    writer = Writer(path, version=Writer.VERSION_LATEST, storage_plugin=STORAGES["mcap"])
    writer.open()
    conns = {t: writer.add_connection(t, ty, typestore=store) for t, ty in (
        (COLOR, COMPRESSED_TYPE), (DEPTH, COMPRESSED_TYPE), (INFO, CAMERA_INFO),
        (DEPTH_INFO, CAMERA_INFO))}
    for i in range(FRAMES):
        rgb, depth = frame(i)
        for topic, offset in ((INFO, 0), (COLOR, 0), (DEPTH_INFO, 2), (DEPTH, 2)):
            t = T0 + i * 33_000_000 + offset * 1_000_000
            sec, nsec = divmod(t, 10**9)
            frame_id = "camera_color_optical_frame" if "color" in topic else \
                "camera_depth_optical_frame"
            header = header_cls(stamp=time_cls(sec=sec, nanosec=nsec), frame_id=frame_id)
            if topic == COLOR:
                fmt, data = image_codecs.encode_image(rgb, "rgb8", "jpeg", quality=90)
            elif topic == DEPTH:
                fmt, data = image_codecs.encode_compressed_depth(depth_m_to_mm(depth), "16UC1")
            else:
                msg = make_camera_info(camera, header, store.types[CAMERA_INFO],
                                       store.types["sensor_msgs/msg/RegionOfInterest"])
                writer.write(conns[topic], t + 500, store.serialize_cdr(msg, CAMERA_INFO))
                continue
            msg = image_codecs.make_compressed(fmt, data, header, store.types[COMPRESSED_TYPE])
            writer.write(conns[topic], t + 1000, store.serialize_cdr(msg, COMPRESSED_TYPE))
    writer.close()
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    tuner = OnlineFinetuner(40, height=24, width=32, device="cpu", lr=1e-2, seed=0,
                            arch="unet-rgbd", arch_kwargs={"widths": (4, 8)})
    for i in range(2):
        rgb, depth = frame(i)
        tuner.add(rgb[::2, ::2], depth[::2, ::2], 1 + (rgb[::2, ::2, 0] // 32).astype(np.int64))
    tuner.train_step(batch_size=2)
    return write_generator_checkpoint(folder / "gen.pt"), tuner.save(folder / "seg.pt")


def test_unlabelled_realsense_bag_with_labels_from(tmp_path, models, capsys):
    """Issue 11 must-show: inputs byte-identical, plus labels, synth, mixed and camera_info
    topics in the input's transport with the colour stamps; a ros2-bag-info summary."""
    generator, segmenter = models
    src = write_realsense_bag(tmp_path / "robot")
    out = tmp_path / "robot_augmented"
    assert main([str(src), str(out), "--checkpoint", str(generator), "--labels-from",
                 str(segmenter), "--device", "cpu", "--no-progress", "--mode", "rgbd",
                 "--ratio", "0.7"]) == 0
    printed = capsys.readouterr().out
    original, augmented = read_all(src), read_all(out)
    for topic, messages in original.items():
        assert augmented[topic] == messages, topic  # same bytes, same bag timestamps
    ns = "/camera/camera"
    new = {"labels": f"{ns}/labels/compressed", "synth_rgb": f"{ns}/synth/rgb/compressed",
           "synth_depth": f"{ns}/synth/depth/compressedDepth",
           "synth_info": f"{ns}/synth/camera_info",
           "mixed_rgb": f"{ns}/mixed/rgb/compressed",
           "mixed_depth": f"{ns}/mixed/depth/compressedDepth",
           "mixed_labels": f"{ns}/mixed/labels/compressed",
           "mixed_info": f"{ns}/mixed/camera_info"}
    assert set(augmented) == set(original) | set(new.values())
    with open_bag(out) as reader:
        types = {c.topic: c.msgtype for c in reader.connections}
    assert all(types[t] == (CAMERA_INFO if t.endswith("camera_info") else COMPRESSED_TYPE)
               for t in new.values())
    store = typestore()

    def decoded(topic):
        msgtype = CAMERA_INFO if topic.endswith("camera_info") else COMPRESSED_TYPE
        return [store.deserialize_cdr(raw, msgtype) for _, raw in augmented[topic]]

    colour = decoded(COLOR)
    stamps = [stamp_ns(m.header) for m in colour]
    for key, topic in new.items():
        msgs = decoded(topic)
        assert [stamp_ns(m.header) for m in msgs] == stamps, key  # one per colour frame
        assert all(m.header.frame_id == "camera_color_optical_frame" for m in msgs), key
    # labels: the segmenter's prediction on the decoded colour + depth, lossless png
    seg = Segmenter.from_checkpoint(segmenter, device="cpu")
    depth_msgs = decoded(DEPTH)
    for lab, rgb_msg, depth_msg in zip(decoded(new["labels"]), colour, depth_msgs):
        assert lab.format == "mono8; png compressed "
        labels, _ = image_codecs.decode_image(lab.format, lab.data)
        rgb, _ = image_codecs.decode_image(rgb_msg.format, rgb_msg.data)
        depth = image_codecs.depth_m_from_compressed(depth_msg.format, depth_msg.data)
        np.testing.assert_array_equal(labels, seg.predict_frame(rgb, depth))
        assert labels.shape == (H, W) and labels.min() >= 1 and labels.max() <= 40
    assert augmented[new["mixed_labels"]] == augmented[new["labels"]]
    # the input's transport: jpeg colour, 16UC1 compressedDepth
    for topic in (new["synth_rgb"], new["mixed_rgb"]):
        assert {m.format for m in decoded(topic)} == {"rgb8; jpeg compressed bgr8"}
        assert image_codecs.decode_image(decoded(topic)[0].format,
                                         decoded(topic)[0].data)[0].shape == (H, W, 3)
    for topic in (new["synth_depth"], new["mixed_depth"]):
        assert {m.format for m in decoded(topic)} == {"16UC1; compressedDepth png"}
        assert image_codecs.decode_compressed_depth(decoded(topic)[0].format,
                                                    decoded(topic)[0].data).shape == (H, W)
    # camera_info copied from the colour stream's (same size: identical intrinsics)
    source = decoded(INFO)[0]
    for topic in (new["synth_info"], new["mixed_info"]):
        for info in decoded(topic):
            assert (info.height, info.width) == (H, W)
            for field in ("k", "d", "r", "p"):
                np.testing.assert_allclose(getattr(info, field), getattr(source, field))
    # ros2 bag info style, then what was added
    assert printed.startswith("Files:             robot_augmented.mcap")
    assert "Storage id:        mcap" in printed
    assert f"Messages:          {4 * FRAMES + 8 * FRAMES}" in printed
    for topic in list(new.values()) + [COLOR, DEPTH, INFO]:
        assert f"Topic: {topic} | Type: " in printed and f"Count: {FRAMES} |" in printed
    assert f"{FRAMES} label maps predicted, {FRAMES} synthesized, {FRAMES} mixed" in printed
    assert f"camera_info from: {INFO}" in printed


def test_topic_detection_raw_and_compressed():
    topics = {COLOR: COMPRESSED_TYPE, DEPTH: COMPRESSED_TYPE, INFO: CAMERA_INFO,
              DEPTH_INFO: CAMERA_INFO, "/camera/camera/color/image_raw": IMAGE_TYPE}
    found = find_topics(topics, need_labels=False)
    # the raw copy of the colour stream wins over its compressed sub-topic
    assert found == Topics(None, "/camera/camera/color/image_raw", DEPTH, INFO)
    assert find_topics(topics, rgb_topic="/camera/camera/color/image_raw/compressed",
                       need_labels=False).rgb == COLOR
    labelled = {"/cam/labels/compressed": COMPRESSED_TYPE, "/cam/rgb": IMAGE_TYPE}
    assert find_topics(labelled) == Topics("/cam/labels/compressed", "/cam/rgb", None, None)
    assert find_topics({"/d/image_raw": IMAGE_TYPE, "/x/labels": IMAGE_TYPE},
                       depth_topic="/d/image_raw").depth == "/d/image_raw"
    with pytest.raises(Exception, match="predict labels with --labels-from"):
        find_topics({COLOR: COMPRESSED_TYPE})


def test_compressed_labelled_bag_keeps_every_transport(tmp_path, models):
    """A labelled bag where everything is compressed (png labels, jpeg colour, 32FC1
    compressedDepth): mixed/labels copies the png payloads, depth stays 32FC1."""
    from rosbags.rosbag2 import Writer

    from scmis_core.synthesize import Synthesizer
    from scmis_ros.bag_augment import augment_bag

    store = typestore()
    path = tmp_path / "labelled"
    writer = Writer(path, version=Writer.VERSION_LATEST)
    writer.open()
    topics = {"/cam/labels/compressed": "labels", "/cam/color/image_raw/compressed": "rgb",
              "/cam/depth/image_raw/compressedDepth": "depth"}
    conns = {t: writer.add_connection(t, COMPRESSED_TYPE, typestore=store) for t in topics}
    for i in range(3):
        rgb, depth = frame(i)
        header = store.types["std_msgs/msg/Header"](
            stamp=store.types["builtin_interfaces/msg/Time"](sec=5, nanosec=i * 1000),
            frame_id="cam")
        payloads = {"labels": image_codecs.encode_image(1 + rgb[..., 1] // 64, "mono8", "png"),
                    "rgb": image_codecs.encode_image(rgb, "rgb8", "jpeg"),
                    "depth": image_codecs.encode_compressed_depth(depth, "32FC1")}
        for topic, role in topics.items():
            msg = image_codecs.make_compressed(*payloads[role], header,
                                               store.types[COMPRESSED_TYPE])
            writer.write(conns[topic], 5_000_000_000 + i * 1000,
                         store.serialize_cdr(msg, COMPRESSED_TYPE))
    writer.close()
    synth = Synthesizer.from_checkpoint(models[0], device="cpu")
    result = augment_bag(path, tmp_path / "out", synth, mode="rgbd", progress=False)
    assert result["transports"] == {"labels": "compressed png", "rgb": "compressed jpeg",
                                    "depth": "compressedDepth 32FC1"}
    out = read_all(tmp_path / "out")
    assert out["/cam/mixed/labels/compressed"] == [
        (t, raw) for (t, _), (_, raw) in zip(out["/cam/mixed/labels/compressed"],
                                             out["/cam/labels/compressed"])]
    depth_msgs = [store.deserialize_cdr(raw, COMPRESSED_TYPE)
                  for _, raw in out["/cam/synth/depth/compressedDepth"]]
    assert [m.format for m in depth_msgs] == ["32FC1; compressedDepth png"] * 3
    assert len(out["/cam/synth/rgb/compressed"]) == 3 and result["mixed"] == 3
    assert result["camera_info_from"] == ["NYU Kinect intrinsics scaled to the output size"]


def test_raw_bag_with_predicted_labels(tmp_path, models):
    """Raw Images in, raw out: predicted labels as mono8 Images beside the recorded ones."""
    from scmis_core.synthesize import Synthesizer
    from scmis_ros.bag_augment import augment_bag
    from scmis_ros.bags import BagError
    from scmis_ros.fixtures import write_rooms_bag

    src = write_rooms_bag(tmp_path / "rooms", "sqlite3", frames=3, height=24, width=32)
    synth = Synthesizer.from_checkpoint(models[0], device="cpu")
    seg = Segmenter.from_checkpoint(models[1], device="cpu")
    with pytest.raises(BagError, match="already has /camera/labels.*--namespace"):
        augment_bag(src, tmp_path / "out", synth, labels_from=seg, progress=False)
    result = augment_bag(src, tmp_path / "out", synth, labels_from=seg, namespace="/pred",
                         progress=False)
    assert result["labelled"] == result["synthesized"] == result["mixed"] == 3
    out = read_all(tmp_path / "out")
    store = typestore()
    labels = [store.deserialize_cdr(raw, IMAGE_TYPE) for _, raw in out["/pred/labels"]]
    assert {m.encoding for m in labels} == {"mono8"} and len(out["/pred/synth/rgb"]) == 3
    assert out["/pred/mixed/labels"] == [(t, raw) for (t, _), (_, raw) in
                                         zip(out["/pred/mixed/labels"], out["/pred/labels"])]
