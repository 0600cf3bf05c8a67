"""The results page: ``python -m scmis_core.experiments report --out docs/results.md``.

Collects the run results of experiment folders (``--table1 DIR``, ``--table2 DIR``) into
``<page folder>/results/data/{table1,table2}/`` (result JSONs, the drivers' invocation log,
the per-run sample strips and the paired comparisons: small files meant to be committed;
never checkpoints), then writes from that folder alone: the page (tables in the paper's
layout beside the paper's numbers, one verdict per claim computed from the data, the
commands, machine and wall time) and its figures (FID / mIoU against training steps, mIoU
per class-mix setting with error bars, the sample grid). Without ``--table1`` /
``--table2`` the page is rebuilt from the data already collected. A hand-written
``data/discussion.md`` (what the numbers mean, evidence for a missing gain) is placed under
the computed claims when present.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..runtime import atomic_write_text
from .fewhomes_page import collect_fewhomes, fewhomes_section
from .measure import PerImage
from .runner import load_results
from .table1 import ROW_BY_NAME, ROWS
from .tables import (MIN_GAIN, MODE_NAMES, PAPER_TABLE2_BASE, baseline_check, comparisons,
                     gan_results, judge_line, regimes, seg_results, table1_claims,
                     table1_markdown, table2_claims, table2_markdown, table3_markdown)


def _load_results(folder: Path) -> dict[str, dict[str, Any]]:
    return load_results(folder, skip=("experiment.json", "comparisons.json"))


def collect(exp: Path, data: Path, reps: int = 1000) -> None:
    """Copy the small outputs of experiment folder ``exp`` into ``data`` (atomically)."""
    if not (exp / "results").is_dir() and not (exp / "experiment.json").is_file():
        raise FileNotFoundError(f"experiment folder {exp}: expected results/ inside (made "
                                f"by `python -m scmis_core.experiments table1|table2 --out "
                                f"{exp}`), found none")
    data.mkdir(parents=True, exist_ok=True)
    found = sorted((exp / "results").glob("*.json")) if (exp / "results").is_dir() else []
    samples = sorted((exp / "samples").glob("*.png")) if (exp / "samples").is_dir() else []
    # The data folder mirrors the experiment: a result that is no longer there (an older or a
    # toy run collected before) must not reach the page.
    keep = {p.name for p in found} | {"experiment.json", "comparisons.json"}
    for old in data.glob("*.json"):
        if old.name not in keep:
            old.unlink()
    for old in (data / "samples").glob("*.png") if (data / "samples").is_dir() else []:
        if old.name not in {p.name for p in samples}:
            old.unlink()
    for path in found:
        result = json.loads(path.read_text())
        per_image = exp / "per_image" / f"{path.stem}.npz"
        if result.get("kind") == "gan" and per_image.is_file():
            # intervals from the per-image data with this version's estimator (runs made
            # before the FID interval was bias-shifted are brought in line)
            try:
                result["ci"] = PerImage.load(per_image).intervals(reps)
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
                raise ValueError(f"per-image file {per_image}: unreadable ({exc}); remove it "
                                 "and its run's result to redo the run") from None
        atomic_write_text(data / path.name, json.dumps(result, indent=2))
    for path in samples:
        (data / "samples").mkdir(exist_ok=True)
        shutil.copyfile(path, data / "samples" / path.name)
    if (exp / "experiment.json").is_file():
        atomic_write_text(data / "experiment.json", (exp / "experiment.json").read_text())
    results = _load_results(data)
    if any(r.get("kind") == "gan" for r in results.values()):
        comps = comparisons(results, exp / "per_image", reps)
        if comps:
            comps[ESTIMATOR_KEY] = ESTIMATOR
            atomic_write_text(data / "comparisons.json", json.dumps(comps, indent=2))


# ------------------------------------------------------------------------------------------
# Figures.


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(results: dict[str, dict[str, Any]], path: Path) -> bool:
    """FID and mIoU against training steps, one line per variant and seed."""
    rows = gan_results(results)
    if not any(len(r.get("curve", [])) > 0 for runs in rows.values() for r in runs):
        return False
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3), dpi=100)
    for (key, title, scale), ax in zip((("fid", "FID (lower is better)", 1),
                                        ("miou", "judge mIoU % (higher is better)", 100)),
                                       axes):
        for i, row in enumerate(ROWS):
            for run in rows.get(row.name, []):
                pts = [(p["step"], p[key] * scale) for p in run.get("curve", [])
                       if p.get(key) is not None]
                if pts:
                    xs, ys = zip(*pts)
                    ax.plot(xs, ys, marker="o", ms=3, color=f"C{i}",
                            linestyle="-" if run["seed"] == 0 else "--",
                            label=f"{row.label} s{run['seed']}")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("training step", fontsize=8)
        ax.tick_params(labelsize=7)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5),
                   frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return True


def plot_table2(results: dict[str, dict[str, Any]], path: Path) -> bool:
    """mIoU (mean ± std over seeds) of the baseline and each class-mix setting."""
    groups = regimes(results)
    if not groups:
        return False
    rows = seg_results(results)
    plt = _plt()
    fig, axes = plt.subplots(1, len(groups), figsize=(3.2 * len(groups), 3), dpi=100,
                             squeeze=False)
    for ax, (regime, protocol, generator) in zip(axes[0], groups):
        labels, means, stds = [], [], []
        base = [100 * r["miou"] for r in rows if r["regime"] == regime and r["mode"] == "none"]
        cells = sorted({(r["mode"], r["ratio"]) for r in rows if r["regime"] == regime and
                        r["protocol"] == protocol and r["generator"] == generator and
                        r["mode"] != "none"})
        for name, values in [("baseline", base)] + [
                (f"{MODE_NAMES[m]} {r:g}",
                 [100 * x["miou"] for x in rows if x["regime"] == regime
                  and x["protocol"] == protocol and x["generator"] == generator
                  and x["mode"] == m and x["ratio"] == r]) for m, r in cells]:
            if values:
                labels.append(name)
                means.append(float(np.mean(values)))
                stds.append(float(np.std(values, ddof=1)) if len(values) > 1 else 0.0)
        xs = np.arange(len(labels))
        ax.errorbar(xs, means, yerr=stds, fmt="o", capsize=3, color="C0")
        if means:
            ax.axhline(means[0], color="grey", lw=0.8, ls=":")
        ax.set_xticks(xs, labels, rotation=45, ha="right", fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
        ax.set_title(f"{regime or 'all'} labelled, protocol {protocol}", fontsize=8)
        ax.set_ylabel("test mIoU % (mean ± std)", fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return True


def sample_grid(results: dict[str, dict[str, Any]], data: Path, path: Path) -> bool:
    """Label | real RGB | real depth | every variant's RGB / depth on the same 6 maps."""
    from PIL import Image

    reference = data / "samples" / "_real.png"
    rows = gan_results(results)
    strips: list[tuple[list[str], np.ndarray]] = []
    if not reference.is_file():
        return False
    ref = np.asarray(Image.open(reference).convert("RGB"))
    width = ref.shape[1] // 3
    strips.append((["labels", "real RGB", "real depth"], ref))
    for row in ROWS:
        runs = rows.get(row.name, [])
        if not runs or not (data / runs[0].get("samples", "-")).is_file():
            continue
        image = np.asarray(Image.open(data / runs[0]["samples"]).convert("RGB"))
        if image.shape[0] != ref.shape[0]:
            continue
        names = [f"{row.label} {kind}" for kind, present in
                 (("RGB", row.modality in ("RGB-D", "RGB")),
                  ("depth", row.modality in ("RGB-D", "Depth"))) if present]
        strips.append((names, image))
    if len(strips) == 1:
        return False
    gap = np.full((ref.shape[0], 3, 3), 255, np.uint8)
    parts, centres, names, x = [], [], [], 0
    for labels, image in strips:
        parts += [image, gap]
        for i, label in enumerate(labels):
            centres.append(x + width * i + width / 2)
            names.append(label)
        x += image.shape[1] + gap.shape[1]
    canvas = np.concatenate(parts[:-1], axis=1)
    plt = _plt()
    fig = plt.figure(figsize=(canvas.shape[1] / 80, canvas.shape[0] / 80 + 1.2), dpi=100)
    ax = fig.add_axes((0, 0, 1, canvas.shape[0] / (canvas.shape[0] + 96)))
    ax.imshow(canvas, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for c, name in zip(centres, names):
        ax.text(c, -4, name, rotation=60, fontsize=6, ha="left", va="bottom")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return True


# ------------------------------------------------------------------------------------------
# The page.


def _claims_table(claims: list[tuple[str, str, str]]) -> str:
    lines = ["| claim | verdict | evidence |", "|---|---|---|"]
    for claim, verdict, evidence in claims:
        lines.append(f"| {claim} | **{verdict}** | {evidence} |")
    return "\n".join(lines) + "\n"


def _meta_section(meta: dict[str, Any] | None, name: str) -> list[str]:
    if not meta:
        return []
    lines = [f"**{name} commands** (each invocation; `--budget-min` stops between runs):", ""]
    for inv in meta.get("invocations", []):
        lines.append(f"- `{inv['command']}` — started {inv['started']}, "
                     f"{inv['seconds'] / 60:.0f} min, commit {inv.get('commit') or '?'}: "
                     f"{inv.get('summary', '').splitlines()[0] if inv.get('summary') else ''}")
    machine = (meta.get("invocations") or [{}])[-1].get("machine")
    if machine:
        lines += ["", f"Machine: {machine.get('cpu')}, {machine.get('cores')} cores, "
                      f"{machine.get('platform')}, Python {machine.get('python')}, torch "
                      f"{machine.get('torch')}" + (f", GPU {machine['cuda']}"
                                                   if machine.get("cuda") else ", no GPU")]
    planned = meta.get("planned", [])
    return lines + ([""] if planned else [])


def _left(meta: dict[str, Any] | None, results: dict[str, dict[str, Any]]) -> list[str]:
    if not meta:
        return []
    planned = meta.get("planned", [])
    missing = [p for p in planned if p["key"] not in results and not p.get("skip_reason")]
    skipped = [p for p in planned if p.get("skip_reason")]
    lines = []
    if missing:
        hours = sum(p.get("est_cpu_s", 0) for p in missing) / 3600
        lines.append(f"- Runs planned but not finished yet ({len(missing)}, about {hours:.1f} "
                     f"CPU-hours single-threaded): " + ", ".join(f"`{p['key']}`"
                                                                 for p in missing) + ".")
    for p in skipped:
        lines.append(f"- Not run: `{p['key']}` — {p['skip_reason']}.")
    return lines


def _wall(results: dict[str, dict[str, Any]]) -> str:
    wall = sum(r.get("wall_seconds", 0) for r in results.values())
    cpu = sum(r.get("cpu_seconds", 0) for r in results.values())
    return f"{len(results)} runs, {wall / 3600:.2f} h wall time in total, {cpu / 3600:.2f} " \
           "CPU-hours (the drivers' own processes)"


#: How the paired comparisons of Table 1 are computed now (recorded in comparisons.json).
ESTIMATOR_KEY = "_estimator"
ESTIMATOR = ("every seed of both rows, test frames and seeds resampled together, FID "
             "differences bias-shifted")
#: Hand-written reading of the results, kept in the data folder beside the run results and
#: placed under the claims (the verdicts themselves are always computed).
DISCUSSION = "discussion.md"


def build_page(page: Path, data: Path) -> str:
    """The Markdown of the results page from the collected data (figures written too)."""
    figs = page.parent / page.stem
    r1 = _load_results(data / "table1")
    r2 = _load_results(data / "table2")
    meta1 = json.loads((data / "table1" / "experiment.json").read_text()) \
        if (data / "table1" / "experiment.json").is_file() else None
    meta2 = json.loads((data / "table2" / "experiment.json").read_text()) \
        if (data / "table2" / "experiment.json").is_file() else None
    comps_path = data / "table1" / "comparisons.json"
    comps = json.loads(comps_path.read_text()) if comps_path.is_file() else {}
    estimator = comps.pop(ESTIMATOR_KEY, None)
    rel = figs.name
    out = ["# Results: the paper's claims at CPU scale", "",
           "Generated by `python -m scmis_core.experiments report --out docs/results.md` from "
           f"the run results in `{data.relative_to(page.parent)}/` (one JSON per run). Every "
           "verdict below is computed from those files: **reproduced** (the paper's "
           "direction, with a 95 % interval of the difference that excludes zero), **not "
           "reproduced** (the opposite direction with such an interval, or for Table 2 a "
           f"gain whose 95 % interval lies below {MIN_GAIN:g} mIoU point), "
           "**inconclusive** (anything else), **not run** (runs missing).", "",
           "The scale is a 2-core CPU: procedural rooms at 64×64, robot-size networks, a "
           "few thousand steps. The paper's numbers (NYUv2 at full size, GPU-trained) are "
           "beside ours for the direction of each effect, not for the values.", ""]
    out += fewhomes_section(page, data)
    claims = table1_claims(r1, comps) + table2_claims(r2)
    if claims:
        out += ["## Claims", "", _claims_table(claims)]
    discussion = data / DISCUSSION
    if discussion.is_file():  # written by hand after reading the numbers below
        out += ["## What the numbers say", "", discussion.read_text(encoding="utf-8").strip(),
                ""]
    if r1:
        gans = {k: v for k, v in r1.items() if v.get("kind") == "gan"}
        out += ["## Table 1 / Table 6: generators", "",
                "Each cell: value [95 % bootstrap interval over the test frames]; several "
                "seeds are separated by '/'. mIoU: the judge segmenter on generated RGB + "
                "real depth. FID from 64×64 images upsampled for Inception: compare rows "
                "with each other, not with the paper.", "",
                table1_markdown(r1), judge_line(r1), ""]
        if comps:
            out += ["Paired differences (same test frames resampled for both runs, "
                    "95 % bootstrap intervals):", ""]
            out += [f"- {k.replace(':', ' ')}: {v[0]:+.3g} [{v[1]:+.3g}, {v[2]:+.3g}]"
                    for k, v in comps.items()]
            out.append("")
            if estimator != ESTIMATOR:
                out += ["These paired intervals were computed when they were collected, from "
                        "the seed-0 run of each row and as plain percentile intervals (FID "
                        "differences not bias-shifted like the single-run intervals). The "
                        f"current code ({ESTIMATOR}) applies at the next collection of Table 1; "
                        "the per-image data behind these runs was not kept, so they cannot be "
                        "recomputed from this repository.", ""]
        judge = r1.get("judge")
        if judge:
            out += [f"Judge: {judge.get('arch')} trained {judge.get('steps')} steps on "
                    f"{judge.get('train_frames')} frames: {100 * judge['miou']:.1f} % mIoU "
                    f"on {judge.get('test_frames')} real test frames.", ""]
        if plot_curves(gans, figs / "table1_curves.png"):
            out += [f"![FID and mIoU against training steps]({rel}/table1_curves.png)", ""]
        if sample_grid(gans, data / "table1", figs / "table1_samples.png"):
            out += ["Every variant on the same 6 test label maps (same noise):", "",
                    f"![samples]({rel}/table1_samples.png)", ""]
        out += _left(meta1, r1) + [""] + _meta_section(meta1, "Table 1")
        out += ["", f"Wall time: {_wall(r1)}.", ""]
    if r2:
        out += ["## Table 2: class-mix augmentation", ""]
        out += [f"- {line}" for line in baseline_check(r2)]
        for gan in sorted((r for r in r2.values() if r.get("kind") == "gan"
                           and "metrics" in r), key=lambda r: r["key"]):
            m, ci = gan["metrics"], gan.get("ci", {})
            out.append(f"- protocol a generator `{gan['key']}` ({gan['steps']} steps on "
                       f"{gan['train_frames']} frames): FID {m.get('fid', float('nan')):.1f} "
                       f"{[round(v, 1) for v in ci.get('fid', [])]}, AbsRel "
                       f"{m.get('abs_rel', float('nan')):.3f} on {gan.get('num_images')} "
                       "test frames (compare with Table 1's SCMIS, trained on all frames)")
        out.append("")
        settings = (meta2 or {}).get("settings", {})
        for regime, protocol, generator in regimes(r2):
            what = ("generator trained on the same labelled frames (the paper's protocol)"
                    if protocol == "a" else "generator trained on many frames (robot case)")
            out += [f"### {regime or 'all'} labelled frames, protocol {protocol}: {what}, "
                    f"generator {generator}", "",
                    table2_markdown(r2, regime, protocol, generator,
                                           settings.get("modes", ("depth", "rgb", "rgbd")),
                                           settings.get("ratios", (0.3, 0.5, 0.7))), ""]
        t3 = settings.get("table3") if settings else None
        if t3:
            for regime, protocol in sorted({(g[0], g[1]) for g in regimes(r2)}, reverse=True):
                text = table3_markdown(r2, regime, protocol, settings.get("table3_mode", "rgb"),
                                       settings.get("table3_ratio", 0.7))
                if text:
                    out += [f"### Table 3: generators compared ({regime or 'all'} labelled "
                            f"frames, protocol {protocol})", "", text, ""]
        if settings:
            opts = settings.get("options", {})
            out += [f"Segmenter: {opts.get('arch')} {opts.get('arch_kwargs') or ''}, "
                    f"{opts.get('steps')} steps, batch {opts.get('batch_size')}, "
                    f"{opts.get('optimizer')} lr {opts.get('lr')}; {settings.get('mixing')} "
                    f"mixing with {settings.get('variants')} mixed copies per frame; "
                    f"paper: ESANet-R34 on NYUv2, baseline {PAPER_TABLE2_BASE}.", ""]
        if plot_table2(r2, figs / "table2_miou.png"):
            out += [f"![mIoU per class-mix setting]({rel}/table2_miou.png)", ""]
        out += _left(meta2, r2) + [""] + _meta_section(meta2, "Table 2")
        out += ["", f"Wall time: {_wall(r2)}.", ""]
    for name, results, meta in (("Table 1", r1, meta1), ("Table 2", r2, meta2)):
        if not results and meta:
            out += [f"## {name}", "", "No run has finished yet.", ""] + _left(meta, results) \
                + [""] + _meta_section(meta, name) + [""]
    if not r1 and not r2 and not meta1 and not meta2 and not (data / "fewhomes").is_dir():
        out += ["No run has finished yet.", ""]
    return "\n".join(line for line in out) .replace("\n\n\n", "\n\n")


def write_report(page: str | Path, table1: str | Path | None = None,
                 table2: str | Path | None = None, reps: int = 1000,
                 fewhomes: str | Path | None = None) -> Path:
    """Collect (when given) and write the page; returns its path."""
    page = Path(page)
    data = page.parent / page.stem / "data"
    if fewhomes:
        collect_fewhomes(Path(fewhomes), data / "fewhomes")
    if table1:
        collect(Path(table1), data / "table1", reps)
    if table2:
        collect(Path(table2), data / "table2", reps)
    atomic_write_text(page, build_page(page, data))
    return page


__all__ = ["collect", "build_page", "write_report", "ROW_BY_NAME"]
