"""``python -m scmis_core.pretrained list | verify | pack``: the shipped weights.

- ``list``: what ships (name, kind, size, steps, images seen, hash check, metrics);
- ``verify [NAME ...]``: check the SHA-256 of shipped weights (exit 2 on a mismatch);
- ``pack RUN_CHECKPOINT --name NAME``: write ``NAME.pt`` / ``.json`` / ``.sha256`` from a
  training checkpoint (:mod:`scmis_core.pretrained.pack`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

from ..cli import entry_point, finite_float
from . import (SHIPPED, WEIGHTS_DIR, PretrainedError, info_record, sha256_record,
               shipped_info, verify)


def _status(path: Path) -> str:
    if not path.is_file():
        return "missing"
    if not sha256_record(path).is_file():
        return "no sha256 record"
    try:
        verify(path)
    except PretrainedError:
        return "HASH MISMATCH"
    return "sha256 ok"


def _metrics_text(info: dict) -> str:
    metrics = info.get("metrics") or {}
    parts = []
    for key, label, scale, digits in (("fid", "FID", 1, 1), ("miou", "mIoU", 100, 1),
                                      ("miou_real", "mIoU real", 100, 1),
                                      ("abs_rel", "AbsRel", 1, 3),
                                      ("pixel_accuracy", "pixel acc", 100, 1)):
        value = metrics.get(key)
        if isinstance(value, (int, float)):
            parts.append(f"{label} {scale * value:.{digits}f}")
    return ", ".join(parts) or "no metrics recorded"


def list_shipped(weights_dir: Path) -> int:
    """Print one block per registry entry."""
    for name, entry in SHIPPED.items():
        path = weights_dir / entry.file
        info = shipped_info(name, weights_dir) or {}
        size = f"{path.stat().st_size / 1e6:.1f} MB" if path.is_file() else "-"
        seen = info.get("images_seen")
        seen = "?" if seen is None else seen
        print(f"{name:12s} {entry.kind:9s} {size:>8s}  {_status(path)}  {path}")
        print(f"  {entry.what}")
        if info:
            wall, span = info.get("wall_time_s"), info.get("metrics_log_span_s")
            time_text = (f"wall time {wall / 3600:.1f} h" if wall else
                         f"log span {span / 3600:.1f} h" if span else "wall time not recorded")
            print(f"  steps {info.get('steps')}, images seen {seen}, {time_text}, commit "
                  f"{(info.get('code_commit') or '?')[:12]}")
            print(f"  {_metrics_text(info)}")
        else:
            print(f"  no description ({info_record(path).name})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scmis_core.pretrained",
        description="Weights shipped with scmis (names for --checkpoint / --segmenter): "
                    "list them, verify their SHA-256, or pack a training checkpoint into them.")
    sub = parser.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="what ships, with steps, images seen and metrics")
    ls.add_argument("--dir", default=str(WEIGHTS_DIR), help="weights folder (default: the "
                    "package's)")
    ve = sub.add_parser("verify", help="check the recorded SHA-256 of shipped weights")
    ve.add_argument("names", nargs="*", help=f"default: all ({', '.join(SHIPPED)})")
    ve.add_argument("--dir", default=str(WEIGHTS_DIR))
    pk = sub.add_parser("pack", help="NAME.pt (float16 weights) + NAME.json + NAME.sha256 "
                        "from a training checkpoint")
    pk.add_argument("checkpoint", help="run checkpoint (train: step_*.pt / final.pt; "
                    "segment train: segmenter.pt / step_*.pt)")
    pk.add_argument("--name", required=True, choices=sorted(SHIPPED))
    pk.add_argument("--metrics", default=None, help="JSON of its metrics (evaluate's "
                    "report.json, segment's segmenter_eval.json); none recorded without it")
    pk.add_argument("--wall-time-s", type=finite_float, default=None,
                    help="training wall time in seconds (recorded as given; null without it)")
    pk.add_argument("--commit", default=None, help="code commit the run trained with "
                    "(default: HEAD of this checkout, recorded as such)")
    pk.add_argument("--machine", default=None, help="machine it trained on (default: this "
                    "machine's description, recorded as such)")
    pk.add_argument("--out-dir", default=None, help=f"where to write (default {WEIGHTS_DIR})")
    return parser


@entry_point
def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m scmis_core.pretrained``."""
    args = build_parser().parse_args(argv)
    if args.command == "list":
        return list_shipped(Path(args.dir))
    if args.command == "verify":
        failed = 0
        for name in args.names or list(SHIPPED):
            if name not in SHIPPED:
                raise PretrainedError(f"{name!r}: expected one of {', '.join(SHIPPED)}")
            path = Path(args.dir) / SHIPPED[name].file
            status = _status(path)
            failed += status != "sha256 ok"
            print(f"{name}: {status} ({path})")
        return 2 if failed else 0
    from .pack import pack

    if args.wall_time_s is not None and args.wall_time_s < 0:
        raise PretrainedError(f"--wall-time-s: expected >= 0, found {args.wall_time_s}")
    info = pack(args.checkpoint, args.name, out_dir=args.out_dir, metrics=args.metrics,
                wall_time_s=args.wall_time_s, commit=args.commit, machine=args.machine)
    check = {k: v for k, v in info["float16_check"].items() if k != "input"}
    print(json.dumps({k: info[k] for k in ("name", "kind", "bytes", "sha256", "steps",
                                            "images_seen", "wall_time_s", "code_commit")},
                     indent=2))
    print(f"float16 vs float32: {json.dumps(check)}")
    written = ", ".join(info["written"]) or "nothing (the files were already these)"
    print(f"{info['out_dir']}: wrote {written}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
