"""Generator evaluation: report files, metric keys, paper-layout table."""

from __future__ import annotations

import json

import pytest

from scmis_core.evaluate import main, markdown_table


def test_markdown_table_layout():
    rows = [{"method": "scmis", "modality": "RGB-D",
             "metrics": {"fid": 55.23, "miou": 0.598, "abs_rel": 0.1671, "rmse": 0.5994,
                         "sq_rel": 0.1342, "seed_std_rgb": 12.345, "seed_std_depth_m": 0.0421,
                         "variety_ratio": 0.341, "variety_ratio_features": 0.5}},
            {"method": "scmis-rgb", "modality": "RGB", "metrics": {"fid": 59.2}}]
    table = markdown_table(rows).splitlines()
    assert table[0] == ("| Method | Modality | FID | mIoU | AbsRel | RMSE (m) | SqRel "
                        "| mIoU real | seed std RGB | seed std depth (m) | variety "
                        "| variety (features) |")
    assert table[2] == ("| scmis | RGB-D | 55.2 | 59.8 | 0.167 | 0.599 | 0.134 | N/A | 12.3 "
                        "| 0.042 | 0.34 | 0.50 |")
    assert table[3] == ("| scmis-rgb | RGB | 59.2 | N/A | N/A | N/A | N/A | N/A | N/A | N/A "
                        "| N/A | N/A |")


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


def test_variety_ratio_by_construction():
    """Seeds that copy one real frame's colours exactly: ratio 0; seeds as varied as the real
    frames: ratio near 1."""
    import torch

    from scmis_core.metrics.diversity import (class_colour_means, feature_variety_ratio,
                                              variety_ratio)

    labels = torch.tensor([[[1, 1], [2, 2]]]).repeat(6, 1, 1)  # 6 maps, classes 1 and 2
    rgb = torch.zeros(6, 3, 2, 2)
    rgb[:, :, 0] = torch.linspace(-0.5, 0.5, 6)[:, None, None]
    means = class_colour_means(rgb, labels, 3)
    assert means.shape == (6, 3, 3) and torch.isnan(means[:, 2]).all()
    assert means[0, 0, 0] == pytest.approx(63.75)
    same = means[None].repeat(4, 1, 1, 1)  # 4 seeds, all identical
    assert variety_ratio(same, means)["variety_ratio"] == pytest.approx(0.0)
    varied = torch.stack([means.roll(k, dims=0) for k in range(6)])  # seeds = real frames
    out = variety_ratio(varied, means)
    assert out["variety_ratio"] == pytest.approx(1.0, abs=0.05) and out["variety_classes"] == 2
    feats = torch.randn(10, 16)
    assert feature_variety_ratio(feats[None].repeat(3, 1, 1), feats) == pytest.approx(
        0.0, abs=1e-4)
