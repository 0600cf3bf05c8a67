"""The "Few homes" section of the results page, from ``<data>/fewhomes/`` alone.

``collect_fewhomes`` copies the small outputs of the experiment folder there (result JSONs,
per-image counts of the segmenter runs, the gate verdict, the mixed-frame strips);
``fewhomes_section`` writes the section: the pre-registered verdict, the gate's curves, mIoU
per cell with error bars, a labelled frame with its mixed variants.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ..runtime import atomic_write_text
from .fewhomes import ARMS, gate_verdict
from .fewhomes_stats import arm_effects
from .runner import load_results
from .table2 import MODE_NAMES

FOLDER = "fewhomes"
PRIMARY = "rgb_0.7"


def collect_fewhomes(exp: Path, data: Path) -> None:
    """Copy the results of few-homes experiment folder ``exp`` into ``data`` (mirrored)."""
    if not (exp / "results").is_dir():
        raise FileNotFoundError(f"few-homes folder {exp}: expected results/ inside (made by "
                                f"`python -m scmis_core.experiments fewhomes --out {exp}`), "
                                "found none")
    data.mkdir(parents=True, exist_ok=True)
    found = sorted((exp / "results").glob("*.json"))
    keep = {p.name for p in found} | {"experiment.json", "gate.json"}
    for old in data.glob("*.json"):
        if old.name not in keep and old.name != "preregistration.json":
            old.unlink()
    for sub in ("per_image", "samples"):
        wanted = sorted((exp / sub).glob("*")) if (exp / sub).is_dir() else []
        (data / sub).mkdir(exist_ok=True)
        for old in (data / sub).glob("*"):
            if old.name not in {p.name for p in wanted}:
                old.unlink()
        for path in wanted:
            shutil.copyfile(path, data / sub / path.name)
    for path in found:
        atomic_write_text(data / path.name, path.read_text())
    for name in ("experiment.json", "gate.json"):
        if (exp / name).is_file():
            atomic_write_text(data / name, (exp / name).read_text())


def _load(data: Path) -> dict[str, dict[str, Any]]:
    return load_results(data, skip=("experiment.json", "gate.json", "preregistration.json"))


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_gate(pilots: list[dict[str, Any]], path: Path) -> bool:
    """Train- and test-split mIoU against steps, one colour per pilot seed."""
    if not any(r.get("curve") for r in pilots):
        return False
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3), dpi=100)
    for i, run in enumerate(pilots):
        pts = [p for p in run.get("curve", []) if p.get("train_miou") is not None]
        steps = [p["step"] for p in pts]
        ax.plot(steps, [100 * p["train_miou"] for p in pts], color=f"C{i}", marker="o", ms=2,
                label=f"train split, seed {run['seed']}")
        ax.plot(steps, [100 * p["test_miou"] for p in pts], color=f"C{i}", marker="o", ms=2,
                linestyle="--", label=f"test (unseen homes), seed {run['seed']}")
    ax.set_xlabel("segmenter step", fontsize=8)
    ax.set_ylabel("mIoU %", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6, frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return True


def plot_cells(effects: dict[str, dict[str, Any]], path: Path) -> bool:
    """mIoU per cell (mean over runs, error bar = the runs' standard deviation, dots = runs),
    one panel per arm, the baseline first."""
    arms = [a for a in ARMS if effects.get(a)]
    if not arms:
        return False
    plt = _plt()
    fig, axes = plt.subplots(1, len(arms), figsize=(4.2 * len(arms), 3), dpi=100,
                             squeeze=False)
    for ax, arm in zip(axes[0], arms):
        cells = effects[arm]
        first = next(iter(cells.values()))
        names = ["baseline"] + list(cells)
        values = [first["baseline_miou"]] + [c["cell_miou"] for c in cells.values()]
        for x, vals in enumerate(values):
            ax.errorbar(x, np.mean(vals), yerr=np.std(vals, ddof=1) if len(vals) > 1 else 0,
                        fmt="o", color="C0" if x == 0 else "C1", capsize=3)
            ax.scatter([x + 0.15] * len(vals), vals, s=6, color="grey")
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels([_cell_label(n) for n in names], fontsize=7, rotation=20)
        ax.set_title(f"{arm} arm", fontsize=9)
        ax.set_ylabel("test mIoU % (unseen homes)", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return True


def _cell_label(name: str) -> str:
    if name == "baseline":
        return name
    mode, _, ratio = name.partition("_")
    return f"{MODE_NAMES.get(mode, mode)} {ratio}"


def complete(effect: dict[str, Any], settings: dict[str, Any]) -> bool:
    """Whether a cell has every run the pre-registration asks for (generator seeds x
    segmenter seeds, and every baseline seed): only then does it get a verdict."""
    gens, segs = len(settings.get("gan_seeds", [0, 1])), len(settings.get("seg_seeds", [0, 1, 2]))
    return len(effect["cell_miou"]) >= gens * segs and len(effect["baseline_miou"]) >= segs


def _effects_table(effects: dict[str, dict[str, Any]],
                   settings: dict[str, Any]) -> list[str]:
    lines = ["| arm | cell | runs | mIoU % (mean ± sd) | baseline % | effect [95 % interval] | "
             "Welch p | verdict |", "|---|---|---|---|---|---|---|---|"]
    for arm in ARMS:
        for name, e in effects.get(arm, {}).items():
            cell, base = np.array(e["cell_miou"]), np.array(e["baseline_miou"])
            sd = f" ± {cell.std(ddof=1):.1f}" if len(cell) > 1 else ""
            bsd = f" ± {base.std(ddof=1):.1f}" if len(base) > 1 else ""
            p = e["welch"]["p"]
            tag = " (primary)" if name == PRIMARY and arm == "homes" else ""
            lines.append(f"| {arm} | {_cell_label(name)}{tag} | {len(cell)} | "
                         f"{cell.mean():.1f}{sd} | {base.mean():.1f}{bsd} | "
                         f"{e['effect']:+.2f} [{e['low']:+.2f}, {e['high']:+.2f}] | "
                         f"{'–' if p is None else f'{p:.3f}'} | "
                         + (f"**{e['verdict']}** |" if complete(e, settings)
                            else "interim: runs missing |"))
    return lines


def fewhomes_section(page: Path, data: Path, reps: int = 2000) -> list[str]:
    """The Markdown lines of the section (figures written beside the page); [] without
    data."""
    folder = data / FOLDER
    if not folder.is_dir():
        return []
    results = _load(folder)
    meta_path = folder / "experiment.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    settings = meta.get("settings", {})
    prereg_path = folder / "preregistration.json"
    prereg = json.loads(prereg_path.read_text()) if prereg_path.is_file() else {}
    figs = page.parent / page.stem
    rel = figs.name
    views = int(settings.get("views", 25))
    pilots = [results[k] for k in sorted(results) if k.startswith("homes_baseline_s")
              and results[k].get("seed") in settings.get("pilot_seeds", [0, 1])]
    gate = gate_verdict([r.get("curve", []) for r in pilots])
    out = ["## Few homes, new homes: does class-mix help a robot? (pre-registered)", "",
           f"A home robot's labelled frames come from a few homes. Here the segmenter learns "
           f"from {settings.get('homes', '?')} homes × {views} views (the **homes** arm) or "
           f"from the same number of frames each of its own home (the **control** arm), and "
           f"is tested on {settings.get('test_frames', '?')} views of homes no training "
           "frame shows. Class-mix uses generators trained on the labelled frames alone "
           "(protocol a).", ""]
    if (page.parent / "images" / "rooms_homes_preview.png").is_file():
        out += ["Four training homes, four views each (one row per home: RGB, depth, labels "
                "per view; `python -m scmis_core.data.preview --source rooms --homes 4 "
                "--views-per-home 4 --size 96x128 --out docs/images/rooms_homes_preview.png`):",
                "", "![four homes, four views each](images/rooms_homes_preview.png)", ""]
    if prereg:
        out += [f"The test, its cells, seeds and decision rule were written down in "
                f"[preregistration.md](results/preregistration.md) at commit "
                f"`{prereg.get('commit', '?')}`, before the first class-mix run, and not "
                "changed afterwards.", ""]
    out += ["### The regime gate", "",
            f"The claim is about a segmenter that overfits the look of its few homes. The "
            f"pilot baselines must show it: train-split mIoU at least "
            f"{gate['gap_min_points']:g} points above test mIoU, and a test curve that has "
            f"stopped rising (its best point in the last quarter of training at most "
            f"{gate['rise_max_points']:g} point above its best point before).", ""]
    if pilots:
        for run, s in zip(pilots, gate["seeds"]):
            out.append(f"- seed {run['seed']}: train {s.get('final_train', '?')} %, test "
                       f"{s.get('final_test', '?')} %, gap {s.get('gap')} points, late rise "
                       f"{s.get('rise')} points: {'ok' if s['ok'] else 'not met'}")
        out += ["", f"**Regime {'reached' if gate['reached'] else 'not reached'}**" +
                ("." if gate["reached"] else ": no claim is made from the runs below."), ""]
        if plot_gate(pilots, figs / "fewhomes_gate.png"):
            out += [f"![train and test mIoU of the pilot baselines]({rel}/fewhomes_gate.png)",
                    ""]
    else:
        out += ["The pilot has not finished yet.", ""]
    effects = {arm: arm_effects(results, folder / "per_image", arm,
                                views if arm == "homes" else 1, reps) for arm in ARMS}
    primary = effects.get("homes", {}).get(PRIMARY)
    out += ["### Verdict", ""]
    if primary is None:
        out += ["The primary cell (homes arm, RGB 0.7) has no finished run yet.", ""]
    else:
        gens = sorted({r["gen_seed"] for r in results.values()
                       if r.get("arm") == "homes" and r.get("mode") == "rgb"
                       and r.get("ratio") == 0.7})
        claim = primary["verdict"] if gate["reached"] else "no claim (regime not reached)"
        if not complete(primary, settings):
            claim = ("no verdict yet: the pre-registered rule waits for every run of the cell "
                     "and of its baseline (interim numbers)")
        out += [f"Primary (homes arm, RGB at ratio 0.7, {len(primary['cell_miou'])} runs "
                f"from {len(gens)} generator seeds, against {len(primary['baseline_miou'])} "
                f"baseline runs): effect {primary['effect']:+.2f} mIoU points, 95 % interval "
                f"[{primary['low']:+.2f}, {primary['high']:+.2f}] (bootstrap over "
                f"{primary['test_homes']} test homes, generator seeds and segmenter seeds): "
                f"**{claim}**.", ""]
    if any(effects.values()):
        out += _effects_table(effects, settings) + [""]
        if plot_cells(effects, figs / "fewhomes_miou.png"):
            out += [f"![mIoU per cell]({rel}/fewhomes_miou.png)", ""]
    strips = sorted((folder / "samples").glob("homes_*.png"),
                    key=lambda p: (PRIMARY not in p.name, p.name)) \
        if (folder / "samples").is_dir() else []  # the primary cell's first
    if strips:
        shutil.copyfile(strips[0], figs / "fewhomes_mix_strip.png")
        out += [f"One labelled frame of the homes arm and its mixed copies "
                f"(`{strips[0].stem}`; top: labels, real RGB, the copies' RGB; bottom: "
                "depth):", "", f"![mixed copies]({rel}/fewhomes_mix_strip.png)", ""]
    discussion = folder / "discussion.md"
    if discussion.is_file():
        out += ["### What the numbers say", "", discussion.read_text(encoding="utf-8").strip(),
                ""]
    planned = meta.get("planned", [])
    missing = [p["key"] for p in planned if p["key"] not in results]
    if missing:
        hours = sum(p.get("est_cpu_s", 0) for p in planned if p["key"] in missing) / 3600
        out += [f"Runs not finished yet ({len(missing)}, about {hours:.1f} CPU-hours "
                f"single-threaded): " + ", ".join(f"`{k}`" for k in missing) + ".", ""]
    for inv in meta.get("invocations", []):
        out.append(f"- `{inv['command']}` — started {inv['started']}, commit "
                   f"{inv.get('commit') or '?'}")
    return out + [""]
