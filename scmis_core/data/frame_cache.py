"""A pre-rendered, memory-mapped copy of a data set's frames (``data.cache``).

The procedural rooms are ray cast on the CPU. Rendering them inside the training loop costs
~10 % of a step on a 2-core machine and, with loader worker processes, the workers compete
with the networks for the same two cores. :class:`CachedDataset` renders every frame once
into three ``.npy`` files (rgb uint8, depth float32, labels uint8/int16) and reads them back
through ``numpy.load(mmap_mode="r")``: a training step then reads a few kilobytes from the
page cache.

The cache folder is keyed by everything that decides the pixels: the source, its
parameters, the frame size and, for the rooms, a hash of the renderer's source files, so a
change of the renderer never serves stale frames. Building is atomic (a temporary folder
renamed into place) and safe to interrupt; a stale temporary folder of a dead process is
removed on the next build. ``meta.json`` holds a SHA-256 per array: a folder with a missing,
empty, truncated or altered file (or no ``meta.json``) is set aside and rebuilt, with a
warning naming it, instead of failing or serving wrong pixels.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic_files import new_temp_dir
from .base import LabelledDataset
from .sample import Sample

#: Bumped when the on-disk layout changes (2: meta.json holds a SHA-256 per array).
CACHE_FORMAT = 2
#: The arrays of a cache folder, ``<name>.npy`` each.
ARRAYS = ("rgb", "depth", "labels")
#: Folders verified in this process: path -> the (size, mtime) of their files then.
_VERIFIED: dict[Path, tuple] = {}


def default_cache_dir() -> Path:
    """``$SCMIS_CACHE_DIR``, else ``$XDG_CACHE_HOME/scmis/frames`` (``~/.cache/...``)."""
    env = os.environ.get("SCMIS_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "scmis" / "frames"


def renderer_fingerprint() -> str:
    """SHA-256 over the source files of the procedural rooms renderer."""
    folder = Path(__file__).resolve().parent / "rooms"
    digest = hashlib.sha256()
    files = sorted(folder.glob("*.py")) if folder.is_dir() else [folder.with_suffix(".py")]
    for path in files:
        if path.exists():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def files_fingerprint(root: str | Path) -> str:
    """SHA-256 over the relative path, size and mtime of every file under ``root`` (or of
    ``root`` itself): a changed, added or removed file gives a new cache folder."""
    root = Path(root)
    digest = hashlib.sha256()
    paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    for path in paths:
        stat = path.stat()
        digest.update(f"{path.relative_to(root.parent)}|{stat.st_size}|{stat.st_mtime_ns}\n"
                      .encode())
    return digest.hexdigest()[:16]


def cache_key(description: dict[str, Any]) -> str:
    """Folder name of a cache: a readable prefix and a hash of ``description``."""
    text = json.dumps({"format": CACHE_FORMAT, **description}, sort_keys=True)
    prefix = f"{description.get('source', 'data')}-{description.get('split', '')}"
    return f"{prefix}-{hashlib.sha256(text.encode()).hexdigest()[:20]}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_temps(root: Path) -> None:
    """Remove ``.tmp-<pid>-*`` build folders and ``.stale-<pid>-*`` set-aside folders whose
    process is gone (only ours)."""
    for tmp in [*root.glob(".tmp-*"), *root.glob(".stale-*")]:
        parts = tmp.name.split("-")
        if len(parts) >= 3 and parts[1].isdigit() and not _pid_alive(int(parts[1])):
            shutil.rmtree(tmp, ignore_errors=True)


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _set_aside(path: Path) -> None:
    """Move a broken cache folder out of the way (atomically), then delete it; a folder that
    another process moved first is left to it."""
    aside = path.with_name(f".stale-{os.getpid()}-{path.name}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return
    shutil.rmtree(aside, ignore_errors=True)


class CachedDataset(LabelledDataset):
    """``dataset``'s frames, rendered once into ``cache_root/<key>/`` and memory-mapped.

    Every frame must have the same size (true of the rooms at a fixed size; loaders whose
    frames differ in size are refused with a clear error). ``description`` identifies the
    frames (source, split, sizes, seeds...); equal descriptions share one cache folder.
    """

    def __init__(self, dataset: LabelledDataset, description: dict[str, Any],
                 cache_root: str | Path | None = None, progress: bool = True):
        self.source = dataset
        self.class_names = dataset.class_names
        self.has_depth = dataset.has_depth
        self.description = dict(description)
        root = Path(cache_root) if cache_root else default_cache_dir()
        self.path = root / cache_key(self.description)
        problem = self._problem() if self.path.exists() else "absent"
        if problem != "absent" and problem:
            print(f"warning: frame cache {self.path}: {problem}; rebuilding it",
                  file=sys.stderr)
            _set_aside(self.path)
        if problem:
            self._build(root, progress)
            problem = self._problem()
            if problem:
                raise ValueError(f"frame cache {self.path}: {problem} right after building "
                                 "it; is another process writing there?")
        meta = json.loads((self.path / "meta.json").read_text(encoding="utf-8"))
        self.rgb = np.load(self.path / "rgb.npy", mmap_mode="r")
        self.depth_m = np.load(self.path / "depth.npy", mmap_mode="r")
        self.labels = np.load(self.path / "labels.npy", mmap_mode="r")
        self.names = meta["names"]

    def _problem(self) -> str:
        """Why the cache folder cannot serve the frames ('' when it can): missing or
        unreadable meta.json, another format or frame count, a missing array or one whose
        SHA-256 differs from meta.json's (checked once per process and file state)."""
        meta_path = self.path / "meta.json"
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return "meta.json is missing"
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            return f"meta.json is unreadable ({str(exc)[:80]})"
        if not isinstance(meta, dict) or meta.get("format") != CACHE_FORMAT:
            return f"meta.json is not of cache format {CACHE_FORMAT}"
        if meta.get("count") != len(self.source):
            return f"expected {len(self.source)} frames, found {meta.get('count')}"
        sums = meta.get("sha256")
        if not isinstance(sums, dict) or not isinstance(meta.get("names"), list):
            return "meta.json has no checksums or frame names"
        files = [self.path / f"{name}.npy" for name in ARRAYS]
        try:
            state = tuple((f.stat().st_size, f.stat().st_mtime_ns) for f in files)
        except FileNotFoundError as exc:
            return f"{Path(exc.filename).name} is missing"
        if _VERIFIED.get(self.path) == state:
            return ""
        for name, path in zip(ARRAYS, files):
            if _sha256(path) != sums.get(name):
                return f"{path.name} does not match its SHA-256 in meta.json"
        _VERIFIED[self.path] = state
        return ""

    @property
    def palette(self) -> np.ndarray:
        return self.source.palette

    def __len__(self) -> int:
        return len(self.source)

    def describe(self, index: int) -> str:
        return f"{self.source.describe(index)} (cached in {self.path})"

    def load(self, index: int) -> Sample:
        return Sample(np.array(self.rgb[index]), np.array(self.depth_m[index]),
                      self.labels[index].astype(np.int64), self.names[index])

    def _build(self, root: Path, progress: bool) -> None:
        from tqdm import tqdm

        root.mkdir(parents=True, exist_ok=True)
        _remove_stale_temps(root)
        count = len(self.source)
        first = self.source[0]
        height, width = first.labels.shape
        label_dtype = np.uint8 if self.source.num_classes < 256 else np.int16
        tmp = new_temp_dir(root, f".tmp-{os.getpid()}-")
        try:
            rgb = np.lib.format.open_memmap(tmp / "rgb.npy", "w+", np.uint8,
                                            (count, height, width, 3))
            depth = np.lib.format.open_memmap(tmp / "depth.npy", "w+", np.float32,
                                              (count, height, width))
            labels = np.lib.format.open_memmap(tmp / "labels.npy", "w+", label_dtype,
                                               (count, height, width))
            names = []
            bar = tqdm(range(count), desc=f"caching {self.path.name}", unit="frame",
                       disable=not progress, dynamic_ncols=True)
            for i in bar:
                sample = first if i == 0 else self.source[i]
                if sample.labels.shape != (height, width):
                    raise ValueError(
                        f"data.cache: expected every frame at {height}x{width}, found "
                        f"{sample.labels.shape[0]}x{sample.labels.shape[1]} at "
                        f"{self.source.describe(i)}; set data.cache=false for this source")
                rgb[i], depth[i], labels[i] = sample.rgb, sample.depth_m, sample.labels
                names.append(sample.name)
            for array in (rgb, depth, labels):
                array.flush()
            del rgb, depth, labels
            meta = {"format": CACHE_FORMAT, "count": count, "height": height, "width": width,
                    "names": names, "description": self.description,
                    "sha256": {name: _sha256(tmp / f"{name}.npy") for name in ARRAYS}}
            (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
            for path in tmp.iterdir():
                with open(path, "rb") as handle:
                    os.fsync(handle.fileno())
            try:
                os.rename(tmp, self.path)
            except OSError:
                # Another process finished the same cache first: keep theirs.
                if not (self.path / "meta.json").exists():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
