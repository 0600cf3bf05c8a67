"""Experiment driver: a tiny Table 2 + Table 3 end to end, the paper layout, resumable reruns."""

from __future__ import annotations

import json

import pytest

from scmis_core.data.nyuv2 import NYUv2Dataset
from scmis_core.config import from_dict
from scmis_core.experiments import Table2, _named, main
from scmis_core.segment import SegmentOptions
from test_augment import tiny_generator


pytestmark = pytest.mark.usefixtures("one_thread")

ARGS = ["--steps", "2", "--batch-size", "2", "--train-frames", "3", "--variants", "1",
        "--modes", "rgb", "depth", "--ratios", "0.5", "--device", "cpu", "--no-progress",
        "data.height=32", "data.width=32", "data.rooms_test_size=3",
        "--model", "base_width=8", "decoder_blocks=0"]


def test_table2_and_table3_tiny_end_to_end(tmp_path, capsys):
    gen = tiny_generator(tmp_path / "g.pt")
    other = tiny_generator(tmp_path / "oasis.pt")
    out = tmp_path / "exp"
    assert main(["table2", "--generator", str(gen), "--table3", f"OASIS={other}",
                 "--out", str(out), *ARGS]) == 0
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    runs = {r["key"]: r for r in results["runs"]}
    # baseline, the 2x1 grid, the main generator at RGB 0.7 (Table 3 column), OASIS
    assert set(runs) == {"baseline_s0", "SCMIS_rgb_0.5_s0", "SCMIS_depth_0.5_s0",
                         "SCMIS_rgb_0.7_s0", "OASIS_rgb_0.7_s0"}
    assert runs["baseline_s0"]["train_frames"] == 3
    assert runs["SCMIS_rgb_0.5_s0"]["train_frames"] == 6  # 3 real + 3 mixed copies
    mixed = NYUv2Dataset(out / "data" / "SCMIS_rgb_0.5_s0", "train")
    assert len(mixed) == 6
    table = (out / "table2.md").read_text().splitlines()
    base = 100 * runs["baseline_s0"]["miou"]
    rgb = 100 * runs["SCMIS_rgb_0.5_s0"]["miou"]
    assert table[1:4] == ["| Modality | Ratio | mIoU |", "|---|---|---|",
                          f"| - | 0.0 | {base:.2f} |"]
    assert table[4] == f"| RGB | 0.5 | {rgb:.2f} ({rgb - base:+.2f}) |"
    assert table[5].startswith("| Depth | 0.5 | ")
    table3 = (out / "table3.md").read_text()
    assert "| Methods | OASIS | SCMIS |" in table3 and "(not run)" not in table3
    assert "| Modality | Ratio | mIoU |" in printed
    # a rerun finds every run finished and trains nothing
    stamp = (out / "runs" / "baseline_s0" / "segmenter.pt").stat().st_mtime_ns
    assert main(["table2", "--generator", str(gen), "--table3", f"OASIS={other}",
                 "--out", str(out), *ARGS]) == 0
    assert (out / "runs" / "baseline_s0" / "segmenter.pt").stat().st_mtime_ns == stamp
    assert json.loads((out / "results.json").read_text())["runs"] == results["runs"]


def test_table_layout_with_several_seeds(tmp_path):
    gen = tiny_generator(tmp_path / "g.pt")
    driver = Table2(from_dict({}).data, SegmentOptions(), tmp_path,
                    generators={"SCMIS": str(gen)}, modes=["rgb"], ratios=[0.7], seeds=[0, 1])
    results = [{"generator": "", "mode": "none", "ratio": 0.0, "seed": 0, "miou": 0.40},
               {"generator": "", "mode": "none", "ratio": 0.0, "seed": 1, "miou": 0.42},
               {"generator": "SCMIS", "mode": "rgb", "ratio": 0.7, "seed": 0, "miou": 0.45},
               {"generator": "SCMIS", "mode": "rgb", "ratio": 0.7, "seed": 1, "miou": 0.47}]
    lines = driver.table2_markdown(results).splitlines()
    # mean ± sample standard deviation over seeds; change of the means
    assert lines[3] == "| - | 0.0 | 41.00 ± 1.41 |"
    assert lines[4] == "| RGB | 0.7 | 46.00 ± 1.41 (+5.00) |"


def test_bad_arguments(tmp_path, capsys):
    assert main(["table2", "--generator", str(tmp_path / "missing.pt"), "--out",
                 str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "generator SCMIS: checkpoint" in err and "missing.pt not found" in err
    with pytest.raises(ValueError, match="NAME=CHECKPOINT"):
        _named(["=x.pt"], "--table3")


def test_online_mixing_rows_train_on_real_frames_with_the_mixer(tmp_path):
    gen = tiny_generator(tmp_path / "g.pt")
    out = tmp_path / "online"
    args = [a for a in ARGS if a != "depth"]  # modes: rgb only
    assert main(["table2", "--generator", str(gen), "--mixing", "online", "--raw-weights",
                 "--out", str(out), *args]) == 0
    runs = {r["key"]: r for r in json.loads((out / "results.json").read_text())["runs"]}
    assert set(runs) == {"baseline_s0", "SCMIS_rgb_0.5_s0"}
    assert runs["SCMIS_rgb_0.5_s0"]["train_frames"] == 3  # real frames, mixed on the fly
    opts = json.loads((out / "runs" / "SCMIS_rgb_0.5_s0" / "options.json").read_text())
    assert opts["mix_checkpoint"] == str(gen) and opts["mix_p"] == 0.5  # 1 / (1 + 1)
    assert opts["mix_mode"] == "rgb" and opts["mix_ratio"] == 0.5 and opts["mix_raw_weights"]
    assert not (out / "data").exists()
