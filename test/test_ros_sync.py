"""The approximate-time synchroniser and the single-slot keep-latest queue."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from scmis_ros.sync import ApproximateTimeSync

MS = 1_000_000


def test_exact_stamps_match_in_any_arrival_order():
    sync = ApproximateTimeSync(3, slop_ns=0)
    assert sync.add(0, 100, "a0") == []
    assert sync.add(2, 100, "c0") == []
    assert sync.add(1, 100, "b0") == [("a0", "b0", "c0")]
    assert sync.queue_lengths() == [0, 0, 0]


def test_tolerance_decides_and_old_unmatched_messages_are_dropped():
    got = []
    sync = ApproximateTimeSync(2, slop_ns=5 * MS, callback=lambda *m: got.append(m))
    sync.add(0, 0, "a@0")
    sync.add(0, 100 * MS, "a@100")
    sync.add(1, 103 * MS, "b@103")  # a@0 can never match any more
    assert got == [("a@100", "b@103")]
    assert sync.dropped == 1
    sync.add(0, 200 * MS, "a@200")
    sync.add(1, 210 * MS, "b@210")  # 10 ms apart > 5 ms: no match, a@200 dropped
    assert len(got) == 1 and sync.queue_lengths() == [0, 1]


def test_closest_partner_wins_and_sets_span_at_most_slop():
    sync = ApproximateTimeSync(2, slop_ns=20 * MS)
    sync.add(1, 90 * MS, "b@90")
    sync.add(1, 99 * MS, "b@99")
    assert sync.add(0, 100 * MS, "a@100") == [("a@100", "b@99")]
    assert sync.dropped == 1  # b@90 skipped for the closer b@99


def test_queue_size_bounds_memory():
    sync = ApproximateTimeSync(2, slop_ns=0, queue_size=3)
    for i in range(10):
        sync.add(0, i, i)
    assert sync.queue_lengths() == [3, 0]
    assert sync.dropped == 7


def test_random_streams_match_every_frame_within_slop():
    """Three jittered 30 Hz streams, interleaved at random: every frame is matched once."""
    rng = np.random.default_rng(1)
    frames = 200
    events = [(i * 33 * MS + int(rng.integers(-3, 4)) * MS, k, i)
              for i in range(frames) for k in range(3)]
    # per input, stamps arrive in order, but the inputs interleave at random (one input
    # runs up to ~32 frames ahead of another with this seed, so queues hold 50)
    queues = [[e for e in events if e[1] == k] for k in range(3)]
    sync = ApproximateTimeSync(3, slop_ns=8 * MS, queue_size=50)
    matched = []
    while any(queues):
        k = int(rng.choice([q for q in range(3) if queues[q]]))
        stamp, _, frame = queues[k].pop(0)
        matched += sync.add(k, stamp, (frame, stamp))
    assert len(matched) == frames and sync.dropped == 0
    for group in matched:
        assert len({frame for frame, _ in group}) == 1
        stamps = [s for _, s in group]
        assert max(stamps) - min(stamps) <= 8 * MS


def test_bad_arguments():
    with pytest.raises(ValueError, match="count >= 1"):
        ApproximateTimeSync(0, 0)
    with pytest.raises(ValueError, match="slop_ns >= 0"):
        ApproximateTimeSync(2, -1)
    with pytest.raises(IndexError, match="input 2 out of 0..1"):
        ApproximateTimeSync(2, 0).add(2, 0, None)


def test_latest_slot_keeps_only_the_newest_and_counts_drops():
    pytest.importorskip("rclpy", reason="rclpy is not installed")
    from scmis_ros.node_utils import LatestSlot

    slot = LatestSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True and slot.put(3) is True
    assert len(slot) == 1 and slot.dropped == 2
    assert slot.take(0.01) == 3 and slot.take(0.01) is None
    consumed = []

    def consumer():
        while (item := slot.take(1.0)) is not None:
            consumed.append(item)

    thread = threading.Thread(target=consumer)
    thread.start()
    for i in range(1000):
        slot.put(i)
    slot.close()
    thread.join(5)
    assert not thread.is_alive()
    assert consumed == sorted(consumed) and consumed[-1] == 999
    assert len(consumed) + slot.dropped - 2 == 1000  # every item consumed or counted dropped


def test_children_of_a_background_job_can_be_stopped_with_sigint():
    # make demo & (SIGINT ignored, inherited by every child): the demo and the ROS bench
    # stop their node processes with SIGINT, so they must hand children the default back
    pytest.importorskip("rclpy", reason="rclpy is not installed")
    import signal
    import subprocess
    import sys

    child = ("import signal; print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)")
    parent = ("import subprocess, sys{imp}\n{call}\n"
              "print(subprocess.run([sys.executable, '-c', {child!r}], capture_output=True, "
              "text=True).stdout.strip())")

    def run(imp: str, call: str) -> str:
        return subprocess.run(
            [sys.executable, "-c", parent.format(imp=imp, call=call, child=child)],
            capture_output=True, text=True, check=True, timeout=60,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)).stdout.strip()

    assert run("", "pass") == "True"  # what the demo's children got before
    assert run("\nfrom scmis_ros.node_utils import let_sigint_reach_children",
               "let_sigint_reach_children()") == "False"


def test_demo_stop_leaves_no_process_of_a_launch_group_behind(tmp_path):
    # a "launch" that ignores SIGINT and TERM, with a child that does too: _stop must end both
    pytest.importorskip("rclpy", reason="rclpy is not installed")
    import subprocess
    import sys

    from scmis_ros.demo import _stop

    pid_file = tmp_path / "child.pid"
    code = ("import os, signal, subprocess, sys, time\n"
            "for s in (signal.SIGINT, signal.SIGTERM): signal.signal(s, signal.SIG_IGN)\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
            f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
            "time.sleep(300)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    deadline = time.monotonic() + 30
    while not pid_file.is_file() or not pid_file.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    child = int(pid_file.read_text())
    assert _stop(proc, timeout=1.0) == -9
    deadline = time.monotonic() + 10
    while True:  # the child is gone (reaped by init) or a zombie
        try:
            state = open(f"/proc/{child}/stat").read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            break
        if state == "Z" or time.monotonic() > deadline:
            assert state == "Z", state
            break
        time.sleep(0.1)
