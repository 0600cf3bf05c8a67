"""The on-robot augmentation pipeline: source -> synth -> mix -> ESANet fine-tune.

    ros2 launch scmis_ros augment.launch.py                        # procedural rooms stream
    ros2 launch scmis_ros augment.launch.py source:=bag bag:=PATH \\
        rgb_topic:=/camera/rgb depth_topic:=/camera/depth labels_topic:=/camera/labels
    ros2 launch scmis_ros augment.launch.py source:=camera rgb_topic:=/cam/color/image_raw \\
        depth_topic:=/cam/depth/image_raw labels_topic:=/cam/labels

The real frames (rgb_topic, depth_topic, labels_topic) feed the synth node (labels) and the
mix node (all three); the fine-tune node trains on mixed/{rgb,depth,labels} and publishes
segmentation/labels and finetune/metrics. ``--show-args`` lists every argument.
"""

from __future__ import annotations

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

ARGS = [
    ("source", "rooms", "where real frames come from: rooms (procedural stream), bag (replay "
     "bag:=PATH) or camera (live topics, see *_topic)", ["rooms", "bag", "camera"]),
    ("bag", "", "rosbag2 folder to replay when source:=bag", None),
    ("rgb_topic", "rgb", "real RGB image topic", None),
    ("depth_topic", "depth", "real depth image topic (32FC1 m or 16UC1 mm)", None),
    ("labels_topic", "labels", "real label image topic", None),
    ("rate", "2.0", "rooms frames per second (source:=rooms) or playback speed factor "
     "(source:=bag)", None),
    ("height", "120", "rooms frame height (source:=rooms)", None),
    ("width", "160", "rooms frame width (source:=rooms)", None),
    ("checkpoint", "", "generator checkpoint (.pt); empty = the `make demo` one", None),
    ("device", "auto", "torch device of the generator and the segmenter", None),
    ("mode", "rgb", "class-mix mode: rgb, depth or rgbd", ["rgb", "depth", "rgbd"]),
    ("ratio", "0.7", "fraction of the classes present that are replaced", None),
    ("finetune", "true", "run the fine-tune node", ["true", "false"]),
    ("finetune_dir", "finetune_out", "folder of the fine-tune checkpoint (resumed from)",
     None),
    ("segmenter", "", "segmenter checkpoint to start fine-tuning from; empty = random init",
     None),
    ("train_rate", "2.0", "fine-tune steps per second at most (0 = no limit)", None),
    ("namespace", "", "namespace of all nodes and topics", None),
    ("params_file", "", "YAML parameter file; empty = the package's config/ros_nodes.yaml",
     None),
]


def _is(name: str, value: str) -> IfCondition:
    return IfCondition(PythonExpression(["'", LaunchConfiguration(name), f"' == '{value}'"]))


def generate_launch_description() -> LaunchDescription:
    """The launch description (arguments, source, synth, mix and fine-tune nodes)."""
    declared = [DeclareLaunchArgument(name, default_value=default, description=text,
                                      **({"choices": choices} if choices else {}))
                for name, default, text, choices in ARGS]
    cfg = {name: LaunchConfiguration(name) for name, *_ in ARGS}
    real = [("rgb", cfg["rgb_topic"]), ("depth", cfg["depth_topic"]),
            ("labels", cfg["labels_topic"])]

    def nodes(context):
        params = cfg["params_file"].perform(context) or os.path.join(
            get_package_share_directory("scmis_ros"), "config", "ros_nodes.yaml")
        common = {"namespace": cfg["namespace"], "output": "screen"}
        return [
            Node(package="scmis_ros", executable="rooms_source", name="rooms_source",
                 condition=_is("source", "rooms"), remappings=real, parameters=[params, {
                     "rate_hz": ParameterValue(cfg["rate"], value_type=float),
                     "height": ParameterValue(cfg["height"], value_type=int),
                     "width": ParameterValue(cfg["width"], value_type=int)}], **common),
            Node(package="scmis_ros", executable="bag_source", name="bag_source",
                 condition=_is("source", "bag"), parameters=[params, {
                     "bag": ParameterValue(cfg["bag"], value_type=str),
                     "rate": ParameterValue(cfg["rate"], value_type=float),
                     "loop": True}], **common),
            Node(package="scmis_ros", executable="synth_node", name="synth_node",
                 remappings=[("labels", cfg["labels_topic"])], parameters=[params, {
                     "checkpoint": ParameterValue(cfg["checkpoint"], value_type=str),
                     "device": ParameterValue(cfg["device"], value_type=str)}], **common),
            Node(package="scmis_ros", executable="mix_node", name="mix_node",
                 remappings=real, parameters=[params, {
                     "mode": ParameterValue(cfg["mode"], value_type=str),
                     "ratio": ParameterValue(cfg["ratio"], value_type=float)}], **common),
            Node(package="scmis_ros", executable="finetune_node", name="finetune_node",
                 condition=IfCondition(cfg["finetune"]), parameters=[params, {
                     "checkpoint_dir": ParameterValue(cfg["finetune_dir"], value_type=str),
                     "init_checkpoint": ParameterValue(cfg["segmenter"], value_type=str),
                     "device": ParameterValue(cfg["device"], value_type=str),
                     "train_rate_hz": ParameterValue(cfg["train_rate"], value_type=float)}],
                 **common),
        ]

    return LaunchDescription(declared + [OpaqueFunction(function=nodes)])
