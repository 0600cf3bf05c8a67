"""python -m scmis_core.bench gen on a tiny generator: every backend timed against the matmul
figure, the JSON written, bf16 skipped with its reason where the CPU has no native bf16."""

from __future__ import annotations

import json

import pytest

from scmis_core.bench import main as bench_main
from scmis_core.bench_gen import graph_flops, network_size, build_bench_generator

pytestmark = pytest.mark.usefixtures("one_thread")


def test_bench_gen_tiny_run(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "gen.json"
    assert bench_main(["gen", "--sizes", "30x44", "--width", "4", "--spade-hidden", "8",
                       "--num-scales", "3", "--backends", "eager", "onnxruntime", "--bf16",
                       "--min-seconds", "0", "--max-iters", "1", "--threads", "1",
                       "--cpu-time", "--markdown", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    rows = {(r["backend"], r["precision"]): r for r in result["rows"]}
    for backend in ("eager", "onnxruntime"):
        row = rows[(backend, "fp32")]
        assert row["net_size"] == "32x48" and row["size"] == "30x44"
        assert row["gflops"] > 0 and 0 < row["fraction_of_matmul"] < 5
    assert result["machine"]["clock"] == "process CPU time"
    skipped = {(s["backend"], s["precision"]): s["reason"] for s in result["skipped"]}
    assert "fp32 export" in skipped[("onnxruntime", "bf16")]
    peak = result["machine"]["matmul_gflops"]
    if peak["bf16"] < 0.25 * peak["fp32"]:  # no native bf16 (this project's CI CPUs)
        assert "no native bf16" in skipped[("eager", "bf16")]
    else:
        assert ("eager", "bf16") in rows
    assert "| onnxruntime | 30x44 (32x48) |" in capsys.readouterr().out


def test_flops_and_network_size():
    assert network_size(240, 320, 5) == (256, 320) and network_size(480, 640, 5) == (480, 640)
    gen = build_bench_generator(width=4, spade_hidden=8, num_scales=3, z_dim=8)
    one, four = graph_flops(gen, 40, 1, 32, 48), graph_flops(gen, 40, 4, 32, 48)
    assert one > 0 and four == 4 * one
