"""The launch files' descriptions, evaluated without starting anything: which nodes run for
which arguments, the synth node as a lifecycle node with autostart, the parameter file."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

pytest.importorskip("launch_ros", reason="launch_ros is not installed (ROS 2 launch wheels)")

from launch import LaunchContext  # noqa: E402
from launch_ros.actions import LifecycleNode  # noqa: E402

from scmis_ros import launch_utils  # noqa: E402


def load(repo_root, name):
    """launch/<name>.launch.py as a module."""
    spec = importlib.util.spec_from_file_location(f"{name}_launch",
                                                  repo_root / "launch" / f"{name}.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def started(module, **args):
    """{executable: launch action} of the nodes that run for ``args``, and their parameters."""
    context = LaunchContext()
    context.launch_configurations.update({name: default for name, default, _, _ in
                                          module.ARGS})
    nodes_yaml = Path(module.__file__).resolve().parents[1] / "config" / "ros" / "nodes.yaml"
    context.launch_configurations.update(params_file=str(nodes_yaml), **args)
    nodes = [n for n in module._nodes(context)
             if n.condition is None or n.condition.evaluate(context)]
    return {n.node_executable: n for n in nodes}


def overrides(node):
    """The parameter dict the launch file adds after the parameter file."""
    dicts = [p for p in node._Node__parameters if isinstance(p, dict)]

    def text(value):  # launch_ros stores strings as tuples of TextSubstitution
        if isinstance(value, tuple) and all(hasattr(s, "text") for s in value):
            joined = "".join(s.text for s in value)
            # a string value is kept as its YAML document ('onnxruntime\n...\n')
            return yaml.safe_load(joined) if joined.endswith("\n...\n") else joined
        return value

    return {text(k): text(v) for d in dicts for k, v in d.items()}


@pytest.mark.parametrize("launch", ["synth", "augment"])
def test_synth_node_is_a_lifecycle_node_that_autostarts_unless_told(repo_root, launch):
    module = load(repo_root, launch)
    nodes = started(module)
    assert isinstance(nodes["synth_node"], LifecycleNode)
    assert "autostart" not in overrides(nodes["synth_node"])  # the file's value: true
    nodes = started(module, autostart="false")
    assert overrides(nodes["synth_node"])["autostart"] is False
    with pytest.raises(ValueError, match="autostart: expected true or false, found 'no'"):
        started(module, autostart="no")


def test_finetune_node_is_a_lifecycle_node_too(repo_root):
    module = load(repo_root, "augment")
    assert isinstance(started(module)["finetune_node"], LifecycleNode)
    assert overrides(started(module, autostart="false")["finetune_node"])["autostart"] is False


def test_rviz_argument_opens_rviz_on_the_points(repo_root, monkeypatch):
    module = load(repo_root, "synth")
    monkeypatch.setattr(module, "get_package_share_directory", lambda pkg: "/share/x")
    assert "rviz2" not in started(module)
    assert "publish_points" not in overrides(started(module)["synth_node"])
    nodes = started(module, rviz="true", frame="cam")
    assert overrides(nodes["synth_node"])["publish_points"] is True
    args = [a if isinstance(a, str) else "".join(getattr(s, "text", "?") for s in a)
            for a in nodes["rviz2"].cmd]
    assert "/share/x/config/ros/synth_points.rviz" in "".join(args)
    assert (repo_root / "config" / "ros" / "synth_points.rviz").is_file()


def test_sources_follow_the_source_argument(repo_root):
    module = load(repo_root, "synth")
    assert set(started(module)) == {"rooms_source", "synth_node"}
    assert set(started(module, source="bag", bag="b")) == {"bag_source", "synth_node"}
    assert set(started(module, source="none")) == {"synth_node"}
    augment = load(repo_root, "augment")
    assert set(started(augment, source="camera", finetune="false")) == {"synth_node",
                                                                        "mix_node"}


def test_the_default_parameter_file_is_the_installed_config_ros_nodes_yaml(monkeypatch,
                                                                          tmp_path):
    monkeypatch.setattr(launch_utils, "get_package_share_directory", lambda pkg: "/share/x")
    context = LaunchContext()
    context.launch_configurations["params_file"] = ""
    assert launch_utils.params_file(context) == "/share/x/config/ros/nodes.yaml"
    (tmp_path / "mine.yaml").write_text("{}\n")
    monkeypatch.chdir(tmp_path)
    context.launch_configurations["params_file"] = "mine.yaml"
    assert launch_utils.params_file(context) == str(tmp_path / "mine.yaml")


def remapped(node):
    """{from: to} of a node's remappings as plain strings."""
    def text(value):  # launch substitutions (other remappings) are not resolved here
        return value if isinstance(value, str) else "".join(
            getattr(s, "text", None) or "<substitution>" for s in value)
    return {text(a): text(b) for a, b in node._Node__remappings}


@pytest.mark.parametrize("launch, topic_arg", [("synth", "labels_topic"),
                                               ("augment", "rgb_topic")])
def test_camera_info_beside_the_image_topic_or_as_given(repo_root, launch, topic_arg):
    module = load(repo_root, launch)
    realsense = {topic_arg: "/camera/camera/color/image_raw", "source": "none"
                 if launch == "synth" else "camera"}
    node = started(module, **realsense)["synth_node"]
    assert remapped(node)["camera_info"] == "/camera/camera/color/camera_info"
    node = started(module, **realsense, camera_info="/cam/info")["synth_node"]
    assert remapped(node)["camera_info"] == "/cam/info"
    assert remapped(started(module)["synth_node"])["camera_info"] == "camera_info"


@pytest.mark.parametrize("launch", ["synth", "augment"])
def test_synth_launch_arguments_reach_the_node(repo_root, launch):
    module = load(repo_root, launch)
    names = {name for name, _, _, _ in module.ARGS}
    assert {"backend", "publish_points", "qos", "camera_info", "checkpoint",
            "device"} <= names
    given = overrides(started(module, backend="onnxruntime", publish_points="true",
                              qos="best_effort", checkpoint="g.pt", device="cpu")
                      ["synth_node"])
    assert given["backend"] == "onnxruntime" and given["publish_points"] is True
    assert given["qos"] == "best_effort" and given["checkpoint"] == "g.pt"
    assert "backend" not in overrides(started(module)["synth_node"])  # the file's value


def test_params_file_is_found_in_the_package_share_and_a_missing_one_stops(tmp_path,
                                                                             monkeypatch):
    share = tmp_path / "share"
    (share / "config" / "ros").mkdir(parents=True)
    (share / "config" / "ros" / "realsense.yaml").write_text("{}\n")
    monkeypatch.setattr(launch_utils, "get_package_share_directory", lambda pkg: str(share))
    monkeypatch.chdir(tmp_path)
    context = LaunchContext()
    context.launch_configurations["params_file"] = "config/ros/realsense.yaml"
    assert launch_utils.params_file(context) == str(share / "config" / "ros" /
                                                    "realsense.yaml")
    context.launch_configurations["params_file"] = "realsense.yaml"
    assert launch_utils.params_file(context).endswith("config/ros/realsense.yaml")
    (tmp_path / "mine.yaml").write_text("{}\n")
    context.launch_configurations["params_file"] = "mine.yaml"
    assert launch_utils.params_file(context) == str(tmp_path / "mine.yaml")
    context.launch_configurations["params_file"] = "config/ros/nope.yaml"
    with pytest.raises(launch_utils.LaunchArgumentError, match="no file 'config/ros/nope"):
        launch_utils.params_file(context)
