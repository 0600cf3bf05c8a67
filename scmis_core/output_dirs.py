"""Output folders every command writes: never overwrite an input, never delete what is not ours.

One place decides whether a command may write, resume into or replace an output folder:

- the output must not be an input, contain an input, or lie inside an input folder
  (symbolic links resolved), whatever the options;
- a missing or empty folder is always fine; the command marks it with ``.scmis-output.json``
  (``{"kind": ...}``) when it creates it;
- a non-empty folder is accepted only when it carries the marker of the same kind: for
  resumable commands (``resume=True``) as it is, for ``overwrite=True`` only when every file
  in it is one the command writes (:data:`KINDS`); nothing foreign is ever removed: files are
  deleted one by one when they match the kind's layout, folders only once empty.

Temporary folders beside an output (for writers that build the whole folder and rename it
into place) are named ``.NAME.tmp-HOST-PID-RANDOM``: :func:`remove_stale_temps` removes those
of this host whose process is gone (a SIGKILLed run), and nothing else.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Iterable, Sequence

from .atomic_files import HOST, new_temp_dir, pid_alive

MARKER = ".scmis-output.json"

#: What each kind of output holds: glob patterns (``/``-separated, ``*`` within one name) of
#: every file the command writes. ``None``: the command resumes into its folder and never
#: overwrites it, so there is nothing it may delete.
KINDS: dict[str, tuple[str, ...] | None] = {
    "rosbag2": ("metadata.yaml", "*.db3", "*.db3-shm", "*.db3-wal", "*.db3-journal",
                "*.mcap"),
    "export": ("classes.txt", "*/rgb/*.png", "*/depth/*.png", "*/labels_40/*.png"),
    "synthesize": ("grid.png", "rgb/*.png", "depth/*.png", "labels_40/*.png"),
    "augment": None,
    "experiments": None,
}


class OutputDirError(ValueError):
    """An output folder that must not be written, resumed into or replaced (one-line reason)."""


def _resolved(path: str | Path) -> Path:
    return Path(os.path.abspath(Path(path).expanduser())).resolve()


def check_not_overlapping(output: str | Path, inputs: Iterable[str | Path | None]) -> None:
    """Raise :class:`OutputDirError` when ``output`` is, contains, or is inside an input."""
    out = _resolved(output)
    for given in inputs:
        if given is None or str(given) == "":
            continue
        inp = _resolved(given)
        if out == inp:
            raise OutputDirError(f"output {output}: is the input {given}; choose another "
                                 "output folder")
        if inp in out.parents:
            raise OutputDirError(f"output {output}: lies inside the input {given}; choose a "
                                 "folder outside it")
        if out in inp.parents:
            raise OutputDirError(f"output {output}: contains the input {given}; choose a "
                                 "folder that does not hold the input")


def _read_marker(folder: Path) -> str | None:
    """The kind recorded in ``folder``'s marker, or None (missing, unreadable, not ours)."""
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    kind = data.get("kind") if isinstance(data, dict) else None
    return kind if isinstance(kind, str) else None


def write_marker(folder: str | Path, kind: str, tool: str = "") -> Path:
    """Mark ``folder`` as an output of ``kind`` (written by ``tool``)."""
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {', '.join(KINDS)}, found {kind!r}")
    path = Path(folder) / MARKER
    path.write_text(json.dumps({"kind": kind, "tool": tool,
                                "note": "written by scmis; lets --overwrite replace this "
                                        "folder"}) + "\n", encoding="utf-8")
    return path


def _matches(rel: str, patterns: Sequence[str]) -> bool:
    parts = rel.split("/")
    for pattern in patterns:
        pat = pattern.split("/")
        if len(pat) == len(parts) and all(fnmatchcase(p, q) for p, q in zip(parts, pat)):
            return True
    return False


def _is_prefix(rel: str, patterns: Sequence[str]) -> bool:
    parts = rel.split("/")
    return any(len(p.split("/")) > len(parts) and
               all(fnmatchcase(a, b) for a, b in zip(parts, p.split("/")))
               for p in patterns)


def foreign_entries(folder: str | Path, kind: str, limit: int = 5) -> list[str]:
    """Paths in ``folder`` (relative) that a ``kind`` output never holds (up to ``limit``)."""
    layout = KINDS[kind] or ()
    patterns = (*layout, MARKER)
    folder = Path(folder)
    found: list[str] = []
    for root, dirs, files in os.walk(folder):
        base = Path(root)
        for name in sorted(dirs):
            path = base / name
            rel = path.relative_to(folder).as_posix()
            if path.is_symlink() or not _is_prefix(rel, patterns):
                found.append(rel + "/")
                dirs.remove(name)
        for name in sorted(files):
            path = base / name
            rel = path.relative_to(folder).as_posix()
            if path.is_symlink() or not path.is_file() or not _matches(rel, patterns):
                found.append(rel)
        if len(found) >= limit:
            break
    return found[:limit]


def check_output_dir(path: str | Path, *, overwrite: bool, inputs: Iterable = (), kind: str,
                     resume: bool = False) -> bool:
    """Whether ``path`` may be written as a ``kind`` output; True when it holds an earlier
    output (to be resumed or replaced), False when it is missing or empty.

    Raises :class:`OutputDirError` with a one-line reason otherwise (see the module doc).
    """
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {', '.join(KINDS)}, found {kind!r}")
    if overwrite and KINDS[kind] is None:
        raise ValueError(f"kind {kind}: such outputs are resumed, never overwritten")
    path = Path(path)
    check_not_overlapping(path, inputs)
    if path.is_symlink():
        raise OutputDirError(f"output {path}: is a symbolic link; give the real folder")
    if not path.exists():
        return False
    if not path.is_dir():
        raise OutputDirError(f"output {path}: expected a folder, found a file")
    try:
        empty = not any(path.iterdir())
    except OSError as exc:
        raise OutputDirError(f"output {path}: cannot list it: {exc.strerror or exc}") from None
    if empty:
        return False
    what = "replace it" if overwrite else "write into it"
    if not resume and not overwrite:
        raise OutputDirError(f"output {path}: already exists and is not empty; pass "
                             "--overwrite to replace an earlier output of this command, or "
                             "choose a new folder")
    found = _read_marker(path)
    if found != kind:
        why = (f"it holds a {found} output" if found else
               f"it has no {MARKER} (not written by this command, or by an older version)")
        raise OutputDirError(f"output {path}: refusing to {what}: {why}; choose a new or "
                             "empty folder (or delete it yourself)")
    if overwrite:
        foreign = foreign_entries(path, kind)
        if foreign:
            raise OutputDirError(f"output {path}: refusing to replace it: it holds files this "
                                 f"command does not write ({', '.join(foreign)}); move them "
                                 "out or choose a new folder")
    return True


def remove_owned(path: str | Path, kind: str, patterns: Sequence[str] | None = None) -> None:
    """Delete the files of ``path`` that match ``patterns`` (default: the kind's layout and
    the marker), then the folders left empty. Anything else stays (and keeps its folders)."""
    path = Path(path)
    layout = KINDS[kind] or ()
    patterns = (*layout, MARKER) if patterns is None else tuple(patterns)
    for root, dirs, files in os.walk(path, topdown=False):
        base = Path(root)
        for name in files:
            file = base / name
            if not file.is_symlink() and _matches(file.relative_to(path).as_posix(), patterns):
                file.unlink()
        for name in dirs:
            try:
                (base / name).rmdir()
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                    raise


def prepare_output_dir(path: str | Path, *, overwrite: bool, inputs: Iterable = (),
                       kind: str, resume: bool = False, tool: str = "",
                       clear: Sequence[str] | None = None) -> Path:
    """Check ``path`` (:func:`check_output_dir`), then make it ready to write into.

    With ``overwrite`` the files of the earlier output are deleted first (those matching
    ``clear``, default all of them); the folder is created when missing and marked.
    """
    path = Path(path)
    existed = check_output_dir(path, overwrite=overwrite, inputs=inputs, kind=kind,
                               resume=resume)
    if existed and overwrite:
        remove_owned(path, kind, None if clear is None else (*clear,))
    path.mkdir(parents=True, exist_ok=True)
    if _read_marker(path) != kind:
        write_marker(path, kind, tool)
    return path


def fsync_tree(folder: str | Path) -> None:
    """Flush every file under ``folder`` and the folders themselves to disk."""
    for root, _, files in os.walk(folder):
        for name in files:
            with open(Path(root) / name, "rb") as handle:
                os.fsync(handle.fileno())
        fd = os.open(root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def replace_output_dir(new: str | Path, path: str | Path, *, overwrite: bool,
                       inputs: Iterable = (), kind: str, tool: str = "") -> Path:
    """Move the finished folder ``new`` to ``path`` (marked as ``kind``).

    An earlier output at ``path`` is checked again (:func:`check_output_dir`), moved aside
    next to ``new`` and deleted file by file (:func:`remove_owned`) once the new one (its
    files flushed to disk) is in place.
    """
    new, path = Path(new), Path(path)
    write_marker(new, kind, tool)
    fsync_tree(new)
    if not check_output_dir(path, overwrite=overwrite, inputs=inputs, kind=kind):
        os.replace(new, path)  # also replaces an empty folder
        return path
    aside = new.parent / f".replaced-{new.name}"
    os.replace(path, aside)
    os.replace(new, path)
    remove_owned(aside, kind)
    try:
        aside.rmdir()
    except OSError:
        pass  # files appeared there while we worked: they stay in the temp folder
    return path


# --------------------------------------------------------------------------------------------
# Temporary folders beside an output (named like atomic_files' temporary files).


def _temp_prefix(path: Path) -> str:
    return f".{path.name}.tmp-"


def temp_dir_beside(path: str | Path) -> Path:
    """A new hidden folder next to ``path`` named after it, this host and this process."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return new_temp_dir(path.parent, f"{_temp_prefix(path)}{HOST}-{os.getpid()}-")


def remove_stale_temps(path: str | Path) -> list[Path]:
    """Remove the temporary folders of ``path`` (:func:`temp_dir_beside`) whose process on
    this host no longer runs; returns them. Live ones, other hosts' and other names stay."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    pattern = re.compile(re.escape(_temp_prefix(path)) + re.escape(HOST) +
                         r"-(\d+)-[A-Za-z0-9_]+$")
    removed = []
    for entry in path.parent.iterdir():
        found = pattern.match(entry.name)
        if not found or entry.is_symlink() or not entry.is_dir():
            continue
        pid = int(found.group(1))
        if pid == os.getpid() or pid_alive(pid):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed
