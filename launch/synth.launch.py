"""synth node + an optional source: label images in, synthesized RGB-D out.

    ros2 launch scmis_ros synth.launch.py                         # procedural rooms source
    ros2 launch scmis_ros synth.launch.py source:=bag bag:=PATH labels_topic:=/camera/labels
    ros2 launch scmis_ros synth.launch.py source:=none labels_topic:=/my/labels checkpoint:=X
    ros2 launch scmis_ros synth.launch.py autostart:=false   # then: ros2 lifecycle set
                                                              # /synth_node configure, activate

Node parameters come from ``params_file`` (default: the package's config/ros/nodes.yaml); an
argument given on the command line overrides its parameter, an empty one (the default) keeps
the file's value. ``ros2 launch scmis_ros synth.launch.py --show-args`` lists them all. The
synth node is a lifecycle node (``launch_ros.actions.LifecycleNode``) that configures and
activates itself; ``autostart:=false`` leaves it unconfigured.
"""

from __future__ import annotations

import os

from launch import LaunchContext, LaunchDescription
from launch.actions import OpaqueFunction
from ament_index_python.packages import get_package_share_directory
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from scmis_ros.launch_utils import (AUTOSTART_ARG, FROM_FILE, PARAMS_FILE_ARG, SYNTH_ARGS,
                                    declare_arguments, is_value, overrides, params_file,
                                    synth_node)

ARGS = [
    ("source", "rooms", "where label images come from: rooms (procedural stream), bag "
     "(replay bag:=PATH) or none (an external publisher on labels_topic)",
     ["rooms", "bag", "none"]),
    ("checkpoint", "", "generator checkpoint (.pt) or shipped name" + FROM_FILE + " (empty "
     "there too = rooms, shipped)", None),
    ("device", "", "torch device of the generator: auto, cpu, cuda, cuda:N" + FROM_FILE, None),
    ("labels_topic", "labels", "label image topic the synth node subscribes to", None),
    ("bag", "", "rosbag2 folder to replay when source:=bag", None),
    ("rate", "", "rooms frames per second (source:=rooms) or playback speed factor "
     "(source:=bag)" + FROM_FILE, None),
    ("loop", "", "replay the bag in a loop, true/false (source:=bag)" + FROM_FILE, None),
    ("height", "", "rooms frame height (source:=rooms)" + FROM_FILE, None),
    ("width", "", "rooms frame width (source:=rooms)" + FROM_FILE, None),
    ("seed", "", "generator noise seed, -1 = fresh noise per label image" + FROM_FILE, None),
    ("namespace", "", "namespace of all nodes and topics", None),
    ("rviz", "false", "open RViz 2 (needs the rviz2 package) on synth/rgb and synth/points "
     "(turns publish_points on); set frame:= to the images' frame_id", ["true", "false"]),
    ("frame", "camera", "fixed frame of the RViz view (the label images' frame_id; rooms "
     "frames use 'camera')", None),
    *SYNTH_ARGS,
    AUTOSTART_ARG,
    PARAMS_FILE_ARG,
]


def _nodes(context: LaunchContext) -> list[Node]:
    params = params_file(context)
    ns = LaunchConfiguration("namespace")
    labels = ("labels", LaunchConfiguration("labels_topic"))
    rviz = LaunchConfiguration("rviz").perform(context) == "true"
    return [
        Node(package="scmis_ros", executable="rooms_source", name="rooms_source",
             namespace=ns, condition=is_value("source", "rooms"), remappings=[labels],
             parameters=[params, overrides(context, {"rate_hz": ("rate", float),
                                                     "height": ("height", int),
                                                     "width": ("width", int)})],
             output="screen"),
        Node(package="scmis_ros", executable="bag_source", name="bag_source",
             namespace=ns, condition=is_value("source", "bag"),
             parameters=[params, overrides(context, {"bag": ("bag", str),
                                                     "rate": ("rate", float),
                                                     "loop": ("loop", bool)})],
             output="screen"),
        synth_node(context, params, [labels], {"seed": ("seed", int)}, namespace=ns,
                   output="screen", points=rviz,
                   image_topic=LaunchConfiguration("labels_topic").perform(context)),
    ] + ([Node(package="rviz2", executable="rviz2", name="rviz2", namespace=ns,
               arguments=["-d", os.path.join(get_package_share_directory("scmis_ros"), "config",
                                             "ros", "synth_points.rviz"),
                          "-f", LaunchConfiguration("frame")], output="screen")]
         if rviz else [])


def generate_launch_description() -> LaunchDescription:
    """The launch description (arguments, source node, synth node)."""
    return LaunchDescription(declare_arguments(ARGS) + [OpaqueFunction(function=_nodes)])
