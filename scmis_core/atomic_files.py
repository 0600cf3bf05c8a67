"""Atomic file writes: a temporary file in the same folder, fsync, then rename into place.

A crash (or SIGKILL) at any point leaves either the old file or the new one under the final
name, never a half-written file. The temporary is named ``.NAME.tmp-HOST-PID-RANDOM`` (the
layout of :mod:`scmis_core.output_dirs`' temporary folders): what a SIGKILL leaves behind is
recognisable as ours and as stale, and :func:`remove_stale_temp_files` removes exactly those
(this host, a process that no longer runs). No torch here, so the data tools can use it;
:mod:`scmis_core.runtime` re-exports these for the trainers.

Permissions: temporaries are created with mode 0666 / 0777 less the process umask, as
``open()`` and ``mkdir()`` would (``tempfile.mkstemp`` / ``mkdtemp`` make 0600 / 0700, which
would leave every output readable by its writer alone), and a replaced file keeps its mode.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import stat
from pathlib import Path
from typing import Callable

#: This host in temporary names (letters, digits and ``_`` only, so ``-`` separates fields).
HOST = re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname())[:40] or "host"

_TEMP_FILE = re.compile(r"^\..+\.tmp-(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)-[A-Za-z0-9_]+$")


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (any owner)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, belongs to someone else
        return True
    except (OverflowError, ValueError):
        return False
    return True


def remove_stale_temp_files(folder: str | Path) -> list[Path]:
    """Remove the temporary files :func:`atomic_write` left in ``folder`` when its process was
    killed: named ``.NAME.tmp-HOST-PID-RANDOM`` for this host and a PID that no longer runs.
    Files of live writers, of other hosts, and every other name stay. Returns the removed."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for entry in folder.iterdir():
        found = _TEMP_FILE.match(entry.name)
        if not found or found["host"] != HOST or entry.is_symlink() or not entry.is_file():
            continue
        pid = int(found["pid"])
        if pid == os.getpid() or pid_alive(pid):
            continue
        entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def _temp_name(parent: Path, prefix: str) -> Path:
    return parent / f"{prefix}{secrets.token_hex(6)}"


def new_temp_file(parent: str | Path, prefix: str) -> Path:
    """Create an empty file ``parent/PREFIX<random>`` (mode 0666 less the umask)."""
    for _ in range(100):
        candidate = _temp_name(Path(parent), prefix)
        try:
            os.close(os.open(candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(f"no free temporary name {prefix}* in {parent}")


def new_temp_dir(parent: str | Path, prefix: str) -> Path:
    """Create an empty folder ``parent/PREFIX<random>`` (mode 0777 less the umask)."""
    for _ in range(100):
        candidate = _temp_name(Path(parent), prefix)
        try:
            os.mkdir(candidate, 0o777)
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(f"no free temporary name {prefix}* in {parent}")


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Write ``path`` through a temporary file in the same folder, then rename it into place.

    ``write(tmp_path)`` produces the content. A crash leaves the old file (if any) intact and
    no partial file under the final name. Parent folders are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = new_temp_file(path.parent, f".{path.name}.tmp-{HOST}-{os.getpid()}-")
    try:
        write(tmp_path)
        try:  # a replaced file keeps its permissions
            os.chmod(tmp_path, stat.S_IMODE(os.stat(path).st_mode))
        except FileNotFoundError:
            pass
        with open(tmp_path, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write bytes atomically."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write text (UTF-8) atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
