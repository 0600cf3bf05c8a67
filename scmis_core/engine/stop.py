"""Stopping a training run on SIGTERM / SIGINT without losing the step being trained.

A cluster scheduler, ``docker stop`` and ``timeout`` send SIGTERM; Ctrl-C sends SIGINT. While
a :class:`StopRequest` is active, either signal only sets a flag: the trainer finishes the
step it is in, writes a checkpoint of that step atomically and raises
:class:`TrainingInterrupted`, whose message says how to resume. The command then exits with
``128 + signal`` (143 for SIGTERM, 130 for SIGINT), as a process killed by it would. A
second signal while stopping ends the process at once (the previous handler runs).

A signal that the process inherited as ignored (SIGINT in a background job of a
non-interactive shell, ``nohup``) stays ignored. Handlers are installed only in the main
thread (elsewhere the request is inert). Under ``torchrun`` every rank gets the signal, not
necessarily in the same step: :meth:`StopRequest.agreed` takes the maximum over the ranks,
so all of them stop after the same step.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import torch
import torch.distributed as dist

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class TrainingInterrupted(Exception):
    """Training stopped on a signal after writing a checkpoint of the last finished step."""

    def __init__(self, signum: int, step: int, checkpoint: Path | None, resume_hint: str):
        self.signum, self.step, self.checkpoint = signum, step, checkpoint
        name = signal.Signals(signum).name
        where = f"; checkpoint {checkpoint}" if checkpoint is not None else ""
        super().__init__(f"stopped by {name} after step {step}{where}; resume with: "
                         f"{resume_hint}")

    @property
    def exit_code(self) -> int:
        """``128 + signal``: what a shell reports for a process the signal ended."""
        return 128 + self.signum


class StopRequest:
    """Context manager: SIGTERM / SIGINT set :attr:`signum` instead of ending the process."""

    def __init__(self, signals: tuple[int, ...] = SIGNALS):
        self.signals = signals
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:  # the second signal: do what it did before us
            previous = self._previous.get(signum, signal.SIG_DFL)
            self._restore()
            if callable(previous):
                previous(signum, frame)
            else:
                signal.raise_signal(signum)
            return
        self.signum = signum

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is not threading.main_thread():
            return self
        for signum in self.signals:
            previous = signal.getsignal(signum)
            if previous == signal.SIG_IGN:
                continue  # ignored by whoever started us: leave it so
            self._previous[signum] = previous
            signal.signal(signum, self._handle)
        return self

    def _restore(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous = {}

    def __exit__(self, *exc) -> None:
        self._restore()

    def agreed(self, device: torch.device | None = None) -> int | None:
        """The signal to stop on, the same on every rank (a collective when distributed:
        call it at the same point of every step on all ranks)."""
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return self.signum
        flag = torch.tensor([self.signum or 0], dtype=torch.int64, device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return int(flag.item()) or None
