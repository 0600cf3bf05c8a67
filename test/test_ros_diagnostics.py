"""/diagnostics levels from the counters: a drop ratio in [0, 1] that does not warn by
default (keep-latest dropping is by design), bad inputs that do."""

from __future__ import annotations

import pytest

pytest.importorskip("diagnostic_msgs", reason="the ROS 2 message wheels are not installed")

from scmis_ros.diagnostics import DIAG_PARAMS, ERROR, OK, WARN, Diagnostics, NodeStats  # noqa: E402
from scmis_ros.diagnostics import level_of, status_dict  # noqa: E402


class _Node:
    def get_name(self):
        return "mix_node"

    def create_publisher(self, *args):
        return None

    def create_timer(self, *args):
        return None


def _diagnostics(**params):
    values = {p.name: p.default for p in DIAG_PARAMS}
    values.update(params)
    stats = NodeStats("received", "processed", "dropped", "bad", "too_large")
    diag = Diagnostics(_Node(), values, stats, lambda: (OK, "", {}, True))
    return diag, stats


def test_drops_of_an_earlier_period_never_give_a_ratio_above_one_and_do_not_warn():
    diag, stats = _diagnostics()
    diag.status()
    stats.add("received", 50)
    stats.add("dropped", 51)  # 51 of them plus one left over from the period before
    status = diag.status()
    values = status_dict(status)
    assert float(values["drop_ratio"]) == 1.0
    assert level_of(status) == OK and "102 %" not in status.message


def test_a_drop_threshold_the_user_sets_still_warns_and_bad_inputs_are_errors():
    diag, stats = _diagnostics(diag_drop_warn_ratio=0.5)
    diag.status()
    stats.add("received", 10)
    stats.add("dropped", 8)
    status = diag.status()
    assert level_of(status) == WARN and "80% of the inputs dropped" in status.message
    stats.add("received", 10)
    stats.add("bad", 6)
    assert level_of(diag.status()) == ERROR
