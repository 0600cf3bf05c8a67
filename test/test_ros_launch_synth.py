"""launch_testing test of launch/synth.launch.py: rooms source -> synth node; RGB-D answers
carry the label images' stamps; every process exits cleanly at shutdown."""

from __future__ import annotations

import tempfile
import unittest
from pathlib import Path

import pytest

pytest.importorskip("launch_testing", reason="launch_testing is not installed (`make install` "
                    "installs it from third_party/ros2-launch-wheels)")
pytest.importorskip("launch_ros", reason="launch_ros is not installed")

import launch  # noqa: E402
import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
from launch.actions import (GroupAction, IncludeLaunchDescription,  # noqa: E402
                            SetEnvironmentVariable)
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
from ros_harness import (REPO, Client, next_domain_id, overlay_environment,  # noqa: E402
                         source_overlay)

from scmis_ros.fixtures import write_generator_checkpoint  # noqa: E402


@pytest.mark.launch_test
@pytest.mark.launch
@pytest.mark.ros
def generate_test_description():
    work = Path(tempfile.mkdtemp(prefix="scmis_launch_synth_"))
    checkpoint = write_generator_checkpoint(work / "tiny.pt")
    domain = next_domain_id()
    env = overlay_environment(source_overlay(work / "prefix"), domain)
    include = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(str(REPO / "launch" / "synth.launch.py")),
        launch_arguments={"checkpoint": str(checkpoint), "device": "cpu", "source": "rooms",
                          "rate": "5.0", "height": "24", "width": "32"}.items())
    # scoped group: the variables reach the launched processes only
    group = GroupAction([SetEnvironmentVariable(k, v) for k, v in env.items()] + [include],
                        scoped=True, forwarding=True)
    return launch.LaunchDescription([group, launch_testing.actions.ReadyToTest()]), \
        {"domain": domain}


class TestSynthLaunch(unittest.TestCase):

    def test_rgb_and_depth_answer_the_streamed_label_images(self, domain, proc_output):
        from sensor_msgs.msg import Image

        from scmis_ros.conversions import stamp_ns

        client = Client(domain)
        try:
            labels = client.collect(Image, "/labels", client.qos("reliable"))
            rgb = client.collect(Image, "/synth/rgb")
            depth = client.collect(Image, "/synth/depth")

            def answered():
                stamps = {stamp_ns(m.header) for m in labels}
                return any(stamp_ns(m.header) in stamps for m in rgb) and \
                    any(stamp_ns(m.header) in stamps for m in depth)

            self.assertTrue(client.spin_until(answered, 120), "no synthesized answer")
        finally:
            client.close()
        proc_output.assertWaitFor("loaded", timeout=5)
        msg = rgb[-1]
        self.assertEqual((msg.encoding, msg.height, msg.width), ("rgb8", 24, 32))
        self.assertEqual(msg.header.frame_id, "camera")
        self.assertEqual(depth[-1].encoding, "32FC1")


@launch_testing.post_shutdown_test()
class TestSynthLaunchShutdown(unittest.TestCase):

    def test_every_process_exits_cleanly(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info)
