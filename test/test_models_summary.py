"""``python -m scmis_core.models --summary``: every variant, parameter counts, MAC counting."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import torch
from torch import nn

from scmis_core.models import VARIANTS
from scmis_core.models.__main__ import count_macs, count_params, main, summary_rows


def test_count_macs_and_params_of_a_known_conv():
    conv = nn.Conv2d(2, 3, 3, padding=1)
    macs = count_macs(conv, lambda: (torch.zeros(1, 2, 8, 8),))
    assert macs == 3 * 2 * 9 * 8 * 8
    assert count_params(conv) == 3 * 2 * 9 + 3


@pytest.mark.slow
def test_summary_prints_every_variant(capsys):
    assert main(["--summary", "--num-classes", "5", "--size", "64"]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    for name, spec in VARIANTS.items():
        row = [line for line in lines if line.split()[:1] == [name]]
        assert len(row) == 1, name
        params = [float(x) for x in re.findall(r"([\d.]+) M", row[0])]
        n_gen = 2  # paper and small width
        assert len(params) == n_gen + (1 if spec.disc_input != "none" else 0)
        assert params[0] > params[1] > 0  # paper width is the larger model


@pytest.mark.slow
def test_summary_rows_numbers():
    rows = {r["variant"]: r for r in summary_rows(num_classes=41, size=256)}
    assert set(rows) == set(VARIANTS)

    def millions(text):
        return float(text.split()[0])

    # OASIS-G at width 64: 71.3 M parameters, 322 GFLOP per 256x256 (docs/design.md §7).
    assert abs(millions(rows["oasis"]["G paper params"]) - 71.3) / 71.3 < 0.05
    assert abs(float(rows["oasis"]["G paper GMACs"]) - 161) / 161 < 0.05
    # Two decoders cost more than one; 4dgen is one decoder with a 4-channel head.
    assert millions(rows["scmis"]["G paper params"]) > millions(rows["4dgen"]["G paper params"])
    assert rows["scmis-rgb"]["G small params"] == rows["4dgen"]["G small params"]
    assert rows["scmis-depth"]["D params"] == "-"


def test_cli_rejects_bad_size(repo_root):
    proc = subprocess.run([sys.executable, "-m", "scmis_core.models", "--summary",
                           "--size", "30"], capture_output=True, text=True, timeout=120,
                          cwd=repo_root)
    assert proc.returncode == 2
    assert "--size: expected a multiple of 2**num_scales = 32, found 30" in proc.stderr


@pytest.mark.parametrize("argv", [[], ["--help"]])
def test_cli_help(argv, capsys):
    if argv:
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 0
    else:
        assert main(argv) == 0
    assert "--summary" in capsys.readouterr().out
