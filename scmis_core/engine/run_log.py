"""The log of one run folder: ``metrics.jsonl`` (one JSON object per line) and TensorBoard.

A run that continues (``--resume`` after a crash or a SIGKILL) first cuts the log back to the
state it continues from: the rows written after that checkpoint belong to steps that are
trained again and would otherwise appear twice. The checkpoint records how many rows the log
had when it was written (:attr:`RunLogger.lines`); for older checkpoints the rows of later
steps are dropped. The cut is atomic (temporary file + rename), and TensorBoard hides the
events of the lost steps (``purge_step``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ..atomic_files import atomic_write_text

LOG_NAME = "metrics.jsonl"


def _step_of(line: str) -> int | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    step = record.get("step") if isinstance(record, dict) else None
    return step if isinstance(step, int) else None


def cut_log(path: Path, *, keep_lines: int | None = None,
            max_step: int | None = None) -> int:
    """Keep the first ``keep_lines`` complete lines of ``path`` (else those whose step is at
    most ``max_step``; a torn last line is always dropped); returns the lines kept. The file
    is rewritten atomically, and only when something is dropped."""
    if not path.is_file():
        return 0
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.splitlines(keepends=True)
    complete = [ln for ln in lines if ln.endswith("\n")]
    if keep_lines is not None:
        kept = complete[:max(keep_lines, 0)]
    elif max_step is not None:
        kept = [ln for ln in complete if (_step_of(ln) or 0) <= max_step]
    else:
        kept = complete
    if len(kept) != len(lines):
        atomic_write_text(path, "".join(kept))
    return len(kept)


class RunLogger:
    """metrics.jsonl + TensorBoard of one run folder (rank 0 only).

    ``start_step``: the step the run starts or continues at. ``keep_lines``: rows of an
    existing metrics.jsonl that belong to the state being continued (a checkpoint's
    :attr:`lines`; 0 for a fresh start); None keeps the rows of steps up to ``start_step``.
    Without ``start_step`` the log is appended to as it is.
    """

    def __init__(self, run_dir: Path, *, start_step: int | None = None,
                 keep_lines: int | None = None):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.run_dir / LOG_NAME
        purge_step = None
        if start_step is not None:
            kept = cut_log(path, keep_lines=keep_lines, max_step=start_step)
            tb_dir = self.run_dir / "tb"
            if start_step > 0 or (tb_dir.is_dir() and any(tb_dir.iterdir())):
                purge_step = start_step + 1 if start_step > 0 else 0
        else:
            kept = cut_log(path)
        #: Rows in metrics.jsonl (what a checkpoint written now records).
        self.lines = kept
        self.jsonl = open(path, "a", encoding="utf-8")
        try:
            from torch.utils.tensorboard import SummaryWriter
            self.tb = SummaryWriter(str(self.run_dir / "tb"), purge_step=purge_step)
        except ImportError:  # tensorboard is a declared dependency; keep training without it
            self.tb = None

    def log(self, step: int, values: dict[str, float]) -> None:
        record = {"step": step, "time": round(time.time(), 3), **values}
        self.jsonl.write(json.dumps(record) + "\n")
        self.jsonl.flush()
        self.lines += 1
        if self.tb is not None:
            for key, value in values.items():
                self.tb.add_scalar(key, value, step)

    def image(self, step: int, tag: str, image: np.ndarray) -> None:
        if self.tb is not None:
            self.tb.add_image(tag, image, step, dataformats="HWC")

    def flush(self) -> None:
        """Everything logged so far on disk (before a checkpoint records :attr:`lines`)."""
        self.jsonl.flush()
        if self.tb is not None:
            self.tb.flush()

    def close(self) -> None:
        self.jsonl.close()
        if self.tb is not None:
            self.tb.close()
