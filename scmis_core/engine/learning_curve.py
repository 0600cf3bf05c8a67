"""A run's learning curve (metrics at evaluation steps) kept in ``curve.json``, resumable.

The file is rewritten atomically at every evaluation; a run resumed from a step checkpoint
keeps the points up to that step and drops the later ones (they are redone).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..atomic_files import atomic_write_text


class LearningCurve:
    """Points ``{"step": s, name: value, ...}`` in step order, saved to ``path``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.points: list[dict[str, Any]] = []

    def load(self, up_to_step: int) -> "LearningCurve":
        """Read the saved points with step <= ``up_to_step`` (none when the file is absent or
        unreadable: the curve is then redone from the next evaluation)."""
        self.points = []
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return self
        if isinstance(data, list):
            self.points = [p for p in data if isinstance(p, dict)
                           and isinstance(p.get("step"), int) and p["step"] <= up_to_step]
        return self

    def add(self, step: int, **values: float) -> None:
        """Record the metrics of ``step`` (replacing an earlier point of the same step)."""
        self.points = [p for p in self.points if p["step"] != step]
        self.points.append({"step": int(step), **{k: _finite(v) for k, v in values.items()}})
        self.points.sort(key=lambda p: p["step"])
        atomic_write_text(self.path, json.dumps(self.points, indent=1))


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None
