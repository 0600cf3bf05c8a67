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


def synth_node(context: LaunchContext, params: str, remappings: list,
               extra: dict[str, tuple[str, type]] | None = None, points: bool = False,
               **kwargs: Any) -> Any:
    """The synth node as a lifecycle node; it configures and activates itself unless the
    ``autostart`` argument is false (then: ``ros2 lifecycle set /synth_node configure``).
    ``extra``: more parameter <- launch argument overrides; ``points`` turns synth/points on."""
    from launch_ros.actions import LifecycleNode

    mapping = {"checkpoint": ("checkpoint", str), "device": ("device", str),
               "autostart": ("autostart", bool), **(extra or {})}
    values = overrides(context, mapping)
    if points:
        values["publish_points"] = True
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


def params_file(context: LaunchContext) -> str:
    """The ``params_file`` argument, or the installed config/ros/nodes.yaml."""
    given = LaunchConfiguration("params_file").perform(context)
    return given or os.path.join(get_package_share_directory("scmis_ros"), "config", "ros",
                                 "nodes.yaml")
