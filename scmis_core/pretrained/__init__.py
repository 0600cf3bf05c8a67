"""Weights shipped inside the package, and the one place that turns names into files.

Shipped weights (``python -m scmis_core.pretrained list``):

- ``rooms``: the procedural-rooms generator (the EMA generator of the run of
  ``config/rooms_pretrained.yaml``), for ``--checkpoint rooms`` and
  ``Synthesizer.from_pretrained("rooms")``;
- ``rooms-judge``: the RGB-D segmenter that judges generated rooms images (the mIoU of
  ``python -m scmis_core.evaluate --segmenter rooms-judge``).

Each lives in ``scmis_core/weights/`` as three files: ``NAME.pt`` (an scmis checkpoint holding
only the network weights, in float16, loadable with ``torch.load(weights_only=True)``),
``NAME.sha256`` (its SHA-256, in ``sha256sum`` format) and ``NAME.json`` (how it was made:
config, code commit, steps, images seen, wall time, machine, metrics). They are written by
``python -m scmis_core.pretrained pack`` (:mod:`scmis_core.pretrained.pack`).

:func:`resolve` is the single function every loader calls (the CLIs, ``Synthesizer``,
``Segmenter``, the ROS nodes and the bag tool): a shipped name becomes its file after the
recorded SHA-256 is checked; any other text is a path (write ``./rooms`` for a file of that
name in the working folder), checked against a ``.sha256`` record beside it when one exists.
The loaders build float32 networks and copy the float16 weights into them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..checkpoint import CheckpointError

#: Folder of the shipped files (package data).
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"

#: Kinds of weights, as checkpoints call them, and what a user calls them.
KIND_WORDS = {"gan": "generator", "segmenter": "segmenter"}

#: Largest shipped file: the repository and the wheel stay small.
MAX_BYTES = 25_000_000


@dataclass(frozen=True)
class Shipped:
    """One entry of the registry: name, checkpoint kind, what it is and how it was made."""

    name: str
    kind: str
    what: str
    recipe: str

    @property
    def file(self) -> str:
        return f"{self.name}.pt"


SHIPPED: dict[str, Shipped] = {s.name: s for s in (
    Shipped("rooms", "gan",
            "SCMIS generator for procedural rooms (40 NYUv2 classes), EMA weights, float16",
            "OMP_NUM_THREADS=1 python -m scmis_core.train --config config/rooms_pretrained.yaml "
            "--no-eval --run-dir runs/rooms_pretrained train.threads=1; python -m "
            "scmis_core.pretrained pack runs/rooms_pretrained/final.pt --name rooms"),
    Shipped("rooms-judge", "segmenter",
            "RGB-D segmenter of procedural rooms (the mIoU judge of evaluate), float16",
            "python -m scmis_core.segment train --config config/rooms_small.yaml "
            "--arch unet-rgbd --steps 3000 --eval-every 1000 --ckpt-every 250 "
            "--out runs/rooms_judge; python -m scmis_core.pretrained pack "
            "runs/rooms_judge/segmenter.pt --name rooms-judge"),
)}


class PretrainedError(CheckpointError):
    """Shipped weights that are missing, of the wrong kind, or whose bytes changed."""


def names(kind: str | None = None) -> list[str]:
    """Shipped names, of ``kind`` only when given."""
    return [n for n, s in SHIPPED.items() if kind is None or s.kind == kind]


def is_shipped_name(text: Any) -> bool:
    """True when ``text`` names shipped weights: a bare name (``rooms``) that is shipped.

    The one rule for names and paths: anything that starts with ``./``, ``../``, ``/`` or
    ``~``, or holds a path separator, is a file; a bare name is a shipped weight when one of
    that name is shipped, else a file in the working folder.
    """
    if isinstance(text, Path):
        text = str(text) if len(text.parts) == 1 and not text.is_absolute() else ""
    if not isinstance(text, str) or text.startswith((".", "~")):
        return False
    return "/" not in text and os.sep not in text and text in SHIPPED


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_record(path: str | Path) -> Path:
    """Where the SHA-256 of ``NAME.pt`` is recorded: ``NAME.sha256`` beside it."""
    return Path(path).with_suffix(".sha256")


def info_record(path: str | Path) -> Path:
    """Where the description of ``NAME.pt`` is: ``NAME.json`` beside it."""
    return Path(path).with_suffix(".json")


_SHA_RE = re.compile(r"^([0-9a-f]{64})(?:\s+\*?(\S.*))?$")
#: (resolved path, inode, size, mtime_ns, ctime_ns) of files whose hash matched: each is read
#: once per process while it stays the same file. The change time is part of the key because
#: a rewrite can restore size and modification time (os.utime) but never the change time.
_VERIFIED: set[tuple[str, int, int, int, int]] = set()


def read_sha256_record(record: Path) -> str:
    """The hex digest of a ``sha256sum``-format record (``HEX  NAME``)."""
    try:
        text = record.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise PretrainedError(f"SHA-256 record {record}: cannot be read ({exc})") from None
    match = _SHA_RE.match(text.splitlines()[0].strip().lower() if text else "")
    if match is None:
        raise PretrainedError(f"SHA-256 record {record}: expected '<64 hex digits>  NAME', "
                              f"found {text[:80]!r}")
    return match.group(1)


def verify(path: str | Path, record: str | Path | None = None) -> str:
    """Check ``path`` against its recorded SHA-256 (``record``, default ``NAME.sha256``).

    Returns the digest; a mismatch is a :class:`PretrainedError` naming the file and both
    hashes. A file already verified unchanged (same inode, size, modification and change
    time) is not read again."""
    path = Path(path)
    record = Path(record) if record is not None else sha256_record(path)
    expected = read_sha256_record(record)
    try:
        stat = path.stat()
    except OSError as exc:
        raise PretrainedError(f"weights {path}: cannot be read ({exc.strerror or exc})") \
            from None
    key = (str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
    if key in _VERIFIED:
        return expected
    actual = sha256_file(path)
    if actual != expected:
        raise PretrainedError(
            f"weights {path}: SHA-256 {actual} does not match the recorded {expected} "
            f"({record}); the file is corrupt or was replaced: reinstall the package, or "
            f"re-pack it with python -m scmis_core.pretrained pack")
    _VERIFIED.add(key)
    return actual


def resolve(name_or_path: str | Path, kind: str | None = None, *,
            weights_dir: str | Path | None = None) -> Path:
    """A shipped name (``rooms``, ``rooms-judge``) or a checkpoint path -> the file to load.

    Shipped names are checked to be of ``kind`` ("gan" = generator, "segmenter"), to exist
    and to match their recorded SHA-256; they take precedence over a file of the same name
    in the working folder (``./rooms`` names that file). A path is returned as it is (its
    loader reports a missing file) after a check against a ``.sha256`` record beside it, if
    there is one. ``weights_dir`` replaces the package's weights folder (tests, copies).
    """
    text = str(name_or_path)
    if is_shipped_name(text):
        entry = SHIPPED[text]
        if kind is not None and entry.kind != kind:
            wanted = KIND_WORDS.get(kind, kind)
            others = ", ".join(names(kind)) or "none"
            raise PretrainedError(f"shipped weights {text!r} are a {KIND_WORDS[entry.kind]}, "
                                  f"expected a {wanted} (shipped {wanted}s: {others})")
        path = Path(weights_dir or WEIGHTS_DIR) / entry.file
        if not path.is_file():
            raise PretrainedError(f"shipped weights {text!r}: {path} is missing from this "
                                  f"installation (reinstall the package; to make it: "
                                  f"{entry.recipe})")
        if not sha256_record(path).is_file():
            raise PretrainedError(f"shipped weights {text!r}: the SHA-256 record "
                                  f"{sha256_record(path)} is missing (reinstall the package)")
        verify(path)
        return path
    path = Path(text).expanduser()
    if not path.exists() and text and "/" not in text and not path.suffix:
        raise CheckpointError(f"checkpoint {text!r}: no such file, and not a shipped name "
                              f"(shipped: {', '.join(names(kind))})")
    if path.is_file() and sha256_record(path).is_file() and path.suffix == ".pt":
        verify(path)
    # absolute, so that resolving the result again (a command that passes it on to a
    # loader) can never turn ./rooms back into the shipped name
    return path.absolute()


def check(name_or_path: str | Path, kind: str | None = None) -> str | None:
    """None when :func:`resolve` finds a file for ``name_or_path``, else the reason (for
    parameter checks that must not raise)."""
    try:
        path = resolve(name_or_path, kind)
    except CheckpointError as exc:
        return str(exc)
    if not path.is_file():
        return f"checkpoint: file not found: {str(name_or_path)!r}"
    return None


def describe(name_or_path: str | Path) -> str:
    """How reports name a checkpoint: ``shipped rooms`` or ``PARENT/FILE``."""
    if is_shipped_name(str(name_or_path)):
        return f"shipped {name_or_path}"
    path = Path(name_or_path)
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


def load_state(name_or_path: str | Path, kind: str) -> dict[str, Any]:
    """The checkpoint dict of a shipped name or path (:func:`resolve`, then the schema of
    ``kind``: :class:`~scmis_core.engine.checkpoints.GanCheckpoint` or
    :class:`~scmis_core.engine.checkpoints.SegmenterCheckpoint`, read with
    ``weights_only=True``), its network weights converted to float32."""
    from ..engine.checkpoints import GanCheckpoint, SegmenterCheckpoint

    path = resolve(name_or_path, kind)
    schema = {"gan": GanCheckpoint, "segmenter": SegmenterCheckpoint}.get(kind)
    if schema is None:
        raise ValueError(f"kind: expected gan or segmenter, found {kind!r}")
    ckpt = schema.load(path)
    ckpt.models = {name: {key: (value.float() if torch.is_tensor(value)
                                and value.is_floating_point() else value)
                          for key, value in weights.items()}
                   for name, weights in ckpt.models.items()}
    return ckpt.to_dict()


#: Model settings that decide the shapes of a generator's weights.
SHAPE_KEYS = ("variant", "width", "num_scales", "z_dim", "spade_hidden",
              "share_spade_embedding", "spectral_norm", "spatial_noise")


def init_generators(name_or_path: str | Path, model_cfg: Any, num_classes: int,
                    modules: list[torch.nn.Module | None]) -> dict[str, Any]:
    """Copy a generator's weights (EMA when the checkpoint has them) into ``modules``
    (a trainer's G and G_ema) before training: ``train --init-from rooms``.

    The model settings that decide the weight shapes (:data:`SHAPE_KEYS`) and the class
    count must match; a mismatch names every differing setting. Returns the loaded state."""
    from ..checkpoint import load_module_state

    state = load_state(name_or_path, "gan")
    source = state["config"].get("model", {})
    differ = [f"model.{k}: {source.get(k)!r} there, {getattr(model_cfg, k, None)!r} here"
              for k in SHAPE_KEYS if source.get(k) != getattr(model_cfg, k, None)]
    if state["num_classes"] != num_classes:
        differ.append(f"classes: {state['num_classes']} there, {num_classes} here")
    if differ:
        raise CheckpointError(f"--init-from {name_or_path}: its generator does not fit this "
                              f"config ({'; '.join(differ)})")
    key = "G_ema" if "G_ema" in state["models"] else "G"
    for module in modules:
        if module is not None:
            load_module_state(module, state["models"][key], name_or_path, key)
    return state


def shipped_info(name: str, weights_dir: str | Path | None = None) -> dict[str, Any] | None:
    """The JSON description of shipped weights, or None when the file is absent/unreadable."""
    path = info_record(Path(weights_dir or WEIGHTS_DIR) / SHIPPED[name].file)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
