"""What each kind of checkpoint holds: one dataclass per kind, written and read in one place.

The file format (a dict loadable with ``weights_only=True``, atomic writes, untrusted-file
checks) is :mod:`scmis_core.checkpoint`; this module is the schema on top of it:

- :class:`GanCheckpoint` (``kind: "gan"``): a GAN training run (``python -m scmis_core.train``)
  or any generator for :class:`~scmis_core.synthesize.Synthesizer`: ``models["G"]`` (and
  ``"D"``, ``"G_ema"``), the config tree that rebuilds them, and for resuming the optimisers,
  grad scaler, RNG states, the noise generator and the log position.
- :class:`SegmenterCheckpoint` (``kind: "segmenter"``): a segmenter (``segment train``, the
  online fine-tuner, shipped judges): ``models["segmenter"]``, its config (``arch``,
  ``arch_kwargs``, ``data``, ...) and for resuming optimiser, schedule and RNG states.

``to_dict()`` gives exactly the dict that was written by hand before (same keys; optional
entries that are unset are left out), so every existing checkpoint loads and every reader of
plain dicts keeps working. ``from_dict()`` validates with errors naming the checkpoint and the
entry; entries it does not know are kept in ``extra`` and written back unchanged.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from ..checkpoint import CheckpointError, _check_entries, load_checkpoint, save_checkpoint

_FORMAT_KEYS = ("format", "version", "kind")


def _describe(types: tuple[type, ...]) -> str:
    if float in types:
        return "a number"
    names = {dict: "a dict", int: "an int", torch.Tensor: "a tensor"}
    return " or ".join(names.get(t, t.__name__) for t in types)


@dataclass
class _Checkpoint:
    KIND: ClassVar[str] = ""
    #: Optional entries and the types they must have when present.
    TYPES: ClassVar[dict[str, tuple[type, ...]]] = {}
    #: Entries a step checkpoint needs to continue training.
    RESUME: ClassVar[tuple[str, ...]] = ()

    config: dict[str, Any]
    num_classes: int
    models: dict[str, dict[str, Any]]
    step: int = 0
    class_names: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The dict :func:`~scmis_core.checkpoint.save_checkpoint` writes (unset optional
        entries left out; ``extra`` merged back)."""
        out: dict[str, Any] = {"kind": self.KIND}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "extra" or (value is None and f.name in self.TYPES):
                continue
            out[f.name] = list(value) if f.name == "class_names" else value
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out

    @classmethod
    def from_dict(cls, state: Any, path: str | Path = "<in memory>") -> "_Checkpoint":
        """Validate ``state`` (a loaded checkpoint dict); errors name ``path`` and the entry."""
        if not isinstance(state, dict):
            raise CheckpointError(f"checkpoint {path}: expected a dict, found "
                                  f"{type(state).__name__}")
        if state.get("kind") != cls.KIND:
            raise CheckpointError(f"checkpoint {path}: expected a {cls.KIND!r} checkpoint, "
                                  f"found {state.get('kind')!r}")
        for key in ("config", "models", "step", "num_classes"):
            if key not in state:
                raise CheckpointError(f"checkpoint {path}: missing entry {key!r}")
        _check_entries(state, Path(path), cls.KIND)
        for key in ("step", "log_lines"):
            if isinstance(state.get(key), int) and state[key] < 0:
                raise CheckpointError(f"checkpoint {path}: {key}: expected >= 0, found "
                                      f"{state[key]}")
        for key, types in cls.TYPES.items():
            value = state.get(key)
            if value is not None and (not isinstance(value, types)
                                      or (isinstance(value, bool) and bool not in types)):
                raise CheckpointError(f"checkpoint {path}: {key}: expected {_describe(types)}, "
                                      f"found {type(value).__name__}")
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in state.items() if k in names}
        known["class_names"] = list(known.get("class_names", []))
        extra = {k: v for k, v in state.items() if k not in names and k not in _FORMAT_KEYS}
        return cls(**known, extra=extra)

    def require_resumable(self, path: str | Path, models: tuple[str, ...] = ()) -> None:
        """Raise unless this checkpoint holds what continuing its training needs."""
        missing = [key for key in self.RESUME if getattr(self, key) is None]
        optimizers = getattr(self, "optimizers", None) or {}
        missing += [f"optimizers[{name!r}]" for name in models if name not in optimizers]
        if missing:
            raise CheckpointError(f"checkpoint {path}: cannot resume from it: no "
                                  f"{', '.join(missing)} (not a step checkpoint of a run)")
        for name, weights in optimizers.items():
            if not isinstance(weights, dict):
                raise CheckpointError(f"checkpoint {path}: optimizers[{name!r}]: expected an "
                                      f"optimizer state dict, found {type(weights).__name__}")

    def save(self, path: str | Path) -> Path:
        """Write atomically (:func:`~scmis_core.checkpoint.save_checkpoint`)."""
        return save_checkpoint(self.to_dict(), path)

    @classmethod
    def load(cls, path: str | Path, map_location: str | torch.device = "cpu"
             ) -> "_Checkpoint":
        """Read ``path`` as an untrusted file and validate it."""
        return cls.from_dict(load_checkpoint(path, map_location, kind=cls.KIND), path)


@dataclass
class GanCheckpoint(_Checkpoint):
    """A generator (and its training state); ``models``: ``G``, optionally ``D``, ``G_ema``."""

    KIND: ClassVar[str] = "gan"
    TYPES: ClassVar[dict[str, tuple[type, ...]]] = {
        "optimizers": (dict,), "scaler": (dict,), "rng": (dict,),
        "noise_gen": (torch.Tensor,), "best_fid": (float, int), "world_size": (int,),
        "log_lines": (int,), "metrics": (dict,)}
    RESUME: ClassVar[tuple[str, ...]] = ("optimizers", "scaler", "rng", "noise_gen")

    optimizers: dict[str, Any] | None = None
    scaler: dict[str, Any] | None = None
    rng: dict[str, Any] | None = None
    noise_gen: torch.Tensor | None = None
    best_fid: float | None = None
    world_size: int | None = None
    log_lines: int | None = None
    metrics: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        if self.best_fid is not None:
            out["best_fid"] = float(self.best_fid)  # inf stays a float
        return out

    @property
    def variant(self) -> str | None:
        """The generator variant stored in the config."""
        model = self.config.get("model", {})
        return model.get("variant") if isinstance(model, dict) else None


@dataclass
class SegmenterCheckpoint(_Checkpoint):
    """A segmenter (and its training state); ``models``: ``segmenter``."""

    KIND: ClassVar[str] = "segmenter"
    TYPES: ClassVar[dict[str, tuple[type, ...]]] = {
        "optimizers": (dict,), "scheduler": (dict,), "rng": (dict,),
        "aug_gen": (torch.Tensor,), "metrics": (dict,), "log_lines": (int,)}
    RESUME: ClassVar[tuple[str, ...]] = ("optimizers",)

    optimizers: dict[str, Any] | None = None
    scheduler: dict[str, Any] | None = None
    rng: dict[str, Any] | None = None
    aug_gen: torch.Tensor | None = None
    metrics: dict[str, Any] | None = None
    log_lines: int | None = None
