"""Where a result was made: the CPU model of this machine and the git commit of the code.

Recorded next to results (shipped weights' JSON, experiment pages) so that a number can be
traced to a machine and a commit. No torch import: callers add the library versions.
"""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

#: The source checkout holding this package (a git work tree in development).
SOURCE_ROOT = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what :mod:`platform` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_head(short: bool = False, root: Path = SOURCE_ROOT) -> str | None:
    """HEAD of the git checkout at ``root`` (abbreviated when ``short``), or None where
    ``root`` is not a checkout (an installed package) or git does not answer."""
    if not (root / ".git").exists():
        return None
    command = ["git", "-C", str(root), "rev-parse", *(["--short"] if short else []), "HEAD"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=20,
                              check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    head = done.stdout.strip()
    return head if done.returncode == 0 and head else None
