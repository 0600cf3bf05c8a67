"""Checkpoints: atomic writes, safe loading and clear errors for bad files.

A generator checkpoint is a plain dict loadable with ``torch.load(..., weights_only=True)``:

``format``: "scmis-checkpoint", ``version``: 1, ``kind``: "gan" (trainer) or "segmenter",
``config``: the resolved config dict (rebuilds the networks), ``num_classes``, ``class_names``,
``step``, ``models``: {name: state_dict}, ``optimizers``: {name: state_dict}, ``scaler``,
``rng``: RNG states, ``metrics``: last evaluation, ``extra``: anything JSON-like.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from .runtime import atomic_torch_save

FORMAT = "scmis-checkpoint"
VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, or does not fit the requested model."""


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write ``state`` (with format/version added) atomically to ``path``."""
    state = {"format": FORMAT, "version": VERSION, **state}
    return atomic_torch_save(state, path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu",
                    kind: str | None = None) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; raise :class:`CheckpointError` clearly."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: file not found")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path}: file is empty (interrupted copy?)")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile,
            ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"checkpoint {path}: not a readable torch checkpoint "
                              f"(corrupt or truncated: {first})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"checkpoint {path}: expected an scmis checkpoint "
                              f"(format {FORMAT!r}), found {found!r}")
    if state.get("version") != VERSION:
        raise CheckpointError(f"checkpoint {path}: expected version {VERSION}, found "
                              f"{state.get('version')!r}")
    if kind is not None and state.get("kind") != kind:
        raise CheckpointError(f"checkpoint {path}: expected a {kind!r} checkpoint, found "
                              f"{state.get('kind')!r}")
    for key in ("config", "models", "step"):
        if key not in state:
            raise CheckpointError(f"checkpoint {path}: missing entry {key!r}")
    return state


def check_compatible(state: dict[str, Any], path: str | Path, *, num_classes: int | None = None,
                     variant: str | None = None) -> None:
    """Raise when a checkpoint's class count or variant differs from what is expected."""
    if num_classes is not None and state.get("num_classes") != num_classes:
        raise CheckpointError(f"checkpoint {path}: trained for {state.get('num_classes')} "
                              f"classes, expected {num_classes}")
    found = state["config"].get("model", {}).get("variant")
    if variant is not None and found != variant:
        raise CheckpointError(f"checkpoint {path}: variant {found!r}, expected {variant!r}")


def load_module_state(module: torch.nn.Module, state_dict: dict[str, Any], path: str | Path,
                      name: str) -> None:
    """``load_state_dict`` with an error naming the checkpoint and the first mismatches."""
    try:
        module.load_state_dict(state_dict)
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()][:4]
        raise CheckpointError(f"checkpoint {path}: {name} weights do not fit the model built "
                              f"from its config: {' '.join(lines)}") from None


_STEP_RE = re.compile(r"step_(\d+)\.pt$")


def list_step_checkpoints(folder: str | Path) -> list[Path]:
    """``step_NNNNNNN.pt`` files of a run folder, oldest first."""
    folder = Path(folder)
    found = [(int(m.group(1)), p) for p in folder.glob("step_*.pt")
             if (m := _STEP_RE.search(p.name))]
    return [p for _, p in sorted(found)]
