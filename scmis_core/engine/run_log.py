"""The log of one run folder: ``metrics.jsonl`` (one JSON object per line) and TensorBoard."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np


class RunLogger:
    """metrics.jsonl + TensorBoard of one run folder (rank 0 only)."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        self.jsonl = open(run_dir / "metrics.jsonl", "a", encoding="utf-8")
        try:
            from torch.utils.tensorboard import SummaryWriter
            self.tb = SummaryWriter(str(run_dir / "tb"))
        except ImportError:  # tensorboard is a declared dependency; keep training without it
            self.tb = None

    def log(self, step: int, values: dict[str, float]) -> None:
        record = {"step": step, "time": round(time.time(), 3), **values}
        self.jsonl.write(json.dumps(record) + "\n")
        self.jsonl.flush()
        if self.tb is not None:
            for key, value in values.items():
                self.tb.add_scalar(key, value, step)

    def image(self, step: int, tag: str, image: np.ndarray) -> None:
        if self.tb is not None:
            self.tb.add_image(tag, image, step, dataformats="HWC")

    def close(self) -> None:
        self.jsonl.close()
        if self.tb is not None:
            self.tb.close()
