"""Checkpoints: atomic writes, safe loading and clear errors for bad files.

A generator checkpoint is a plain dict loadable with ``torch.load(..., weights_only=True)``:

``format``: "scmis-checkpoint", ``version``: 1, ``kind``: "gan" (trainer) or "segmenter",
``config``: the resolved config dict (rebuilds the networks), ``num_classes``, ``class_names``,
``step``, ``models``: {name: state_dict}, ``optimizers``: {name: state_dict}, ``scaler``,
``rng``: RNG states, ``metrics``: last evaluation, ``extra``: anything JSON-like.

:func:`load_checkpoint` treats the file as untrusted: ``weights_only=True`` (no code runs),
any failure of the reader becomes a :class:`CheckpointError` naming the file, and the entries
every consumer reads are checked for type before anyone indexes them (:data:`KINDS`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from .runtime import atomic_torch_save

FORMAT = "scmis-checkpoint"
VERSION = 1

#: What every checkpoint of a kind must hold: the state dicts in ``models`` and the keys of
#: ``config`` that rebuild the network.
KINDS: dict[str, dict[str, tuple[str, ...]]] = {
    "gan": {"models": ("G",), "config": ("model",)},
    "segmenter": {"models": ("segmenter",), "config": ("arch", "data")},
}


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
    except PermissionError as exc:  # unreadable: not a format problem
        raise CheckpointError(f"checkpoint {path}: cannot be read "
                              f"({exc.strerror or exc})") from None
    except Exception as exc:  # noqa: BLE001 - corrupt bytes raise anything from the parsers
        # (IndexError, struct.error, UnicodeDecodeError, ... besides the unpickling errors)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CheckpointError(f"checkpoint {path}: not a readable torch checkpoint "
                              f"(corrupt or truncated: {type(exc).__name__}"
                              f"{': ' + first[:200] if first else ''})") from None
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
    _check_entries(state, path, state.get("kind") if kind is None else kind)
    return state


def _check_entries(state: dict[str, Any], path: Path, kind: Any) -> None:
    """Types of the entries consumers read; the required ones of ``kind`` (:data:`KINDS`)."""
    def bad(what: str, expected: str, found: Any) -> CheckpointError:
        return CheckpointError(f"checkpoint {path}: {what}: expected {expected}, found "
                               f"{type(found).__name__}")

    if not isinstance(state["config"], dict):
        raise bad("config", "a dict", state["config"])
    models = state["models"]
    if not isinstance(models, dict):
        raise bad("models", "a dict of state dicts", models)
    for name, weights in models.items():
        if not isinstance(weights, dict):
            raise bad(f"models[{name!r}]", "a state dict", weights)
    if not isinstance(state["step"], int) or isinstance(state["step"], bool):
        raise bad("step", "an int", state["step"])
    if "num_classes" in state and (not isinstance(state["num_classes"], int)
                                   or isinstance(state["num_classes"], bool)
                                   or state["num_classes"] < 1):
        raise CheckpointError(f"checkpoint {path}: num_classes: expected a positive int, "
                              f"found {state['num_classes']!r}")
    names = state.get("class_names", [])
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise CheckpointError(f"checkpoint {path}: class_names: expected a list of strings")
    required = KINDS.get(kind) if isinstance(kind, str) else None
    if required is None:
        return
    if "num_classes" not in state:
        raise CheckpointError(f"checkpoint {path}: missing entry 'num_classes'")
    for name in required["models"]:
        if name not in models:
            raise CheckpointError(f"checkpoint {path}: no {name!r} weights in models (found: "
                                  f"{', '.join(map(str, models)) or 'none'})")
    for key in required["config"]:
        if key not in state["config"]:
            raise CheckpointError(f"checkpoint {path}: config has no {key!r} entry")


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
    """``load_state_dict`` with an error naming the checkpoint and the first mismatches.

    Weights must be finite: a checkpoint holding NaN or infinity in a floating-point tensor
    (a diverged or damaged run) is refused with the tensor's name, instead of loading into a
    model that silently outputs garbage (all-zero depth).
    """
    for key, value in state_dict.items() if isinstance(state_dict, dict) else ():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and \
                not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            raise CheckpointError(f"checkpoint {path}: {name} tensor {key!r} holds {bad} "
                                  f"non-finite value(s) (NaN or infinity): the run that "
                                  "wrote it diverged or the file is damaged")
    try:
        module.load_state_dict(state_dict)
    except (RuntimeError, TypeError, AttributeError, ValueError, KeyError) as exc:
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
