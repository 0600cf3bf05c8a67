"""The few-homes experiment: its run list, the regime gate's rule, and a toy run of both
stages end to end (results with SHA-256 of every weight file and per-image counts)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scmis_core.experiments.cli import main
from scmis_core.experiments.fewhomes import arm_data, gate_verdict
from scmis_core.metrics.segmentation import miou_from_counts

pytestmark = pytest.mark.usefixtures("one_thread")


def _curve(train, test):
    return [{"step": 100 * (i + 1), "train_miou": a, "test_miou": b}
            for i, (a, b) in enumerate(zip(train, test))]


def test_gate_needs_a_gap_and_a_flat_test_curve():
    flat = _curve([0.3, 0.5, 0.7, 0.8], [0.20, 0.30, 0.35, 0.355])
    assert gate_verdict([flat, flat])["reached"]
    assert gate_verdict([flat])["seeds"][0]["gap"] == pytest.approx(44.5)
    rising = _curve([0.3, 0.5, 0.7, 0.8], [0.20, 0.30, 0.35, 0.45])
    verdict = gate_verdict([flat, rising])
    assert not verdict["reached"] and verdict["seeds"][1]["rise"] == pytest.approx(10.0)
    small_gap = _curve([0.3, 0.35, 0.40, 0.41], [0.20, 0.30, 0.35, 0.35])
    assert not gate_verdict([small_gap])["reached"]
    assert not gate_verdict([_curve([0.9], [0.1])])["reached"]  # too few points
    assert not gate_verdict([])["reached"]


def test_arms_have_the_same_number_of_labelled_frames():
    homes = arm_data({"height": 64}, "homes", 8, 25, 1000)
    control = arm_data({"height": 64}, "control", 8, 25, 1000)
    assert homes["rooms_homes"] * homes["rooms_views_per_home"] == 200
    assert control["rooms_homes"] == 0 and control["rooms_train_size"] == 200
    assert homes["rooms_test_size"] == control["rooms_test_size"] == 1000
    with pytest.raises(ValueError, match="arm"):
        arm_data({}, "nope", 1, 1, 1)


def test_grid_lists_the_primary_cell_first_with_seeds_of_both_kinds(capsys):
    assert main(["fewhomes", "--stage", "grid", "--dry-run", "--arms", "homes"]) == 0
    keys = [line.split()[1] for line in capsys.readouterr().out.splitlines()[1:-1]]
    assert keys[:5] == ["homes_gan_g0", "homes_gan_g1", "homes_baseline_s0",
                        "homes_baseline_s1", "homes_baseline_s2"]
    assert keys[5:9] == ["homes_g0_rgb_0.7_data", "homes_g0_rgb_0.7_s0",
                         "homes_g0_rgb_0.7_s1", "homes_g0_rgb_0.7_s2"]
    assert len(keys) == 2 + 3 + 4 * 2 * (1 + 3)


def test_toy_gate_and_grid_end_to_end(tmp_path, capsys):
    gate = tmp_path / "gate"
    assert main(["fewhomes", "--preset", "toy", "--stage", "gate", "--out", str(gate)]) == 0
    assert "regime gate:" in capsys.readouterr().out
    verdict = json.loads((gate / "gate.json").read_text())
    assert len(verdict["seeds"]) == 1 and verdict["reached"] in (True, False)
    grid = tmp_path / "grid"
    assert main(["fewhomes", "--preset", "toy", "--stage", "grid", "--arms", "homes",
                 "--out", str(grid)]) == 0
    mixed = json.loads((grid / "results" / "homes_g0_rgb_0.7_s0.json").read_text())
    gan = json.loads((grid / "results" / "homes_gan_g0.json").read_text())
    assert mixed["generator_sha256"] == gan["checkpoint_sha256"]
    assert len(mixed["segmenter_sha256"]) == 64 and mixed["mix_seed"] == 1000
    assert [p["step"] for p in mixed["curve"]] == [1, 2, 3, 4]
    counts = np.load(grid / "per_image" / "homes_g0_rgb_0.7_s0.npz")
    assert counts["inter"].shape[0] == mixed["test_frames"] == 4
    assert miou_from_counts(counts["inter"], counts["union"]) == pytest.approx(mixed["miou"])
    # a rerun finds everything finished
    assert main(["fewhomes", "--preset", "toy", "--stage", "grid", "--arms", "homes",
                 "--out", str(grid)]) == 0
    assert "0 runs done, 4 already finished" in capsys.readouterr().out


def _counts(rng, frames, hit_rate):
    union = rng.integers(50, 100, size=(frames, 5))
    inter = (union * np.clip(hit_rate + rng.normal(0, 0.05, size=union.shape), 0, 1))
    return inter.astype(np.int64), union


def test_cell_effect_reads_a_clear_gain_and_a_null():
    from scmis_core.experiments.fewhomes_stats import cell_effect

    rng = np.random.default_rng(0)
    groups = np.arange(40) // 4  # 10 test homes of 4 views
    base = [_counts(rng, 40, 0.40 + 0.01 * s) for s in range(3)]
    better = {g: [_counts(rng, 40, 0.50 + 0.01 * s) for s in range(3)] for g in range(2)}
    out = cell_effect(better, base, groups, reps=300)
    assert out["verdict"] == "helps" and 8 < out["effect"] < 12 and out["low"] > 0
    assert out["welch"]["p"] < 0.01 and out["test_homes"] == 10
    same = {g: [_counts(rng, 40, 0.40 + 0.01 * s) for s in range(3)] for g in range(2)}
    null = cell_effect(same, base, groups, reps=300)
    assert null["verdict"] == "no detectable effect" and null["low"] < 0 < null["high"]
    worse = {0: [_counts(rng, 40, 0.30) for _ in range(3)]}
    assert cell_effect(worse, base, groups, reps=300)["verdict"] == "hurts"


def test_unreadable_per_image_file_is_named(tmp_path):
    from scmis_core.experiments.fewhomes_stats import load_counts

    bad = tmp_path / "run.npz"
    bad.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match="run.npz: unreadable"):
        load_counts(bad)


def test_report_section_from_collected_data_is_rebuilt_byte_for_byte(tmp_path):
    exp = tmp_path / "exp"
    assert main(["fewhomes", "--preset", "toy", "--stage", "grid", "--arms", "homes",
                 "--out", str(exp)]) == 0
    page = tmp_path / "docs" / "results.md"
    assert main(["report", "--out", str(page), "--fewhomes", str(exp)]) == 0
    text = page.read_text()
    assert "## Few homes, new homes" in text and "Regime not reached" in text
    assert "| homes | RGB 0.7 (primary) | 1 |" in text
    data = tmp_path / "docs" / "results" / "data" / "fewhomes"
    assert (data / "per_image" / "homes_baseline_s0.npz").is_file()
    assert (data / "samples" / "homes_g0_rgb_0.7_data.png").is_file()
    assert (tmp_path / "docs" / "results" / "fewhomes_gate.png").stat().st_size > 0
    assert main(["report", "--out", str(page)]) == 0  # from the collected data alone
    assert page.read_text() == text
    (data / "homes_baseline_s0.json").write_text("[]")
    with pytest.raises(ValueError, match="homes_baseline_s0.json: unreadable"):
        from scmis_core.experiments.report import build_page
        build_page(page, data.parent)


def test_continue_elsewhere_from_collected_results(tmp_path, capsys):
    """A new machine: the collected results seed a new folder; finished segmenters are kept,
    a missing one is redone, and so are the generator and mixed data it needs (their files
    did not travel)."""
    import shutil

    exp = tmp_path / "exp"
    assert main(["fewhomes", "--preset", "toy", "--stage", "grid", "--arms", "homes",
                 "--out", str(exp)]) == 0
    page = tmp_path / "docs" / "results.md"
    assert main(["report", "--out", str(page), "--fewhomes", str(exp)]) == 0
    data = tmp_path / "docs" / "results" / "data" / "fewhomes"
    (data / "homes_g0_rgb_0.7_s0.json").unlink()
    shutil.rmtree(exp)  # the old machine's files are gone
    capsys.readouterr()
    new = tmp_path / "new"
    assert main(["fewhomes", "--preset", "toy", "--stage", "grid", "--arms", "homes",
                 "--out", str(new), "--seed-from", str(data)]) == 0
    out = capsys.readouterr().out
    assert "seeded" in out and "3 collected results" in out
    assert "run homes_gan_g0: its checkpoint" in out and "is redone" in out
    assert "3 runs done, 1 already finished" in out  # gan, mixed data, the segmenter
    assert (new / "results" / "homes_g0_rgb_0.7_s0.json").is_file()


def test_a_cell_gets_a_verdict_only_with_every_pre_registered_run():
    from scmis_core.experiments.fewhomes_page import complete

    settings = {"gan_seeds": [0, 1], "seg_seeds": [0, 1, 2]}
    assert not complete({"cell_miou": [1.0], "baseline_miou": [1.0] * 3}, settings)
    assert not complete({"cell_miou": [1.0] * 6, "baseline_miou": [1.0] * 2}, settings)
    assert complete({"cell_miou": [1.0] * 6, "baseline_miou": [1.0] * 3}, settings)


def test_collected_results_still_match_the_plan():
    """The pre-registered grid continues across sessions (``--seed-from``): every collected
    result must still have the spec the current code plans for its key. A new config field
    (data or segment) changes every spec; then this fails, and the field needs a default
    that leaves the specs of the running experiment alone."""
    from pathlib import Path

    from scmis_core.experiments.cli import _fewhomes_plan, build_parser

    data = Path(__file__).resolve().parents[1] / "docs" / "results" / "data" / "fewhomes"
    results = [json.loads(p.read_text()) for p in sorted(data.glob("*.json"))
               if p.name not in ("experiment.json", "gate.json", "preregistration.json")]
    if not results:
        pytest.skip("no few-homes results collected")
    plan = _fewhomes_plan(build_parser().parse_args(["fewhomes", "--stage", "grid"]))
    specs = {s.key: s.identity() for s in plan.runs({})}
    for result in results:
        assert specs[result["key"]] == result["spec"], result["key"]
