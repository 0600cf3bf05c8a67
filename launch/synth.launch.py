"""synth node + an optional source: label images in, synthesized RGB-D out.

    ros2 launch scmis_ros synth.launch.py                         # procedural rooms source
    ros2 launch scmis_ros synth.launch.py source:=bag bag:=PATH labels_topic:=/camera/labels
    ros2 launch scmis_ros synth.launch.py source:=none labels_topic:=/my/labels checkpoint:=X

``ros2 launch scmis_ros synth.launch.py --show-args`` lists every argument.
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
    ("source", "rooms", "where label images come from: rooms (procedural stream), bag "
     "(replay bag:=PATH) or none (an external publisher on labels_topic)",
     ["rooms", "bag", "none"]),
    ("checkpoint", "", "generator checkpoint (.pt); empty = the `make demo` one", None),
    ("device", "auto", "torch device of the generator: auto, cpu, cuda, cuda:N", None),
    ("labels_topic", "labels", "label image topic the synth node subscribes to", None),
    ("bag", "", "rosbag2 folder to replay when source:=bag", None),
    ("rate", "2.0", "rooms frames per second (source:=rooms) or playback speed factor "
     "(source:=bag)", None),
    ("loop", "true", "replay the bag in a loop (source:=bag)", ["true", "false"]),
    ("height", "120", "rooms frame height (source:=rooms)", None),
    ("width", "160", "rooms frame width (source:=rooms)", None),
    ("seed", "-1", "generator noise seed; -1 = fresh noise for every label image", None),
    ("namespace", "", "namespace of all nodes and topics", None),
    ("params_file", "", "YAML parameter file; empty = the package's config/ros_nodes.yaml",
     None),
]


def _is(name: str, value: str) -> IfCondition:
    return IfCondition(PythonExpression(["'", LaunchConfiguration(name), f"' == '{value}'"]))


def _params_file(context_value: str) -> str:
    return context_value or os.path.join(get_package_share_directory("scmis_ros"), "config",
                                         "ros_nodes.yaml")


def generate_launch_description() -> LaunchDescription:
    """The launch description (arguments, source node, synth node)."""
    declared = [DeclareLaunchArgument(name, default_value=default, description=text,
                                      **({"choices": choices} if choices else {}))
                for name, default, text, choices in ARGS]
    cfg = {name: LaunchConfiguration(name) for name, *_ in ARGS}

    def nodes(context):
        params = _params_file(cfg["params_file"].perform(context))
        return [
            Node(package="scmis_ros", executable="rooms_source", name="rooms_source",
                 namespace=cfg["namespace"], condition=_is("source", "rooms"),
                 parameters=[params, {
                     "rate_hz": ParameterValue(cfg["rate"], value_type=float),
                     "height": ParameterValue(cfg["height"], value_type=int),
                     "width": ParameterValue(cfg["width"], value_type=int)}],
                 remappings=[("labels", cfg["labels_topic"])], output="screen"),
            Node(package="scmis_ros", executable="bag_source", name="bag_source",
                 namespace=cfg["namespace"], condition=_is("source", "bag"),
                 parameters=[params, {
                     "bag": ParameterValue(cfg["bag"], value_type=str),
                     "rate": ParameterValue(cfg["rate"], value_type=float),
                     "loop": ParameterValue(cfg["loop"], value_type=bool)}],
                 output="screen"),
            Node(package="scmis_ros", executable="synth_node", name="synth_node",
                 namespace=cfg["namespace"],
                 parameters=[params, {
                     "checkpoint": ParameterValue(cfg["checkpoint"], value_type=str),
                     "device": ParameterValue(cfg["device"], value_type=str),
                     "seed": ParameterValue(cfg["seed"], value_type=int)}],
                 remappings=[("labels", cfg["labels_topic"])], output="screen"),
        ]

    return LaunchDescription(declared + [OpaqueFunction(function=nodes)])
