"""Trainer: run folder, exact resume, corrupt checkpoints, NaN guard, DDP on gloo."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from scmis_core.checkpoint import CheckpointError, load_checkpoint
from scmis_core.config import from_dict
from scmis_core.engine.batches import ResumableSampler
from scmis_core.train import Trainer, TrainingDiverged, main

TINY = ["data.height=32", "data.width=32", "data.rooms_train_size=16",
        "data.rooms_test_size=4", "data.num_workers=0", "model.width=4", "model.num_scales=3",
        "model.spade_hidden=8", "model.z_dim=8", "model.disc_width=8",
        "model.disc_head_width=16", "train.batch_size=2", "train.log_every=1",
        "train.sample_every=100", "train.ema_decay=0.9"]


def tiny_cfg(**sections):
    data = {"data": {"height": 32, "width": 32, "rooms_train_size": 16, "rooms_test_size": 4,
                     "num_workers": 0},
            "model": {"width": 4, "num_scales": 3, "spade_hidden": 8, "z_dim": 8,
                      "disc_width": 8, "disc_head_width": 16},
            "train": {"batch_size": 2, "log_every": 1, "sample_every": 100, "ema_decay": 0.9,
                      "steps": 4, "ckpt_every": 2}}
    for key, value in sections.items():
        data.setdefault(key, {}).update(value)
    return from_dict(data)


def read_losses(run_dir: Path) -> dict[int, dict[str, float]]:
    out = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if "loss/g_total" in record:
            out[record["step"]] = record
    return out


def test_sampler_resumes_mid_epoch_and_shards():
    full = list(ResumableSampler(10, seed=3))
    assert sorted(full) == list(range(10))
    s = ResumableSampler(10, seed=3)
    s.set_position(0, 4)
    assert list(s) == full[4:]
    s.set_position(1, 0)
    assert list(s) != full
    r0, r1 = ResumableSampler(10, 3, 0, 2), ResumableSampler(10, 3, 1, 2)
    assert len(list(r0)) == len(list(r1)) == 5
    assert sorted(list(r0) + list(r1)) == sorted(full)


@pytest.mark.slow
def test_run_folder_and_exact_resume(tmp_path):
    full, part = tmp_path / "full", tmp_path / "part"
    common = TINY + ["train.ckpt_every=2", "train.keep_last=5"]
    assert main(["--run-dir", str(full), "--no-eval", "--no-progress", "train.steps=4",
                 *common]) == 0
    # Run folder contents.
    for name in ("config.yaml", "metrics.jsonl", "final.pt", "summary.json",
                 "step_0000002.pt", "step_0000004.pt"):
        assert (full / name).is_file(), name
    assert list((full / "samples").glob("step_*.png"))
    assert list((full / "tb").iterdir())
    state = load_checkpoint(full / "final.pt", kind="gan")
    assert state["step"] == 4 and {"G", "D", "G_ema"} <= set(state["models"])
    assert {"G", "D"} <= set(state["optimizers"]) and "rng" in state
    # Stop at 2, resume to 4: the losses of steps 3..4 equal the uninterrupted run's.
    assert main(["--run-dir", str(part), "--no-eval", "--no-progress", "train.steps=2",
                 *common]) == 0
    assert main(["--resume", str(part), "--no-eval", "--no-progress", "train.steps=4"]) == 0
    a, b = read_losses(full), read_losses(part)
    assert sorted(b) == [1, 2, 3, 4]
    for step in (1, 2, 3, 4):
        for key in ("loss/d_total", "loss/g_total", "loss/g_adv", "loss/g_depth"):
            assert a[step][key] == b[step][key], (step, key, a[step][key], b[step][key])
    final_a = load_checkpoint(full / "final.pt")["models"]["G"]
    final_b = load_checkpoint(part / "final.pt")["models"]["G"]
    for key in final_a:
        assert torch.equal(final_a[key], final_b[key]), key


def test_lr_decay_schedule_and_resume_with_new_learning_rates(tmp_path):
    trainer = Trainer(tiny_cfg(train={"steps": 10, "lr_decay_steps": 4, "lr_g": 1e-3,
                                      "lr_d": 2e-3}), tmp_path, progress=False)
    # constant until the last 4 steps, then (10 - step) / 4 of the configured rates
    assert [trainer.lr_scale(s) for s in (0, 5, 6, 7, 8, 9)] == [1, 1, 1, 0.75, 0.5, 0.25]
    trainer.step = 8
    trainer._apply_optimizer_settings()
    assert trainer.opt_g.param_groups[0]["lr"] == pytest.approx(5e-4)
    assert trainer.opt_d.param_groups[0]["lr"] == pytest.approx(1e-3)
    # a checkpoint's optimiser state carries its learning rates; the resuming config wins
    trainer.step = 0
    trainer.fit(steps=2)
    path = trainer.save()
    resumed = Trainer(tiny_cfg(train={"steps": 10, "lr_g": 3e-5, "lr_d": 6e-5,
                                      "beta2": 0.99}), tmp_path / "resumed", progress=False)
    resumed.load_state_dict(load_checkpoint(path, kind="gan"), path)
    assert resumed.opt_g.param_groups[0]["lr"] == 1e-3  # what the checkpoint carried
    resumed.train_step(next(iter(resumed.stream.from_step(resumed.step))))
    assert resumed.opt_g.param_groups[0]["lr"] == pytest.approx(3e-5)
    assert resumed.opt_d.param_groups[0]["lr"] == pytest.approx(6e-5)
    assert resumed.opt_g.param_groups[0]["betas"] == (0.0, 0.99)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["lr/g"] for r in rows if "lr/g" in r] == [1e-3, 1e-3]


@pytest.mark.slow
def test_keep_last_prunes_old_checkpoints(tmp_path):
    trainer = Trainer(tiny_cfg(train={"keep_last": 2, "ckpt_every": 1, "steps": 4}), tmp_path,
                      progress=False)
    trainer.fit()
    assert sorted(p.name for p in tmp_path.glob("step_*.pt")) == [
        "step_0000003.pt", "step_0000004.pt"]


def test_corrupt_and_mismatched_checkpoints(tmp_path):
    trainer = Trainer(tiny_cfg(), tmp_path, progress=False)
    path = trainer.save("good.pt")
    data = path.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated.pt.*corrupt or truncated"):
        load_checkpoint(truncated)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="garbage.pt"):
        load_checkpoint(garbage)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_checkpoint(empty)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="expected an scmis checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    state = load_checkpoint(path)
    # Wrong class count.
    state_nc = dict(state, num_classes=12)
    with pytest.raises(CheckpointError, match="12 classes"):
        trainer.load_state_dict(state_nc, path)
    # Wrong variant.
    other = Trainer(tiny_cfg(model={"variant": "oasis", "disc": "pp"}), tmp_path / "o",
                    progress=False)
    with pytest.raises(CheckpointError, match="variant 'scmis'"):
        other.load_state_dict(state, path)
    # The CLI reports a corrupt resume target in one line with exit code 2.
    assert main(["--resume", str(truncated), "--no-progress"]) == 2


def test_cli_errors_are_one_line_with_exit_code_2(tmp_path, capsys):
    """train.main uses the shared entry point: expected failures are one line, exit 2."""
    for argv, message in (
            (["--resume", str(tmp_path / "nowhere")], "--resume .*nowhere: no such file"),
            (["--resume", str(tmp_path)], "no step_\\*.pt checkpoint"),
            (["train.steps=nan"], "train.steps"),
            (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
            (["--run-dir", str(tmp_path / "file.txt")], "expected a folder, found a file")):
        (tmp_path / "file.txt").write_text("x")
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code
        err = capsys.readouterr().err
        assert code == 2, (argv, err)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), (argv, err)
        assert re.search(message, lines[0]), (argv, lines[0])


@pytest.mark.slow
def test_nan_guard_stops_and_keeps_last_checkpoint(tmp_path, monkeypatch):
    trainer = Trainer(tiny_cfg(train={"steps": 6, "ckpt_every": 2}), tmp_path, progress=False)
    # from_outputs builds the G loss on both paths (one D pass and train.split_d).
    original = trainer.g_loss.__class__.from_outputs
    calls = {"n": 0}

    def poisoned(self, *args, **kwargs):
        total, terms = original(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 3:  # the G loss of step 3 becomes NaN
            total = total * float("nan")
        return total, terms

    monkeypatch.setattr(trainer.g_loss.__class__, "from_outputs", poisoned)
    with pytest.raises(TrainingDiverged, match="step 3.*not finite"):
        trainer.fit()
    good = load_checkpoint(tmp_path / "step_0000002.pt")
    assert good["step"] == 2
    assert not (tmp_path / "step_0000003.pt").exists()
    assert not list(tmp_path.glob(".*.tmp-*"))  # no temporary of a checkpoint write
    for tensor in good["models"]["G"].values():
        assert torch.isfinite(tensor.float()).all()


@pytest.mark.slow
def test_every_variant_trains_one_step(tmp_path):
    for variant, disc in (("scmis", "pp"), ("scmis-rgb", "upsample"), ("scmis-depth", "pp"),
                          ("4dgen", "unet"), ("rgbd-oasis", "rgbd-pp")):
        trainer = Trainer(tiny_cfg(model={"variant": variant, "disc": disc}),
                          tmp_path / variant, progress=False)
        batch = next(trainer.stream.from_step(0))
        losses = trainer.train_step(batch)
        assert all(torch.isfinite(torch.tensor(v)) for v in losses.values()), (variant, losses)
        assert ("d_total" in losses) == (variant != "scmis-depth")
        assert ("g_depth" in losses) == (variant != "scmis-rgb")


@pytest.mark.slow
def test_ddp_gloo_two_processes(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(29500 + os.getpid() % 1000),
           "-m", "scmis_core.train", "--run-dir", str(tmp_path), "--no-eval", "--no-progress",
           "train.steps=2", "train.ckpt_every=2", *TINY]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = load_checkpoint(tmp_path / "final.pt")
    assert state["step"] == 2 and state["world_size"] == 2
    losses = read_losses(tmp_path)
    assert sorted(losses) == [1, 2]  # rank 0 alone writes the log


# A SyncBatchNorm that runs on the CPU: the cross-rank statistics go through an autograd-aware
# all_reduce on the gloo group, so a forward on one rank alone waits for the others exactly
# as the CUDA kernel does (torch's own SyncBatchNorm, and DDP around it, refuse CPU tensors).
SYNC_BN_RUN = r'''
import json, sys
import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
import torch.nn.functional as F
from torch import nn


def cpu_sync_batch_norm(self, x):
    if not self.training:
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            False, 0.0, self.eps)
    dims = [0] + list(range(2, x.dim()))
    count = torch.full((1,), x.numel() / x.shape[1], dtype=x.dtype)
    stats = dist_fn.all_reduce(torch.cat([x.sum(dims), (x * x).sum(dims), count]))
    c = x.shape[1]
    n = stats[-1]
    mean, var = stats[:c] / n, stats[c:2 * c] / n - (stats[:c] / n) ** 2
    with torch.no_grad():
        self.num_batches_tracked.add_(1)
        factor = (1.0 / float(self.num_batches_tracked) if self.momentum is None
                  else self.momentum)
        self.running_mean.lerp_(mean.detach(), factor)
        self.running_var.lerp_(var.detach() * n / max(float(n) - 1, 1.0), factor)
    shape = [1, c] + [1] * (x.dim() - 2)
    y = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
    if self.weight is None:  # affine=False (SPADE's parameter-free normalisation)
        return y
    return y * self.weight.view(shape) + self.bias.view(shape)


nn.SyncBatchNorm.forward = cpu_sync_batch_norm
nn.parallel.DistributedDataParallel._passing_sync_batchnorm_handle = lambda self, module: None

from scmis_core.config import load_config  # noqa: E402
from scmis_core.train import Trainer, init_distributed  # noqa: E402

info = init_distributed()
cfg = load_config(None, sys.argv[2:])
trainer = Trainer(cfg, sys.argv[1], dist_info=info, progress=False, sync_batchnorm=True)
result = trainer.fit()  # rank 0 refreshes the EMA's BN for init.pt, samples, checkpoints
kinds = lambda m: sorted({type(x).__name__ for x in m.modules() if "BatchNorm" in
                          type(x).__name__})
if info.is_main:
    with open(f"{sys.argv[1]}/bn.json", "w") as f:
        json.dump({"G": kinds(trainer.generator), "G_ema": kinds(trainer.G_ema),
                   "steps": result["steps"]}, f)
dist.barrier()
dist.destroy_process_group()
'''


@pytest.mark.slow
def test_ddp_sync_batchnorm_with_ema_finishes(tmp_path):
    """Issue 13 bug 2: G_ema was deep-copied after the SyncBatchNorm conversion, and its BN
    refresh (rank 0 only, train mode) entered a collective the other rank never joined."""
    script = tmp_path / "sync_bn_run.py"
    script.write_text(SYNC_BN_RUN)
    env = dict(os.environ, OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1",
               PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(30500 + os.getpid() % 1000),
           str(script), str(tmp_path / "run"), "train.steps=2", "train.ckpt_every=1",
           "train.sample_every=1", *TINY]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600,
                              start_new_session=True)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"2-rank SyncBatchNorm training hung: {exc.stderr}") from None
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads((tmp_path / "run" / "bn.json").read_text())
    assert found == {"G": ["SyncBatchNorm"], "G_ema": ["BatchNorm2d"], "steps": 2}
    state = load_checkpoint(tmp_path / "run" / "final.pt")
    assert state["world_size"] == 2 and "G_ema" in state["models"]


def _rows(run_dir: Path) -> list[dict]:
    """metrics.jsonl without the wall-clock times."""
    return [{k: v for k, v in json.loads(line).items() if k != "time"}
            for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _tb_steps(run_dir: Path, tag: str) -> list[int]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tb"))
    acc.Reload()
    return [event.step for event in acc.Scalars(tag)]


class _Crash(BaseException):
    """Stands in for SIGKILL: nothing after it runs (no final checkpoint, no summary)."""


def test_resume_after_a_crash_logs_each_step_once(tmp_path, monkeypatch):
    """Issue 14 defect 5: the rows of the steps lost after the last checkpoint were logged
    again by the resumed run (metrics.jsonl and TensorBoard)."""
    cfg = tiny_cfg(train={"steps": 4, "ckpt_every": 2})
    Trainer(cfg, tmp_path / "full", progress=False).fit()
    crashed = Trainer(cfg, tmp_path / "part", progress=False)
    step = crashed.train_step

    def dies_in_step_4(batch):
        if crashed.step == 3:
            raise _Crash
        return step(batch)

    monkeypatch.setattr(crashed, "train_step", dies_in_step_4)
    with pytest.raises(_Crash):
        crashed.fit()
    assert [r["step"] for r in _rows(tmp_path / "part")] == [1, 2, 3]  # step 3 is lost
    with open(tmp_path / "part" / "metrics.jsonl", "a") as log:
        log.write('{"step": 3, "loss/g_t')  # a row torn by the kill
    assert main(["--resume", str(tmp_path / "part"), "--no-eval", "--no-progress"]) == 0
    assert _rows(tmp_path / "part") == _rows(tmp_path / "full")
    assert _tb_steps(tmp_path / "part", "loss/g_total") == [1, 2, 3, 4]
    assert load_checkpoint(tmp_path / "part" / "final.pt")["log_lines"] == 4
