"""Experiment drivers end to end at toy scale: real 2-step runs, the results page from their
JSONs, and a SIGKILLed driver that a rerun finishes without redoing finished runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scmis_core.experiments import main
from test_augment import tiny_generator

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.slow]

T2_ARGS = ["--preset", "toy", "--labelled", "4", "--protocols", "b", "--steps", "2",
           "--batch-size", "2", "--variants", "1", "--modes", "rgb", "--ratios", "0.5",
           "--arch", "unet-rgbd", "data.height=32", "data.width=32",
           "data.rooms_test_size=3", "--model", "widths=[4,8]"]


def test_toy_tables_and_results_page(tmp_path, capsys):
    t1 = tmp_path / "t1"
    assert main(["table1", "--preset", "toy", "--rows", "scmis", "scmis-depth", "--segmenter",
                 "", "--num-images", "4", "--reps", "20", "--out", str(t1)]) == 0
    results = {p.stem: json.loads(p.read_text()) for p in (t1 / "results").glob("*.json")}
    # scmis-depth has no RGB, so the "two best by FID" second seed goes to scmis alone
    assert set(results) == {"scmis_s0", "scmis-depth_s0", "scmis_s1"}
    scmis = results["scmis_s0"]
    assert scmis["steps"] == 2 and scmis["num_images"] == 4 and scmis["seed"] == 0
    assert set(scmis["metrics"]) >= {"fid", "abs_rel", "rmse", "sq_rel"}
    for name, (low, high) in scmis["ci"].items():
        assert low <= high, name
    assert [p["step"] for p in scmis["curve"]] == [0, 2]
    assert scmis["curve"][-1]["fid"] == pytest.approx(scmis["metrics"]["fid"])
    assert "fid" not in results["scmis-depth_s0"]["metrics"]
    assert (t1 / "samples" / "scmis_s0.png").is_file() and (t1 / "per_image").is_dir()
    # the same numbers as python -m scmis_core.evaluate (same frames, noise and batches)
    from scmis_core.config import from_dict
    from scmis_core.evaluate import GeneratorEvaluator, test_dataset
    from scmis_core.synthesize import Synthesizer

    synth = Synthesizer.from_checkpoint(scmis["checkpoint"], device="cpu")
    cfg = from_dict(synth.config)
    want = GeneratorEvaluator(test_dataset(cfg), synth.num_classes, num_images=4,
                              batch_size=cfg.eval.batch_size)(synth.generator)
    for name in ("fid", "abs_rel", "rmse", "sq_rel"):
        assert scmis["metrics"][name] == pytest.approx(want[name], rel=1e-6), name

    gen = tiny_generator(tmp_path / "g.pt")
    t2 = tmp_path / "t2"
    assert main(["table2", *T2_ARGS, "--generator", str(gen), "--seeds", "0", "1",
                 "--out", str(t2)]) == 0
    runs = {r["key"]: r for r in json.loads((t2 / "results.json").read_text())["runs"]}
    assert set(runs) == {"n4_baseline_s0", "n4_baseline_s1", "n4_b_SCMIS_rgb_0.5_s0",
                         "n4_b_SCMIS_rgb_0.5_s1"}
    assert runs["n4_baseline_s0"]["train_frames"] == 4
    assert runs["n4_b_SCMIS_rgb_0.5_s0"]["train_frames"] == 8  # 4 real + 4 mixed copies
    assert "| RGB | 0.5 |" in (t2 / "table2.md").read_text()

    page = tmp_path / "docs" / "results.md"
    assert main(["report", "--table1", str(t1), "--table2", str(t2), "--out", str(page),
                 "--reps", "20"]) == 0
    text = page.read_text()
    data = tmp_path / "docs" / "results" / "data"
    assert (data / "table1" / "scmis_s0.json").is_file()
    assert (data / "table2" / "n4_b_SCMIS_rgb_0.5_s1.json").is_file()
    assert not list(data.rglob("*.pt")) and not list(data.rglob("*.npz"))  # small files only
    for figure in ("table1_curves.png", "table1_samples.png", "table2_miou.png"):
        assert (tmp_path / "docs" / "results" / figure).is_file()
        assert f"(results/{figure})" in text
    assert "| SCMIS | RGB-D | 0, 1 |" in text and "| 55.2 | 59.8 |" in text
    assert "| Joint RGB-D generation gives better depth" in text
    assert "SCMIS has the lowest FID among the RGB-D generators (Tables 1, 6) | **not run**" \
        in text
    assert "Class-mix with SCMIS improves the segmenter (4 labelled frames, protocol b" in text
    assert "python -m scmis_core.experiments table1 --preset toy" in text
    # the page can be rebuilt from the collected data alone
    before = text
    assert main(["report", "--out", str(page)]) == 0
    assert page.read_text() == before


def test_sigkilled_driver_resumes_without_redoing_finished_runs(tmp_path):
    gen = tiny_generator(tmp_path / "g.pt")
    out = tmp_path / "exp"
    args = ["table2", *T2_ARGS, "--generator", str(gen), "--seeds", "0", "1", "2",
            "--out", str(out)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "scmis_core.experiments", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                            cwd=Path(__file__).resolve().parents[1])
    first = out / "results" / "n4_baseline_s0.json"
    deadline = time.monotonic() + 600
    while not first.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert first.is_file(), "the driver finished no run"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {p.name: (p.stat().st_mtime_ns, p.read_text())
              for p in (out / "results").glob("*.json")}
    assert main(args + ["--jobs", "2"]) == 0  # the rest in two worker processes
    after = {p.name: (p.stat().st_mtime_ns, p.read_text())
             for p in (out / "results").glob("*.json")}
    for name, stamp in before.items():
        assert after[name] == stamp, f"{name} was redone"
    assert len(after) == 7  # 3 baselines, the mixed data, 3 mixed runs
    meta = json.loads((out / "experiment.json").read_text())
    assert meta["invocations"][0]["summary"] == "interrupted (or still running)"
    assert f"{len(before)} already finished" in meta["invocations"][1]["summary"]
    logs = {p.stem for p in (out / "logs").glob("*.log")}
    assert logs == {p[:-5] for p in after} - {p[:-5] for p in before}  # worker processes
