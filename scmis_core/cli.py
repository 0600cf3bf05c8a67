"""Command-line plumbing shared by every ``python -m scmis_core.*`` entry point.

One rule for every command: an *expected* failure (a missing, unreadable or corrupt file, a bad
config value, an output folder that cannot be written, a size beyond the memory limit, a usage
error) ends the command with one line ``error: ...`` on stderr naming the file or option and
what was wrong, and exit code 2. A traceback means a bug.

- :func:`entry_point` wraps a ``main(argv) -> int`` with that rule (``SCMIS_TRACEBACK=1`` in
  the environment re-raises, for debugging).
- :class:`CliError` is raised for bad command-line input found after parsing;
  :class:`OneLineArgumentParser` reports usage errors as one line (exit 2, as argparse does);
  :func:`parse_arguments` turns argparse's exit into a return code.
- Argument types and shared options: :func:`parse_size` (``HxW``), :func:`positive_int`,
  :func:`finite_float`, :func:`add_device_argument`, :func:`add_config_arguments`,
  :func:`add_memory_limit_argument`.
- :func:`writable_folder` / :func:`writable_parent` check an output location before the work
  starts (an unwritable ``--out`` fails in the first second, not after an hour of compute).

No torch import and no import of other project modules here: every layer may use it, and
the data tools start without torch.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Callable, NoReturn, Sequence

#: Exit code of usage errors and expected failures.
EXIT_ERROR = 2

#: Environment variable that turns the one-line errors back into tracebacks.
TRACEBACK_ENV = "SCMIS_TRACEBACK"

#: Default limit of the estimated memory of one generator (weights + activations), MiB
#: (:mod:`scmis_core.resources`), and the option that changes it.
DEFAULT_MAX_MEMORY_MB = 8192
MEMORY_LIMIT_FLAG = "--max-memory-mb"


class CliError(Exception):
    """Bad command-line input; reported as one ``error: ...`` line with exit code 2."""


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse that reports usage errors as one ``error: ...`` line and exits with 2."""

    def error(self, message: str) -> NoReturn:
        """Print ``error: message`` (no usage block) and exit with code 2."""
        self.exit(EXIT_ERROR, f"error: {message} (see {self.prog} --help)\n")


#: Exception classes that are expected failures (all others are bugs and keep their
#: traceback). ValueError covers ConfigError, OutputDirError, ResourceLimitError and the
#: image readers; RuntimeError covers CheckpointError and CUDA out-of-memory; OSError covers
#: missing files, permissions, full disks.
EXPECTED: tuple[type[BaseException], ...] = (CliError, ValueError, OSError, RuntimeError,
                                             ImportError, MemoryError,
                                             argparse.ArgumentTypeError)

#: Subclasses of :data:`EXPECTED` classes that still mean a bug.
BUGS: tuple[type[BaseException], ...] = (NotImplementedError, RecursionError)


def format_error(exc: BaseException) -> str:
    """One line describing ``exc``: the file and the reason for OS errors, else the message."""
    if isinstance(exc, OSError) and exc.filename is not None:
        reason = exc.strerror or type(exc).__name__
        target = f"{exc.filename}" + (f" -> {exc.filename2}" if exc.filename2 else "")
        return f"{target}: {reason}"
    if isinstance(exc, MemoryError):
        detail = " ".join(str(exc).split())
        return "out of memory" + (f" ({detail})" if detail else "") + \
            "; try a smaller size or batch"
    message = " ".join(str(exc).split())
    return message or type(exc).__name__


def report(exc: BaseException) -> int:
    """Print ``error: ...`` for ``exc`` on stderr and return :data:`EXIT_ERROR`."""
    print(f"error: {format_error(exc)}", file=sys.stderr)
    return EXIT_ERROR


def entry_point(main: Callable[[Sequence[str] | None], int]
                ) -> Callable[[Sequence[str] | None], int]:
    """Decorate ``main(argv) -> int`` so that expected failures exit 2 with one line."""
    @functools.wraps(main)
    def wrapper(argv: Sequence[str] | None = None) -> int:
        try:
            return main(argv)
        except EXPECTED as exc:
            if isinstance(exc, BUGS) or os.environ.get(TRACEBACK_ENV):
                raise
            return report(exc)
    return wrapper


def parse_arguments(parser: argparse.ArgumentParser, argv: Sequence[str] | None
                    ) -> argparse.Namespace | int:
    """``parser.parse_args(argv)`` for a ``main`` that returns its exit code instead of
    raising ``SystemExit``: where argparse exits (0 after ``--help``, 2 after a usage error it
    has already reported) that code is returned."""
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


# --- argument types ---------------------------------------------------------------------

def parse_size(text: str) -> tuple[int, int]:
    """``"240x320"`` -> (240, 320) as (height, width)."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"expected HxW (e.g. 240x320), found {text!r}")
    height, width = (int(p) for p in parts)
    if height < 1 or width < 1:
        raise argparse.ArgumentTypeError(f"expected a positive HxW, found {text!r}")
    return height, width


def positive_int(text: str) -> int:
    """A whole-number option of at least 1 (a count)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, found {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, found {value}")
    return value


def finite_float(text: str) -> float:
    """A float option that refuses nan / inf."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, found {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, found {text!r}")
    return value


def seed_int(text: str) -> int:
    """A random seed option: a whole number in [0, 2**32 - 1] (what numpy and torch take)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, found {text!r}") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"expected a seed in [0, 2**32 - 1], found {text}")
    return value


def non_negative_float(text: str) -> float:
    """A finite float option >= 0."""
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, found {text!r}")
    return value


# --- shared options -----------------------------------------------------------------------

def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """``--device`` (auto | cpu | cuda | cuda:N)."""
    parser.add_argument("--device", default="auto",
                        help="auto | cpu | cuda | cuda:N (default auto: CUDA when present)")


def add_config_arguments(parser: argparse.ArgumentParser, what: str = "") -> None:
    """``--config FILE`` and positional dotted ``key=value`` overrides."""
    parser.add_argument("--config", help="YAML config" + (f" ({what})" if what else ""))
    parser.add_argument("overrides", nargs="*",
                        help="dotted overrides, e.g. data.height=64 train.steps=10")


def add_memory_limit_argument(parser: argparse.ArgumentParser) -> None:
    """``--max-memory-mb``: limit of a generator's estimated weights + activations."""
    parser.add_argument(MEMORY_LIMIT_FLAG, type=non_negative_float,
                        default=DEFAULT_MAX_MEMORY_MB,
                        metavar="MB",
                        help="refuse a generator whose estimated memory (weights + "
                             "activations at the requested size) exceeds this many MiB, "
                             f"before allocating it (default {DEFAULT_MAX_MEMORY_MB}; "
                             "0 = no limit)")


# --- output locations -------------------------------------------------------------------

def _probe(folder: Path) -> None:
    with tempfile.TemporaryFile(dir=folder, prefix=".scmis-write-test-"):
        pass


def _check_folder(folder: Path, label: str) -> None:
    try:
        if folder.exists() and not folder.is_dir():
            raise CliError(f"{label}: expected a folder, found a file")
        folder.mkdir(parents=True, exist_ok=True)
        _probe(folder)
    except OSError as exc:
        raise CliError(f"{label}: cannot write there "
                       f"({exc.strerror or type(exc).__name__})") from None


def writable_folder(path: str | Path, option: str = "--out") -> Path:
    """Create folder ``path`` (and parents) and check that files can be written in it.

    Raises :class:`CliError` naming ``option``, the folder and the reason.
    """
    folder = Path(path)
    _check_folder(folder, f"{option} {folder}")
    return folder


def writable_parent(path: str | Path, option: str = "--out") -> Path:
    """Check that file ``path`` can be written (its folder is created if missing)."""
    target = Path(path)
    if target.is_dir():
        raise CliError(f"{option} {target}: expected a file name, found a folder")
    _check_folder(target.parent, f"{option} {target} (folder {target.parent})")
    return target
