"""launch_testing test of launch/augment.launch.py: rooms -> synth -> mix -> fine-tune; mixed
frames keep the real stamps, training runs and publishes metrics and predictions, and the
fine-tune checkpoint is written at shutdown."""

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

PARAMS = """\
finetune_node:
  ros__parameters:
    arch: unet-rgbd
    arch_kwargs: "{widths: [8, 16]}"
    height: 16
    width: 16
    batch_size: 2
    min_buffer: 2
    checkpoint_every: 100
"""


@pytest.mark.launch_test
@pytest.mark.launch
@pytest.mark.ros
def generate_test_description():
    work = Path(tempfile.mkdtemp(prefix="scmis_launch_augment_"))
    checkpoint = write_generator_checkpoint(work / "tiny.pt")
    params = work / "params.yaml"
    params.write_text(PARAMS)
    domain = next_domain_id()
    env = overlay_environment(source_overlay(work / "prefix"), domain)
    include = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(str(REPO / "launch" / "augment.launch.py")),
        launch_arguments={"checkpoint": str(checkpoint), "device": "cpu", "source": "rooms",
                          "rate": "4.0", "height": "24", "width": "32", "mode": "rgbd",
                          "ratio": "0.5", "finetune_dir": str(work / "finetune"),
                          "train_rate": "0.0", "params_file": str(params)}.items())
    group = GroupAction([SetEnvironmentVariable(k, v) for k, v in env.items()] + [include],
                        scoped=True, forwarding=True)
    return launch.LaunchDescription([group, launch_testing.actions.ReadyToTest()]), \
        {"domain": domain, "finetune_dir": work / "finetune"}


class TestAugmentLaunch(unittest.TestCase):

    def test_pipeline_mixes_trains_and_predicts(self, domain):
        from sensor_msgs.msg import Image

        from scmis_ros.conversions import stamp_ns

        client = Client(domain)
        try:
            labels = client.collect(Image, "/labels", client.qos("reliable"))
            mixed = client.collect(Image, "/mixed/rgb")
            preds = client.collect(Image, "/segmentation/labels")
            metrics = client.status("/finetune/metrics")

            def done():
                stamps = {stamp_ns(m.header) for m in labels}
                return any(stamp_ns(m.header) in stamps for m in mixed) and preds and \
                    any(m["step"] >= 2 for m in metrics)

            self.assertTrue(client.spin_until(done, 150),
                            f"mixed {len(mixed)}, predictions {len(preds)}, "
                            f"metrics {metrics[-1:]}")
        finally:
            client.close()
        self.assertEqual((mixed[-1].encoding, mixed[-1].height, mixed[-1].width),
                         ("rgb8", 24, 32))
        self.assertEqual((preds[-1].height, preds[-1].width), (24, 32))


@launch_testing.post_shutdown_test()
class TestAugmentLaunchShutdown(unittest.TestCase):

    def test_clean_exit_and_final_checkpoint(self, proc_info, finetune_dir):
        launch_testing.asserts.assertExitCodes(proc_info)
        from scmis_core.checkpoint import load_checkpoint

        state = load_checkpoint(finetune_dir / "finetune.pt", kind="segmenter")
        self.assertGreaterEqual(state["step"], 2)
