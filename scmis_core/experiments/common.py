"""Shared helpers of the experiment drivers: config files, checkpoint names, listing."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Sequence

from .runner import RunSpec


def config_file(name: str) -> Path:
    """A config of the repository (``config/NAME``) or of the installed package share."""
    candidates = [Path(__file__).resolve().parents[2] / "config" / name,
                  Path(sys.prefix) / "share" / "scmis_ros" / "config" / name,
                  Path("config") / name]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(f"config {name}: expected it in {candidates[0].parent} or "
                            f"{candidates[1].parent}, found none")


def resolve_checkpoint(name: str, what: str, kind: str | None = None) -> str:
    """A checkpoint path, or a shipped name (``rooms``, ``rooms-judge``) resolved by
    :mod:`scmis_core.pretrained` where this installation ships weights."""
    if not name or Path(name).is_file():
        return name
    try:
        from .. import pretrained
    except ImportError:  # a checkout without shipped weights
        pretrained = None
    if pretrained is not None:
        path = Path(pretrained.resolve(name, kind))
        if path.is_file():
            return str(path)
    raise FileNotFoundError(f"{what}: expected a checkpoint file or a shipped name, found "
                            f"{name!r} (no such file)")


def format_listing(specs: Sequence[RunSpec], extra: Sequence[tuple[str, float, float]] = (),
                   gpu_note: str = "") -> str:
    """The run list with the CPU and GPU estimates (``extra``: (text, cpu_s, gpu_s) rows
    for runs chosen later)."""
    lines = [f"{'#':>3}  {'run':<34} {'CPU h':>7} {'GPU h':>7}  what"]
    cpu = gpu = 0.0
    for i, spec in enumerate(specs, 1):
        note = f"  (not run: {spec.skip_reason})" if spec.skip_reason else ""
        lines.append(f"{i:>3}  {spec.key:<34} {spec.est_cpu_s / 3600:>7.2f} "
                     f"{spec.est_gpu_s / 3600:>7.1f}  {spec.label}{note}")
        if not spec.skip_reason:
            cpu += spec.est_cpu_s
            gpu += spec.est_gpu_s
    for text, cpu_s, gpu_s in extra:
        lines.append(f"{'+':>3}  {'(chosen later)':<34} {cpu_s / 3600:>7.2f} "
                     f"{gpu_s / 3600:>7.1f}  {text}")
        cpu += cpu_s
        gpu += gpu_s
    count = sum(1 for s in specs if not s.skip_reason) + len(extra)
    lines.append(f"{count} runs; estimated {cpu / 3600:.1f} CPU-hours single-threaded on "
                 f"this machine, {gpu / 3600:.1f} GPU-hours at the preset's scale")
    if gpu_note:
        lines.append(gpu_note)
    return "\n".join(lines)


def jsonable(value: Any) -> Any:
    """``value`` with tuples turned into lists (what a JSON round trip gives)."""
    import json

    return json.loads(json.dumps(value))


def gan_config_dict(cfg: Any) -> dict[str, Any]:
    """A generator run's config (:class:`~scmis_core.config.Config`) as the dict its run spec
    stores: without the ``segment`` section, which a GAN run never reads, so that the specs
    of runs finished before that section existed still match (the executor's ``from_dict``
    fills in its defaults)."""
    out = cfg.to_dict()
    out.pop("segment", None)
    return out
