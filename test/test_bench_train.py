"""python -m scmis_core.bench train on a tiny config: every flag runs, every path is timed and
the ratios are printed (the figures themselves are machine-dependent and not checked)."""

from __future__ import annotations

import re

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
                           "--no-share-fake", "--head-width", "8", "--ablations"]) == 0
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    for name in ("new", "old"):
        assert re.search(rf"^  {name} +[0-9.]+ img/s \([0-9.]+ s/step\)  "
                         rf"{name}/old = [0-9.]+x$", out, re.M), name
    for name in ABLATIONS:
        assert re.search(rf"^  new {re.escape(name)} +[0-9.]+ img/s  new {re.escape(name)}/old "
                         rf"= [0-9.]+x$", out, re.M), name
    new_line = next(line for line in out.splitlines() if line.startswith("  new  "))
    for override in ("train.split_d=false", "train.fused_adam=false", "train.fused_ema=false",
                     "train.share_fake=false", "model.disc_head_width=8"):
        assert override in new_line
