"""The few-homes verdicts: effects of class-mix with intervals over the variance that counts.

The pre-registered test (docs/results/preregistration.md): the effect of a cell is the mean
test mIoU of its runs (every generator seed x segmenter seed) minus the mean of the
baseline's runs (every segmenter seed). Its 95 % interval comes from a hierarchical bootstrap
that in each draw resamples the test homes (all views of a drawn home together: views of one
home are not independent), the generator seeds, the segmenter seeds within each generator
seed, and the baseline's segmenter seeds; every run's mIoU is computed from its per-image
intersections and unions over the drawn frames. A Welch t-test over the runs' full-test-set
mIoU is reported beside it.

Verdict: ``helps`` when the interval lies above 0, ``hurts`` when it lies below 0, otherwise
``no detectable effect``.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..metrics.segmentation import miou_from_counts

VERDICTS = ("helps", "hurts", "no detectable effect")


def load_counts(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(intersections, unions) of a run's per-image file, as int64 (frames, N)."""
    try:
        with np.load(path) as data:
            return data["inter"].astype(np.int64), data["union"].astype(np.int64)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        # truncated, not an npz, wrong keys
        raise ValueError(f"per-image file {path}: unreadable ({exc}); remove it and collect "
                         "the run again") from None


def _run_miou(counts: tuple[np.ndarray, np.ndarray], frames: np.ndarray) -> float:
    return miou_from_counts(counts[0][frames], counts[1][frames])


def welch(a: Sequence[float], b: Sequence[float]) -> dict[str, float | None]:
    """Welch's t-test of mean(a) - mean(b): t, degrees of freedom and two-sided p."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2 or len(b) < 2:
        return {"t": None, "df": None, "p": None}
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if va + vb == 0:
        return {"t": None, "df": None, "p": None}
    t = float((a.mean() - b.mean()) / math.sqrt(va + vb))
    df = float((va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1)))
    from scipy.stats import t as student

    return {"t": round(t, 3), "df": round(df, 2), "p": float(2 * student.sf(abs(t), df))}


def cell_effect(cell: dict[int, list[tuple[np.ndarray, np.ndarray]]],
                baseline: list[tuple[np.ndarray, np.ndarray]], frame_groups: np.ndarray,
                reps: int = 2000, seed: int = 0, level: float = 0.95) -> dict[str, Any]:
    """The effect of one cell against its baseline (mIoU points) with its interval.

    ``cell``: generator seed -> per-image counts of its segmenter runs; ``baseline``: the
    baseline's runs; ``frame_groups``: the test home of every test frame (frames of a home are
    resampled together).
    """
    if not cell or not baseline or any(not runs for runs in cell.values()):
        raise ValueError("cell_effect: expected runs in the cell and in the baseline")
    everything = np.arange(len(frame_groups))
    cell_runs = [r for runs in cell.values() for r in runs]
    cell_miou = [100 * _run_miou(r, everything) for r in cell_runs]
    base_miou = [100 * _run_miou(r, everything) for r in baseline]
    point = float(np.mean(cell_miou) - np.mean(base_miou))
    homes = np.unique(frame_groups)
    members = [np.flatnonzero(frame_groups == h) for h in homes]
    rng = np.random.default_rng(seed)
    gens = list(cell)
    draws = np.empty(reps)
    for i in range(reps):
        frames = np.concatenate([members[j] for j in rng.integers(len(homes),
                                                                  size=len(homes))])
        mixed = []
        for g in rng.choice(gens, size=len(gens)):
            runs = cell[int(g)]
            mixed += [_run_miou(runs[j], frames) for j in rng.integers(len(runs),
                                                                        size=len(runs))]
        base = [_run_miou(baseline[j], frames) for j in rng.integers(len(baseline),
                                                                     size=len(baseline))]
        draws[i] = 100 * (np.mean(mixed) - np.mean(base))
    tail = 100 * (1 - level) / 2
    low, high = (float(v) for v in np.percentile(draws, [tail, 100 - tail]))
    verdict = "helps" if low > 0 else ("hurts" if high < 0 else "no detectable effect")
    return {"effect": round(point, 2), "low": round(low, 2), "high": round(high, 2),
            "verdict": verdict, "cell_miou": [round(v, 2) for v in cell_miou],
            "baseline_miou": [round(v, 2) for v in base_miou],
            "welch": welch(cell_miou, base_miou), "reps": reps, "level": level,
            "test_homes": int(len(homes)), "test_frames": int(len(frame_groups))}


def arm_effects(results: dict[str, dict[str, Any]], per_image: Path, arm: str,
                views_per_test_home: int, reps: int = 2000) -> dict[str, Any]:
    """Every cell of ``arm`` that has finished runs: cell name -> :func:`cell_effect`."""
    runs = [r for r in results.values() if r.get("kind") == "fewhomes_seg"
            and r.get("arm") == arm]
    baseline = [load_counts(per_image / f"{r['key']}.npz") for r in
                sorted(runs, key=lambda r: r["key"]) if r["mode"] == "none"]
    if not baseline:
        return {}
    frames = len(baseline[0][0])
    groups = np.arange(frames) // max(1, views_per_test_home)
    cells: dict[str, dict[int, list]] = {}
    for r in sorted(runs, key=lambda r: r["key"]):
        if r["mode"] == "none":
            continue
        name = f"{r['mode']}_{r['ratio']:g}"
        cells.setdefault(name, {}).setdefault(int(r["gen_seed"]), []).append(
            load_counts(per_image / f"{r['key']}.npz"))
    return {name: cell_effect(cell, baseline, groups, reps) for name, cell in cells.items()}
