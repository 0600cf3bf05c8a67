"""Generator evaluation: report files, metric keys, paper-layout table."""

from __future__ import annotations

import json

import pytest

from scmis_core.evaluate import main, markdown_table


def test_markdown_table_layout():
    rows = [{"method": "scmis", "modality": "RGB-D",
             "metrics": {"fid": 55.23, "miou": 0.598, "abs_rel": 0.1671, "rmse": 0.5994,
                         "sq_rel": 0.1342, "seed_std_rgb": 12.345, "seed_std_depth_m": 0.0421}},
            {"method": "scmis-rgb", "modality": "RGB", "metrics": {"fid": 59.2}}]
    table = markdown_table(rows).splitlines()
    assert table[0] == ("| Method | Modality | FID | mIoU | AbsRel | RMSE (m) | SqRel "
                        "| mIoU real | seed std RGB | seed std depth (m) |")
    assert table[2] == ("| scmis | RGB-D | 55.2 | 59.8 | 0.167 | 0.599 | 0.134 | N/A | 12.3 "
                        "| 0.042 |")
    assert table[3] == "| scmis-rgb | RGB | 59.2 | N/A | N/A | N/A | N/A | N/A | N/A | N/A |"


@pytest.mark.slow
def test_cli_reports_fid_and_depth(tiny_gan_checkpoint, tmp_path):
    init = tiny_gan_checkpoint.parent / "init.pt"
    out = tmp_path / "report"
    assert main(["--checkpoint", str(init), "--checkpoint", str(tiny_gan_checkpoint),
                 "--num-images", "4", "--device", "cpu", "--out", str(out)]) == 0
    rows = json.loads((out / "report.json").read_text())
    assert [r["num_images"] for r in rows] == [4, 4]
    for row in rows:
        m = row["metrics"]
        assert m["fid"] > 0 and m["abs_rel"] > 0 and m["rmse"] > 0 and m["sq_rel"] > 0
        # Noise enters the generator: different seeds of one label map differ.
        assert m["seed_std_rgb"] > 0 and m["seed_std_depth_m"] > 0
    assert "| scmis (" in (out / "report.md").read_text()
    assert main(["--checkpoint", str(tmp_path / "missing.pt"), "--out", str(out)]) == 2


def test_memory_limit_holds_at_the_evaluation_size(tiny_gan_checkpoint, tmp_path, capsys):
    """data.height / data.width overrides: the limit is checked at that size before any
    test frame is made (a 4096x4096 evaluation allocated 5.5 GB before)."""
    code = main(["--checkpoint", str(tiny_gan_checkpoint), "--num-images", "2", "--device",
                 "cpu", "--out", str(tmp_path / "r"), "--max-memory-mb", "200",
                 "data.height=4096", "data.width=4096"])
    assert code == 2
    err = capsys.readouterr().err
    assert "4096x4096" in err and "--max-memory-mb" in err and "Traceback" not in err
