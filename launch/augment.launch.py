"""The on-robot augmentation pipeline: source -> synth -> mix -> ESANet fine-tune.

    ros2 launch scmis_ros augment.launch.py                        # procedural rooms stream
    ros2 launch scmis_ros augment.launch.py source:=bag bag:=PATH \\
        rgb_topic:=/camera/rgb depth_topic:=/camera/depth labels_topic:=/camera/labels
    ros2 launch scmis_ros augment.launch.py source:=camera rgb_topic:=/cam/color/image_raw \\
        depth_topic:=/cam/depth/image_raw labels_topic:=/cam/labels
    ros2 launch scmis_ros augment.launch.py source:=camera labels:=segmenter \\
        label_segmenter:=SEGMENTER.pt rgb_topic:=/camera/camera/color/image_raw \\
        depth_topic:=/camera/camera/aligned_depth_to_color/image_raw

The real frames (rgb_topic, depth_topic, labels_topic) feed the synth node (labels) and the
mix node (all three); with ``labels:=segmenter`` the label node predicts the labels from
rgb_topic + depth_topic instead (on ``segmenter/labels``; for cameras and bags without a
label topic) and labels_topic is not used. The fine-tune node trains on
mixed/{rgb,depth,labels} and publishes segmentation/labels and finetune/metrics. Node
parameters come from ``params_file`` (default: the package's config/ros/nodes.yaml); an
argument given on the command line overrides its parameter, an empty one (the default) keeps
the file's value. ``--show-args`` lists them all. The synth and fine-tune nodes are lifecycle
nodes that configure and activate themselves; ``autostart:=false`` leaves them unconfigured
(``ros2 lifecycle set /synth_node configure``, then ``activate``; the same for
``/finetune_node``).
"""

from __future__ import annotations

from launch import LaunchContext, LaunchDescription
from launch.actions import OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node

from scmis_ros.launch_utils import (AUTOSTART_ARG, FROM_FILE, PARAMS_FILE_ARG, SYNTH_ARGS,
                                    declare_arguments, is_value, overrides, params_file,
                                    synth_node)

ARGS = [
    ("source", "rooms", "where real frames come from: rooms (procedural stream), bag (replay "
     "bag:=PATH) or camera (live topics, see *_topic)", ["rooms", "bag", "camera"]),
    ("bag", "", "rosbag2 folder to replay (in a loop) when source:=bag", None),
    ("rgb_topic", "rgb", "real RGB image topic", None),
    ("depth_topic", "depth", "real depth image topic (32FC1 m or 16UC1 mm)", None),
    ("labels_topic", "labels", "real label image topic", None),
    ("labels", "topic", "where the labels come from: topic (labels_topic) or segmenter "
     "(label_node predicts them from rgb_topic + depth_topic with label_segmenter)",
     ["topic", "segmenter"]),
    ("label_segmenter", "", "segmenter checkpoint of the label node (labels:=segmenter)"
     + FROM_FILE, None),
    ("rate", "", "rooms frames per second (source:=rooms) or playback speed factor "
     "(source:=bag)" + FROM_FILE, None),
    ("height", "", "rooms frame height (source:=rooms)" + FROM_FILE, None),
    ("width", "", "rooms frame width (source:=rooms)" + FROM_FILE, None),
    ("checkpoint", "", "generator checkpoint (.pt) or shipped name" + FROM_FILE + " (empty "
     "there too = rooms, shipped)", None),
    ("device", "", "torch device of the generator and the segmenter" + FROM_FILE, None),
    ("mode", "", "class-mix mode: rgb, depth or rgbd" + FROM_FILE, None),
    ("ratio", "", "fraction of the classes present that are replaced" + FROM_FILE, None),
    ("finetune", "true", "run the fine-tune node", ["true", "false"]),
    ("finetune_dir", "", "folder of the fine-tune checkpoint and metrics.jsonl (resumed "
     "from)" + FROM_FILE, None),
    ("segmenter", "", "segmenter checkpoint to start fine-tuning from" + FROM_FILE, None),
    ("train_rate", "", "fine-tune steps per second at most, 0 = no limit" + FROM_FILE, None),
    ("namespace", "", "namespace of all nodes and topics", None),
    *SYNTH_ARGS,
    AUTOSTART_ARG,
    PARAMS_FILE_ARG,
]


def _nodes(context: LaunchContext) -> list[Node]:
    params = params_file(context)
    common = {"namespace": LaunchConfiguration("namespace"), "output": "screen"}
    real = [("rgb", LaunchConfiguration("rgb_topic")),
            ("depth", LaunchConfiguration("depth_topic")),
            ("labels", LaunchConfiguration("labels_topic"))]
    predicted = LaunchConfiguration("labels").perform(context) == "segmenter"
    labels_in = ("labels", "segmenter/labels") if predicted else real[2]
    return [
        Node(package="scmis_ros", executable="rooms_source", name="rooms_source",
             condition=is_value("source", "rooms"), remappings=real,
             parameters=[params, overrides(context, {"rate_hz": ("rate", float),
                                                     "height": ("height", int),
                                                     "width": ("width", int)})], **common),
        Node(package="scmis_ros", executable="bag_source", name="bag_source",
             condition=is_value("source", "bag"),
             parameters=[params, {"loop": True},
                         overrides(context, {"bag": ("bag", str), "rate": ("rate", float)})],
             **common),
        Node(package="scmis_ros", executable="label_node", name="label_node",
             condition=is_value("labels", "segmenter"),
             remappings=[real[0], real[1], labels_in],
             parameters=[params, overrides(context, {"segmenter": ("label_segmenter", str),
                                                     "device": ("device", str)})], **common),
        synth_node(context, params, [labels_in],
                   image_topic=LaunchConfiguration("rgb_topic").perform(context), **common),
        Node(package="scmis_ros", executable="mix_node", name="mix_node",
             remappings=[real[0], real[1], labels_in],
             parameters=[params, overrides(context, {"mode": ("mode", str),
                                                     "ratio": ("ratio", float)})], **common),
        LifecycleNode(
             package="scmis_ros", executable="finetune_node", name="finetune_node",
             condition=IfCondition(LaunchConfiguration("finetune")),
             parameters=[params, overrides(context, {
                 "checkpoint_dir": ("finetune_dir", str),
                 "init_checkpoint": ("segmenter", str), "device": ("device", str),
                 "train_rate_hz": ("train_rate", float), "autostart": ("autostart", bool)})],
             # the final training step and checkpoint may take a while on a busy CPU
             sigterm_timeout="30", **common),
    ]


def generate_launch_description() -> LaunchDescription:
    """The launch description (arguments; source, synth, mix and fine-tune nodes)."""
    return LaunchDescription(declare_arguments(ARGS) + [OpaqueFunction(function=_nodes)])
