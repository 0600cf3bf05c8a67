"""The node-overhead benchmark runs end to end and reports a consistent ratio (no timing
assertions: the numbers depend on the machine)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("rclpy", reason="rclpy (ROS 2) is not installed")

from ros_harness import next_domain_id  # noqa: E402

from scmis_ros.bench import main  # noqa: E402
from scmis_ros.fixtures import write_generator_checkpoint  # noqa: E402


@pytest.mark.ros
def test_bench_reports_node_and_bare_latency_and_their_ratio(tmp_path, capsys):
    ckpt = write_generator_checkpoint(tmp_path / "tiny.pt")
    code = main(["--checkpoint", str(ckpt), "--size", "16x24", "--n", "3", "--warmup", "1",
                 "--device", "cpu", "--domain-id", str(next_domain_id()), "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["size"] == "16x24" and result["n"] == 3 and result["device"] == "cpu"
    bare, node = result["bare_synth_ms_median"], result["node_end_to_end_ms_median"]
    assert bare > 0 and node > 0 and result["node_infer_ms_mean"] > 0
    assert result["ratio_node_over_bare"] == pytest.approx(node / bare, rel=0.01)
    assert result["overhead_ms"] == pytest.approx(node - bare, abs=0.02)


def test_bench_refuses_a_missing_checkpoint(tmp_path, capsys):
    assert main(["--checkpoint", str(tmp_path / "missing.pt"), "--n", "1"]) == 2
    assert "missing.pt" in capsys.readouterr().err
