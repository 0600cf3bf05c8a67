"""The one-command GPU check: its dry run (the same code on tiny CPU shapes, CUDA parts
skipped with a reason) through bench/gpu_check.sh, and the budget / failure bookkeeping."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scmis_core.gpu_check import Check, anchor_checks, gpu_test_files

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize("threads", ["default", "1"])
def test_dry_run_through_the_shell_script(tmp_path, threads):
    # the machine's default thread count (2 here: the trainer then splits D's passes over
    # two threads, which FlopCounterMode cannot follow) and one thread
    out = tmp_path / "check.json"
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env["PYTHON"] = sys.executable
    if threads != "default":
        env["OMP_NUM_THREADS"] = threads
    proc = subprocess.run(["bash", "bench/gpu_check.sh", "--dry-run", "--json", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    printed = json.loads(proc.stdout.strip().splitlines()[-1])  # one JSON on stdout
    result = json.loads(out.read_text())
    assert printed == result
    assert result["dry_run"] and result["device"] == "cpu" and result["failed"] == []
    # CUDA-marked tests collected and skipped on the CPU, with the reason.
    tests = result["tests"]
    assert "test/test_cuda.py" in tests["files"] and tests["tests"] >= 6
    assert tests["skipped"] == tests["tests"] and tests["failures"] == tests["errors"] == 0
    assert any("CUDA" in reason for reason in tests["skip_reasons"])
    assert result["matmul"]["fp32_tflops"] > 0
    assert [r["batch"] for r in result["inference"]["rows"]] == [1, 2]
    assert all(r["images_per_s"] > 0 for r in result["inference"]["rows"])
    assert [r["providers"] for r in result["onnxruntime"]["rows"]] == \
        [["CPUExecutionProvider"]] * 2
    assert [r["config"] for r in result["training"]] == ["rooms_small", "nyu40_paper"]
    assert all(r["images_per_s"] > 0 and r["tflop_per_step"] > 0 for r in result["training"])
    assert result["ddp"]["backend"] == "gloo" and result["ddp"]["params_changed"] > 0
    skipped = {s["section"]: s["reason"] for s in result["skipped"]}
    assert set(skipped) == {"inference_compiled", "training rooms_small compiled",
                            "training nyu40_paper compiled"}
    assert all("--dry-run" in reason for reason in skipped.values())
    assert result["summary"]["anchors"]["batch1_latency_ms"] == 33.0


def test_sections_respect_the_budget_and_record_failures():
    check = Check(budget_s=5.0, dry_run=False)
    assert check.section("fine", lambda: {"x": 1}) == {"x": 1}
    assert check.section("too long", lambda: 1 / 0, need_s=60) is None
    assert check.section("broken", lambda: 1 / 0) is None
    check.section("gpu only", lambda: 1, cuda_only="needs CUDA")
    res = check.result
    assert res["fine"] == {"x": 1}
    assert [f["section"] for f in res["failed"]] == ["broken"]
    assert "ZeroDivisionError" in res["failed"][0]["error"]
    reasons = {s["section"]: s["reason"] for s in res["skipped"]}
    assert reasons["too long"].startswith("time budget")
    if "gpu only" in reasons:  # no CUDA here
        assert reasons["gpu only"].startswith("needs CUDA")


def test_gpu_marked_files_and_anchor_summary():
    assert "test/test_cuda.py" in gpu_test_files()
    summary = anchor_checks({"inference": {"rows": [
        {"batch": 1, "images_per_s": 40.0, "ms_per_batch": 25.0},
        {"batch": 8, "images_per_s": 170.0, "ms_per_batch": 47.0}]},
        "training": [{"mfu": 0.31}, {"mfu": None}]})
    assert summary["best_inference_images_per_s"] == 170.0
    assert summary["best_batch1_latency_ms"] == 25.0 and summary["best_training_mfu"] == 0.31
