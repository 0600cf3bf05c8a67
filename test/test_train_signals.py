"""Training processes killed or stopped by signals (issue 14 defects 5-7): real processes.

- SIGKILL while a checkpoint is being written (seen as its temporary file), repeatedly, then
  ``--resume``: metrics.jsonl and the final weights equal an uninterrupted run's, and no
  temporary file is left.
- SIGTERM / SIGINT: the trainer finishes the step, writes a checkpoint of it and exits with
  143 / 130 and a line saying how to resume (GAN trainer and segmenter trainer).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from scmis_core.atomic_files import HOST, remove_stale_temp_files
from scmis_core.checkpoint import list_step_checkpoints, load_checkpoint

REPO = Path(__file__).resolve().parents[1]

TINY = ["data.height=32", "data.width=32", "data.rooms_train_size=16",
        "data.rooms_test_size=4", "data.num_workers=0", "model.width=4", "model.num_scales=3",
        "model.spade_hidden=8", "model.z_dim=8", "model.disc_width=8",
        "model.disc_head_width=16", "train.batch_size=2", "train.log_every=1",
        "train.sample_every=100", "train.ema_decay=0.9"]
# Several MB of checkpoint, so that its write is long enough to be caught in the act.
BIG = ["model.width=16", "model.spade_hidden=32"]
START_TIMEOUT = 900  # seconds; the shared CI machine can be slow to import torch


def _default_sigint() -> None:
    # A background job of a non-interactive shell inherits SIGINT ignored, and a trainer
    # leaves an ignored signal ignored: give the child the default disposition.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


_STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _no_leftover_processes():
    yield
    while _STARTED:  # a failed test must not leave a trainer running
        proc = _STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _start(args: list[str], log: Path) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, *args], cwd=REPO, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT,
                            preexec_fn=_default_sigint)
    _STARTED.append(proc)
    return proc


def _train(run: Path, *extra: str) -> list[str]:
    return ["-m", "scmis_core.train", "--run-dir", str(run), "--no-eval", "--no-progress",
            *TINY, *extra]


def _rows(run: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k != "time"}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


def _temps(run: Path) -> list[str]:
    return sorted(p.name for p in run.iterdir() if ".tmp-" in p.name)


def _kill_while_writing(proc: subprocess.Popen, run: Path, skip: int) -> bool:
    """SIGKILL ``proc`` while it writes its ``skip``-th step checkpoint (or later); returns
    whether it was killed (False: it finished first)."""
    seen = 0
    deadline = time.monotonic() + START_TIMEOUT
    while proc.poll() is None and time.monotonic() < deadline:
        writing = [n for n in os.listdir(run) if n.startswith(".step_")] \
            if run.is_dir() else []
        if writing:
            seen += 1
            if seen > skip:
                proc.kill()
                proc.wait()
                return True
            while proc.poll() is None and any(
                    n.startswith(".step_") for n in os.listdir(run)):
                time.sleep(0.0005)  # let this write finish
        time.sleep(0.0005)
    proc.wait(timeout=60)
    return False


@pytest.mark.slow
def test_sigkill_while_checkpointing_then_resume_equals_uninterrupted(tmp_path):
    steps = [*BIG, "train.steps=6", "train.ckpt_every=1", "train.keep_last=10"]
    full = tmp_path / "full"
    proc = _start(_train(full, *steps), tmp_path / "full.log")
    assert proc.wait(timeout=START_TIMEOUT) == 0, (tmp_path / "full.log").read_text()[-2000:]

    run = tmp_path / "killed"
    proc = _start(_train(run, *steps), tmp_path / "k0.log")
    killed_mid_write = 0
    for attempt in range(2):  # each kill lands in a later checkpoint: 6 steps are enough
        assert _kill_while_writing(proc, run, skip=1), (tmp_path / f"k{attempt}.log"
                                                        ).read_text()[-2000:]
        left = _temps(run)
        killed_mid_write += bool(left)
        # Only a temporary of the dead process is left; the last complete checkpoint is
        # whole and loadable.
        assert all(f"-{HOST}-{proc.pid}-" in name for name in left), left
        last = list_step_checkpoints(run)
        if last:
            assert load_checkpoint(last[-1], kind="gan")["step"] == int(last[-1].stem[5:])
        proc = _start(["-m", "scmis_core.train", "--resume", str(run), "--no-eval",
                       "--no-progress"], tmp_path / f"k{attempt + 1}.log")
    assert proc.wait(timeout=START_TIMEOUT) == 0, (tmp_path / "k2.log").read_text()[-2000:]
    assert killed_mid_write >= 1  # at least one kill landed inside a checkpoint write
    assert _temps(run) == [] and _temps(run / "samples") == []
    assert _rows(run) == _rows(full)
    a = load_checkpoint(full / "final.pt")["models"]
    b = load_checkpoint(run / "final.pt")["models"]
    for name in ("G", "D", "G_ema"):
        for key in a[name]:
            assert torch.equal(a[name][key], b[name][key]), (name, key)


def _wait_for_rows(proc: subprocess.Popen, log: Path, count: int, log_text: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert proc.poll() is None, log_text.read_text()[-2000:]
        if log.is_file() and len(log.read_text().splitlines()) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"no {count} rows in {log} in time")


@pytest.mark.slow
def test_sigterm_finishes_the_step_and_leaves_a_resumable_checkpoint(tmp_path):
    run = tmp_path / "run"
    out = tmp_path / "run.log"
    proc = _start(_train(run, "train.steps=100000", "train.ckpt_every=100000"), out)
    _wait_for_rows(proc, run / "metrics.jsonl", 2, out)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=300) == 143, out.read_text()[-2000:]
    text = out.read_text()
    last_step = _rows(run)[-1]["step"]
    ckpt = run / f"step_{last_step:07d}.pt"
    assert f"stopped by SIGTERM after step {last_step}; checkpoint {ckpt}" in text
    assert f"resume with: python -m scmis_core.train --resume {run}" in text
    assert "Traceback" not in text and _temps(run) == []
    state = load_checkpoint(ckpt, kind="gan")
    assert state["step"] == last_step and state["log_lines"] == len(_rows(run))
    # It resumes from there (one more step).
    proc = _start(["-m", "scmis_core.train", "--resume", str(run), "--no-eval",
                   "--no-progress", f"train.steps={last_step + 1}"], out)
    assert proc.wait(timeout=START_TIMEOUT) == 0, out.read_text()[-2000:]
    assert [r["step"] for r in _rows(run)] == list(range(1, last_step + 2))


@pytest.mark.slow
def test_sigint_stops_segmenter_training_with_a_checkpoint(tmp_path):
    out = tmp_path / "seg"
    log = tmp_path / "seg.log"
    cmd = ["-m", "scmis_core.segment", "train", "--out", str(out), "--arch", "esanet-r18",
           "--model", "base_width=8", "decoder_blocks=0", "--steps", "100000",
           "--batch-size", "2", "--no-progress", "--log-every", "1", "--device", "cpu",
           "data.height=32", "data.width=32", "data.rooms_train_size=8",
           "data.rooms_test_size=4", "data.num_workers=0"]
    proc = _start(cmd, log)
    _wait_for_rows(proc, out / "metrics.jsonl", 2, log)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=300) == 130, log.read_text()[-2000:]
    text = log.read_text()
    last_step = _rows(out)[-1]["step"]
    ckpt = out / f"step_{last_step:07d}.pt"
    assert f"stopped by SIGINT after step {last_step}; checkpoint {ckpt}" in text
    assert "--resume" in text and "Traceback" not in text and _temps(out) == []
    state = load_checkpoint(ckpt, kind="segmenter")
    assert state["step"] == last_step and "optimizers" in state


def test_stale_temporary_files_of_dead_writers_are_removed(tmp_path):
    """Issue 14 defect 6: a SIGKILLed checkpoint write left ``.step_*.pt.*.tmp`` for ever."""
    # A real writer killed inside atomic_write leaves its temporary behind.
    code = ("import os, signal, sys; from scmis_core.atomic_files import atomic_write; "
            "atomic_write(sys.argv[1], lambda tmp: (tmp.write_bytes(b'x' * 1000), "
            "os.kill(os.getpid(), signal.SIGKILL)))")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "step_0000002.pt")],
                            env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.wait(timeout=300) == -signal.SIGKILL
    [dead] = _temps(tmp_path)
    assert dead.startswith(f".step_0000002.pt.tmp-{HOST}-{proc.pid}-")
    mine = tmp_path / f".final.pt.tmp-{HOST}-{os.getpid()}-abc"  # a live writer's
    other_host = tmp_path / ".final.pt.tmp-elsewhere-999999-abc"
    foreign = tmp_path / ".notes.tmp"  # not our naming
    for path in (mine, other_host, foreign):
        path.write_text("keep")
    assert remove_stale_temp_files(tmp_path) == [tmp_path / dead]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [mine.name, other_host.name, foreign.name])
