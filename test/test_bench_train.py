"""python -m scmis_core.bench train on a tiny config: every flag runs, every path is timed and
the ratios are printed (the figures themselves are machine-dependent and not checked)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from scmis_core.bench import main as bench_main
from scmis_core.bench_train import ABLATIONS, OLD_PATH
from scmis_core.config import Config

TINY = {"data": {"source": "rooms", "height": 32, "width": 32, "rooms_test_size": 4,
                 "num_workers": 0, "cache": True},
        "model": {"width": 4, "num_scales": 3, "spade_hidden": 8, "z_dim": 8,
                  "disc_width": 8, "disc_head_width": 16, "disc_logit_stride": 2},
        "loss": {"labelmix_every": 2},
        "train": {"batch_size": 2}}


def test_every_switch_is_a_config_key():
    keys = {k for spec in (OLD_PATH, *ABLATIONS.values()) for k in spec}
    fields = Config().to_dict()
    for key in keys:
        section, name = key.split(".")
        assert name in fields[section], key


@pytest.mark.slow
def test_bench_train_flags_and_ablations_run(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SCMIS_CACHE_DIR", str(tmp_path / "cache"))
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    threads = torch.get_num_threads()
    try:
        assert bench_main(["train", "--config", str(config), "--frames", "8", "--steps", "1",
                           "--rounds", "1", "--warmup", "1", "--threads", "2",
                           "--no-split-d", "--no-fused-adam", "--no-fused-ema",
                           "--no-share-fake", "--head-width", "8", "--ablations",
                           "--bound"]) == 0
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    for name in ("new", "old", "new@1-thread", "new@1-thread-half"):
        assert re.search(rf"^  {name} +[0-9.]+ img/s \([0-9.]+ s/step\)  "
                         rf"{name}/old = [0-9.]+x$", out, re.M), name
    for bound in ("two-core bound", "halves bound"):
        assert re.search(rf"^{bound} \(.*\): [0-9.]+ img/s \([0-9.]+ s/step\)  "
                         r"bound/old = [0-9.]+x; new reaches [0-9]+% of it$", out, re.M), bound
    for name in ABLATIONS:
        assert re.search(rf"^  new {re.escape(name)} +[0-9.]+ img/s  new {re.escape(name)}/old "
                         rf"= [0-9.]+x$", out, re.M), name
    new_line = next(line for line in out.splitlines() if line.startswith("  new  "))
    for override in ("train.split_d=false", "train.fused_adam=false", "train.fused_ema=false",
                     "train.share_fake=false", "model.disc_head_width=8"):
        assert override in new_line


def test_train_steps_script_times_a_config(tmp_path):
    """bench/train_steps.py (what bench/release_vs_head.sh runs on the release and on this
    checkout) prints its seconds per step and images/s."""
    root = Path(__file__).resolve().parents[1]
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    env = {**os.environ, "PYTHONPATH": str(root), "SCMIS_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, str(root / "bench" / "train_steps.py"), str(config),
                           "--steps", "1", "--warmup", "0", "--threads", "1", "--frames", "8",
                           "train.batch_size=2"],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"[0-9.]+ s/step  [0-9.]+ img/s\n", done.stdout), done.stdout
