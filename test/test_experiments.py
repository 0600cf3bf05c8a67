"""Experiment drivers: run lists, resumability, budgets, paper-preset listings, statistics."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scmis_core.experiments import Runner, RunSpec, _named, main, runner as runner_mod
from scmis_core.experiments.tables import cell_verdict, paired_stats, table2_markdown
from scmis_core.metrics import bootstrap as bs
from scmis_core.metrics.depth import DepthErrors
from scmis_core.metrics.fid import frechet_distance
from scmis_core.metrics.segmentation import ConfusionMatrix


pytestmark = pytest.mark.usefixtures("one_thread")


# ------------------------------------------------------------------------------------------
# Bootstrap helpers agree with the metrics they resample.


def test_fid_from_features_equals_frechet_distance():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(40, 96))
    fake = rng.normal(0.3, 1.2, size=(30, 96)) + real[:30] * 0.5
    want = frechet_distance(real.mean(0), np.cov(real, rowvar=False), fake.mean(0),
                            np.cov(fake, rowvar=False), method="eig")
    assert bs.fid_from_features(real, fake) == pytest.approx(want, rel=1e-7)
    draws = bs.fid_resamples(real, real[::-1] + 0.1, reps=30, seed=1)
    assert draws.shape == (30,) and np.isfinite(draws).all()
    assert np.array_equal(draws, bs.fid_resamples(real, real[::-1] + 0.1, reps=30, seed=1))
    with pytest.raises(ValueError, match="equal size"):
        bs.fid_resamples(real, fake, reps=2)


def test_fid_interval_is_moved_by_the_resampling_bias():
    # resampled sets repeat frames, so every resampled FID lies above the full-set one; the
    # plain percentile interval then misses the point estimate, the shifted one brackets it
    rng = np.random.default_rng(3)
    real = rng.normal(size=(60, 32))
    fake = rng.normal(0.2, 1.1, size=(60, 32))
    point = bs.fid_from_features(real, fake)
    draws = bs.fid_resamples(real, fake, reps=200, seed=0)
    low, high = bs.percentile_interval(draws)
    assert low > point  # the bias this guards against
    s_low, s_high = bs.shifted_interval(point, draws)
    assert s_low < point < s_high
    assert s_high - s_low == pytest.approx(high - low)


def test_paired_fid_difference_is_shifted_and_spans_every_seed():
    from scmis_core.experiments.tables import _paired_fid_diff

    rng = np.random.default_rng(4)
    real = rng.normal(size=(60, 16))
    a = [rng.normal(0.3, 1.1, size=(60, 16)), rng.normal(0.6, 1.3, size=(60, 16))]
    b = [rng.normal(0.1, 1.0, size=(60, 16))]
    point, low, high = _paired_fid_diff(real, a, b, reps=200)
    fid = bs.fid_from_features
    want = np.mean([fid(real, f) for f in a]) - fid(real, b[0])
    assert point == pytest.approx(want)
    assert low < point < high
    # one seed per row: narrower than with the second, far-off seed of A in the draws
    _, low1, high1 = _paired_fid_diff(real, a[:1], b, reps=200)
    assert high1 - low1 < high - low


def test_report_collect_mirrors_the_experiment_folder(tmp_path):
    from scmis_core.experiments.report import collect

    exp, data = tmp_path / "exp", tmp_path / "data"
    (exp / "results").mkdir(parents=True)
    (exp / "results" / "a_s0.json").write_text(json.dumps({"key": "a_s0", "kind": "seg",
                                                             "spec": {}}))
    data.mkdir()
    (data / "stale_s1.json").write_text("{}")  # collected from an older experiment
    collect(exp, data, reps=5)
    assert sorted(p.name for p in data.glob("*.json")) == ["a_s0.json"]
    # a hand-written reading of the numbers goes under the computed claims
    from scmis_core.experiments.report import DISCUSSION, build_page

    (tmp_path / DISCUSSION).write_text("The gain is within noise.\n")
    page = build_page(tmp_path / "results.md", tmp_path)
    assert "## What the numbers say\n\nThe gain is within noise." in page


def test_miou_and_depth_resampling_pool_like_the_metrics():
    rng = np.random.default_rng(1)
    gt = rng.integers(0, 6, size=(5, 8, 8))
    pred = np.where(rng.random((5, 8, 8)) < 0.6, gt, rng.integers(1, 6, size=(5, 8, 8)))
    per_image = np.stack([ConfusionMatrix(5).update(p, t).counts for p, t in zip(pred, gt)])
    whole = ConfusionMatrix(5).update(pred, gt)
    assert bs.miou_from_counts(per_image.sum(0)) == pytest.approx(whole.miou())
    draws = bs.miou_resamples(per_image, reps=50, seed=0)
    low, high = bs.percentile_interval(draws)
    assert low <= high and np.all((draws >= 0) & (draws <= 1))
    target = rng.uniform(0.5, 5, size=(4, 6, 6))
    target[0, 0, :3] = 0  # invalid pixels are left out
    pred_d = target * rng.uniform(0.8, 1.3, size=target.shape)
    sums = bs.depth_sums(pred_d, target)
    pooled = bs.depth_from_sums(sums.sum(0))
    want = DepthErrors().update(pred_d, target).compute()
    assert pooled["abs_rel"] == pytest.approx(want["abs_rel"])
    assert pooled["rmse"] == pytest.approx(want["rmse_m"])
    assert pooled["sq_rel"] == pytest.approx(want["sq_rel_m"])
    assert pooled["delta1"] == pytest.approx(want["delta1"])


def test_paired_stats_and_verdicts():
    base = {0: 0.30, 1: 0.31, 2: 0.29}
    better = {0: 0.35, 1: 0.37, 2: 0.34}
    st = paired_stats(base, better)
    assert st["n"] == 3 and st["diff_mean"] == pytest.approx(5.333, abs=1e-3)
    assert st["p"] < 0.05 and st["ci"][0] > 0 and cell_verdict(st) == "reproduced"
    same = paired_stats(base, {0: 0.301, 1: 0.309, 2: 0.291})
    assert cell_verdict(same) == "not reproduced"  # the interval lies below +1 point
    assert cell_verdict(paired_stats(base, {0: 0.35, 1: 0.37})) == "inconclusive"  # 2 seeds
    rows = {f"b{s}": {"kind": "seg", "regime": 50, "protocol": "", "generator": "",
                      "mode": "none", "ratio": 0.0, "seed": s, "miou": v}
            for s, v in base.items()}
    rows.update({f"m{s}": {"kind": "seg", "regime": 50, "protocol": "b", "generator": "G",
                           "mode": "rgb", "ratio": 0.5, "seed": s, "miou": v}
                 for s, v in better.items()})
    lines = table2_markdown(rows, 50, "b", "G", ["rgb"], [0.5]).splitlines()
    assert lines[2] == "| - | 0.0 | 30.00 ± 1.00 (n=3) | | | | 42.08 |"
    assert lines[3].startswith("| RGB | 0.5 | 35.33 ± 1.53 (n=3) | +5.33 [")
    assert "| reproduced | 47.71 (+5.63) |" in lines[3]


# ------------------------------------------------------------------------------------------
# The runner: skip finished, budget, failures, changed settings, parallel jobs.


class FakePlan:
    def __init__(self, keys, needs=None, fail=(), value=1):
        self.keys, self.needs, self.fail, self.value = keys, needs or {}, set(fail), value

    def runs(self, finished):
        return [RunSpec(key=k, kind="fake", params={"value": self.value, "fail": k in self.fail},
                        needs=tuple(self.needs.get(k, ())), est_cpu_s=60) for k in self.keys]


@pytest.fixture
def fake_kind(monkeypatch):
    calls = []

    def execute(spec, ctx):
        calls.append(spec.key)
        if spec.params["fail"]:
            raise RuntimeError(f"{spec.key} broke")
        return {"value": spec.params["value"]}

    monkeypatch.setitem(runner_mod.EXECUTORS, "fake", execute)
    return calls


def test_runner_skips_finished_runs_and_stops_at_the_budget(tmp_path, fake_kind):
    now = [0.0]

    def clock():
        now[0] += 25.0  # every look at the clock: 25 s later
        return now[0]

    report = Runner(FakePlan(["a", "b", "c", "d"]), tmp_path, budget_min=1.0, clock=clock,
                    log=lambda text: None).run()
    assert report.budget_stop and report.done == fake_kind == ["a", "b"]
    assert [s.key for s in report.left] == ["c", "d"]
    assert "left (2 CPU-min estimated): c, d" in report.summary()
    stamp = (tmp_path / "results" / "a.json").stat().st_mtime_ns
    report = Runner(FakePlan(["a", "b", "c", "d"]), tmp_path, log=lambda text: None).run()
    assert report.skipped == ["a", "b"] and report.done == ["c", "d"]
    assert fake_kind == ["a", "b", "c", "d"]  # a and b were not redone
    assert (tmp_path / "results" / "a.json").stat().st_mtime_ns == stamp
    result = json.loads((tmp_path / "results" / "c.json").read_text())
    assert result["value"] == 1 and result["spec"]["params"] == {"value": 1, "fail": False}
    with pytest.raises(runner_mod.SpecMismatch, match="value: 1 -> 2"):
        Runner(FakePlan(["a"], value=2), tmp_path, log=lambda text: None).run()


@pytest.mark.parametrize("content", ["{}", "[]", "null", '"text"', '{"key": "a"}',
                                     '{"key": "a", "kind": 3, "spec": {}}', '{"key": ',
                                     "\x00\xff binary"])
def test_damaged_results_are_redone_and_named_by_the_report(tmp_path, fake_kind, capsys,
                                                             content):
    Runner(FakePlan(["a", "b"]), tmp_path, log=lambda text: None).run()
    (tmp_path / "results" / "a.json").write_bytes(content.encode("latin-1"))
    report = Runner(FakePlan(["a", "b"]), tmp_path, log=lambda text: None).run()
    assert report.done == ["a"] and report.skipped == ["b"]
    assert "a.json: unreadable" in capsys.readouterr().err
    assert json.loads((tmp_path / "results" / "a.json").read_text())["value"] == 1
    from scmis_core.experiments.report import _load_results

    (tmp_path / "results" / "a.json").write_bytes(content.encode("latin-1"))
    with pytest.raises(ValueError, match=r"a\.json: unreadable .*remove it"):
        _load_results(tmp_path / "results")


def test_runner_records_failures_and_holds_back_what_needs_them(tmp_path, fake_kind):
    plan = FakePlan(["a", "b", "c"], needs={"b": ["a"]}, fail=["a"])
    report = Runner(plan, tmp_path, log=lambda text: None).run()
    assert report.failed == ["a"] and report.done == ["c"] and fake_kind == ["a", "c"]
    assert [s.key for s in report.left] == ["b"]
    assert "a broke" in (tmp_path / "results" / "a.error.txt").read_text()
    report = Runner(FakePlan(["a", "b", "c"], needs={"b": ["a"]}), tmp_path,
                    log=lambda text: None).run()
    assert report.done == ["a", "b"] and not (tmp_path / "results" / "a.error.txt").exists()


def test_a_signal_during_a_run_stops_the_driver(tmp_path, monkeypatch):
    # SIGTERM / SIGINT reach the run in progress (it writes a checkpoint and raises
    # TrainingInterrupted); the driver must stop too instead of starting the next run
    import signal

    from scmis_core.engine.stop import TrainingInterrupted

    calls = []

    def execute(spec, ctx):
        calls.append(spec.key)
        if spec.key == "b":
            raise TrainingInterrupted(signal.SIGTERM, 7, tmp_path / "step_7.pt", "rerun")
        return {"value": 1}

    monkeypatch.setitem(runner_mod.EXECUTORS, "fake", execute)
    report = Runner(FakePlan(["a", "b", "c"]), tmp_path, log=lambda text: None).run()
    assert calls == ["a", "b"] and report.done == ["a"] and not report.failed
    assert report.interrupted == 128 + signal.SIGTERM
    assert [s.key for s in report.left] == ["b", "c"]
    assert "rerun the same command to continue" in report.summary()
    assert not (tmp_path / "results" / "b.error.txt").exists()


def test_runner_jobs_run_side_by_side_in_worker_processes(tmp_path, fake_kind, monkeypatch):
    live, peak, commands = set(), [0], []

    class FakeProcess:
        """Stands in for the worker process: runs the spec when first polled twice."""

        def __init__(self, cmd, stdout, stderr, env):
            commands.append((cmd, env["OMP_NUM_THREADS"]))
            self.key, self.polls = cmd[-3], 0
            live.add(self.key)
            peak[0] = max(peak[0], len(live))

        def poll(self):
            self.polls += 1
            if self.polls < 2:
                return None
            live.discard(self.key)
            spec = runner_mod.read_spec(tmp_path, self.key)
            runner_mod.execute(spec, runner_mod.RunContext(tmp_path))
            return 0

    monkeypatch.setattr(runner_mod.subprocess, "Popen", FakeProcess)
    monkeypatch.setattr(runner_mod.time, "sleep", lambda s: None)
    report = Runner(FakePlan(["a", "b", "c"]), tmp_path, jobs=2, log=lambda t: None).run()
    assert sorted(report.done) == ["a", "b", "c"] and peak[0] == 2
    cmd, threads = commands[0]
    assert cmd[1:5] == ["-m", "scmis_core.experiments", "worker", str(tmp_path)]
    assert threads == "1"


# ------------------------------------------------------------------------------------------
# Presets: listings without running.


def test_paper_presets_print_runs_and_gpu_hours_without_running(tmp_path, capsys):
    assert main(["table1", "--preset", "paper", "--out", str(tmp_path / "t1")]) == 0
    out = capsys.readouterr().out
    assert "scmis_s0" in out and "rgbd-oasis_s0" in out and "judge" in out
    assert "(chosen later)" in out and "GPU-hours at the preset's scale" in out
    assert "not run: needs local ImageNet VGG-19 weights" in out
    total = [line for line in out.splitlines() if line.endswith("preset's scale")][0]
    assert float(total.split(", ")[1].split()[0]) > 100  # GPU hours: a real estimate
    assert main(["table2", "--preset", "paper"]) == 0
    out = capsys.readouterr().out
    assert "nall_baseline_s2" in out and "nall_a_SCMIS_rgbd_0.7_s2" in out
    assert not (tmp_path / "t1").exists()


def test_cpu_preset_dry_run_lists_the_run_list(capsys):
    assert main(["table1", "--preset", "cpu", "--dry-run"]) == 0
    out = capsys.readouterr().out
    for key in ("judge", "scmis_s0", "rgbd-oasis_s0", "4dgen_s0", "scmis-rgb_s0",
                "scmis-depth_s0", "oasis_s0", "scmis-noap_s0"):
        assert f" {key} " in out
    assert "10 runs; estimated" in out  # judge + 7 trained rows + 2 second seeds
    assert main(["table2", "--preset", "cpu", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "n200_gan" in out and "n50_b_SCMIS_rgb_0.5_s2" in out
    assert "n50_a_SCMIS_depth_0.5_data" in out


def test_bad_arguments(tmp_path, capsys):
    assert main(["table2", "--generator", str(tmp_path / "missing.pt"), "--out",
                 str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "generator SCMIS: checkpoint" in err and "missing.pt not found" in err
    assert main(["table1", "--preset", "toy", "--jobs", "0", "--out", str(tmp_path)]) == 2
    assert "--jobs: expected >= 1, found 0" in capsys.readouterr().err
    with pytest.raises(ValueError, match="NAME=CHECKPOINT"):
        _named(["=x.pt"], "--table3")


def test_table3_compares_generators_at_one_setting():
    from scmis_core.experiments.tables import table3_markdown

    rows = {}
    for seed, (base, a, b) in enumerate([(0.30, 0.33, 0.31), (0.31, 0.35, 0.30),
                                         (0.29, 0.34, 0.30)]):
        rows[f"b{seed}"] = {"kind": "seg", "regime": 0, "protocol": "", "generator": "",
                            "mode": "none", "ratio": 0.0, "seed": seed, "miou": base}
        for name, value in (("SCMIS", a), ("OASIS", b)):
            rows[f"{name}{seed}"] = {"kind": "seg", "regime": 0, "protocol": "b",
                                     "generator": name, "mode": "rgb", "ratio": 0.7,
                                     "seed": seed, "miou": value}
    text = table3_markdown(rows, 0, "b", "rgb", 0.7)
    lines = text.splitlines()
    assert lines[0] == "| Methods | OASIS | SCMIS |"
    assert lines[2].startswith("| mIoU (RGB, 0.7) | 30.33 ± 0.58 (n=3) (Δ +0.33, p=")
    assert "Paper Table 3 (RGB, 0.7): OASIS 47.56, SCMIS (Only RGB) 47.67, SCMIS 48.24." in text
    assert table3_markdown(rows, 0, "b", "rgb", 0.5) is None


def test_segment_options_come_from_the_config_tree_and_specs_keep_their_layout(tmp_path):
    import dataclasses

    from scmis_core.config import SegmentConfig
    from scmis_core.experiments.cli import _table2_plan, build_parser
    from scmis_core.experiments.table1 import PRESETS, Table1Plan, build_base

    fields = {f.name for f in dataclasses.fields(SegmentConfig)}
    base = build_base("toy", None, [])
    plan = Table1Plan(base, rows=["scmis"], segmenter="train", judge=PRESETS["toy"]["judge"])
    specs = {s.key: s for s in plan.runs({})}
    judge = specs["judge"].params["options"]
    assert set(judge) == fields and judge["arch_kwargs"] == {"widths": [4, 8]}
    # a generator run's spec holds no segment section (finished runs of older folders match)
    assert "segment" not in specs["scmis_s0"].params["config"] and "segment" not in base
    # table2: the YAML's segment section < the preset < dotted overrides < flags
    config = tmp_path / "t2.yaml"
    config.write_text("segment:\n  weight_decay: 0.01\n  steps: 1000\n")
    argv = ["table2", "--preset", "toy", "--dry-run", "--config", str(config),
            "segment.arch_kwargs.decoder_blocks=0", "segment.lr=0.1", "--lr", "0.2"]
    plan2 = _table2_plan(build_parser("toy").parse_args(argv))
    opts = plan2.opts
    assert (opts.weight_decay, opts.steps, opts.lr, opts.arch) == (0.01, 300, 0.2, "esanet-r18")
    assert opts.arch_kwargs == {"base_width": 8, "decoder_blocks": 0}
    seg = next(s for s in plan2.runs() if s.kind == "seg")
    assert set(seg.params["options"]) == fields and seg.params["options"]["lr"] == 0.2
    assert main(["table2", "--preset", "toy", "--dry-run", "segment.lr=0"]) == 2
