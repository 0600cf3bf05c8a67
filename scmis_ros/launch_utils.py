"""Helpers shared by the launch files in ``launch/`` (imported only by them)."""

from __future__ import annotations

import os
from typing import Any, Sequence

from ament_index_python.packages import get_package_share_directory
from launch import LaunchContext
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import EqualsSubstitution, LaunchConfiguration

#: Suffix of the description of arguments whose empty default keeps the parameter file's value.
FROM_FILE = "; empty = the parameter file's value"
#: The arguments both launch files declare for the synth node's lifecycle and parameters.
PARAMS_FILE_ARG = ("params_file", "", "YAML parameter file; empty = the package's "
                   "config/ros/nodes.yaml", None)
AUTOSTART_ARG = ("autostart", "", "configure and activate the lifecycle nodes (synth, "
                 "fine-tune) at start; false leaves them unconfigured for `ros2 lifecycle set "
                 "/synth_node configure`" + FROM_FILE + " (true)", None)


def declare_arguments(args: Sequence[tuple[str, str, str, list[str] | None]]
                      ) -> list[DeclareLaunchArgument]:
    """``DeclareLaunchArgument`` for each (name, default, description, choices)."""
    return [DeclareLaunchArgument(name, default_value=default, description=text,
                                  **({"choices": choices} if choices else {}))
            for name, default, text, choices in args]


def is_value(name: str, value: str) -> IfCondition:
    """Condition: launch argument ``name`` equals ``value`` (``LaunchConfigurationEquals``
    is deprecated in this launch release in favour of ``EqualsSubstitution``)."""
    return IfCondition(EqualsSubstitution(LaunchConfiguration(name), value))


#: Launch arguments of the synth node's parameters that both launch files declare (each
#: also in SYNTH_PARAMS): (name, default, description, choices).
SYNTH_ARGS = [
    ("backend", "", "inference backend of the generator: torch or onnxruntime" + FROM_FILE,
     None),
    ("publish_points", "", "publish synth/points (PointCloud2), true/false" + FROM_FILE,
     None),
    ("qos", "", "QoS of the output topics: reliable, best_effort, sensor_data, ..."
     + FROM_FILE, None),
    ("camera_info", "", "camera_info topic of the input camera, paired with the images by "
     "stamp; empty = the camera_info beside the image topic (<topic>/../camera_info, as "
     "image_transport resolves it)", None),
]
#: synth node parameter <- (launch argument, type) for every launch file.
SYNTH_PARAMS = {"checkpoint": ("checkpoint", str), "device": ("device", str),
                "autostart": ("autostart", bool), "backend": ("backend", str),
                "publish_points": ("publish_points", bool), "qos": ("qos", str)}


def camera_info_topic(context: LaunchContext, image_topic: str) -> str:
    """The ``camera_info`` argument, or the camera_info beside ``image_topic``: what
    image_transport's CameraSubscriber takes for an image topic (``/cam/color/image_raw`` ->
    ``/cam/color/camera_info``; a topic without a namespace -> ``camera_info``)."""
    given = LaunchConfiguration("camera_info").perform(context)
    if given:
        return given
    head, sep, _ = image_topic.rstrip("/").rpartition("/")
    return f"{head}/camera_info" if sep and head else (
        "/camera_info" if sep else "camera_info")


def synth_node(context: LaunchContext, params: str, remappings: list,
               extra: dict[str, tuple[str, type]] | None = None, points: bool = False,
               image_topic: str = "labels", **kwargs: Any) -> Any:
    """The synth node as a lifecycle node; it configures and activates itself unless the
    ``autostart`` argument is false (then: ``ros2 lifecycle set /synth_node configure``).
    Its ``camera_info`` subscription is remapped to :func:`camera_info_topic` of
    ``image_topic`` (the camera's image topic). ``extra``: more parameter <- launch argument
    overrides; ``points`` turns synth/points on."""
    from launch_ros.actions import LifecycleNode

    values = overrides(context, {**SYNTH_PARAMS, **(extra or {})})
    if points:
        values["publish_points"] = True
    remappings = list(remappings) + [("camera_info", camera_info_topic(context, image_topic))]
    return LifecycleNode(package="scmis_ros", executable="synth_node", name="synth_node",
                         remappings=remappings, parameters=[params, values], **kwargs)


def overrides(context: LaunchContext, mapping: dict[str, tuple[str, type]]) -> dict[str, Any]:
    """{parameter: value} for the launch arguments given non-empty, converted to their type.

    ``mapping``: parameter name -> (launch argument, type); bools accept true/false.
    """
    out: dict[str, Any] = {}
    for param, (arg, kind) in mapping.items():
        text = LaunchConfiguration(arg).perform(context)
        if text == "":
            continue
        if kind is bool:
            if text.lower() not in ("true", "false"):
                raise ValueError(f"launch argument {arg}: expected true or false, found "
                                 f"{text!r}")
            out[param] = text.lower() == "true"
            continue
        try:
            out[param] = kind(text)
        except ValueError:
            raise ValueError(f"launch argument {arg}: expected a {kind.__name__}, found "
                             f"{text!r}") from None
    return out


class LaunchArgumentError(ValueError):
    """A launch argument that cannot be used (the launch stops with its one line)."""


def params_file(context: LaunchContext) -> str:
    """The ``params_file`` argument, or the installed config/ros/nodes.yaml.

    A relative path is looked up in the working folder, then in the package's share folder
    (``config/ros/realsense.yaml`` works from any folder) and its ``config/ros``; a file found
    nowhere stops the launch with one line naming the places tried.
    """
    given = LaunchConfiguration("params_file").perform(context)
    if not given:
        return os.path.join(get_package_share_directory("scmis_ros"), "config", "ros",
                            "nodes.yaml")
    path = os.path.expanduser(given)
    tried = [os.path.abspath(path)]
    if os.path.isfile(tried[0]):
        return tried[0]
    if not os.path.isabs(path):
        share = get_package_share_directory("scmis_ros")
        tried += [os.path.join(share, path), os.path.join(share, "config", "ros", path)]
    for candidate in tried[1:]:
        if os.path.isfile(candidate):
            return candidate
    raise LaunchArgumentError(f"launch argument params_file: no file {given!r} (tried "
                              f"{', '.join(tried)})")
