"""Pack a training checkpoint into shipped weights: ``NAME.pt`` + ``NAME.json`` + ``NAME.sha256``.

``python -m scmis_core.pretrained pack RUN_CHECKPOINT --name rooms [--metrics report.json]
[--wall-time-s N] [--commit SHA] [--machine TEXT] [--out-dir DIR]``

- generator (``rooms``): the EMA generator of the run (``G_ema``, else ``G``), stored as the
  checkpoint's ``G``, with the run's config and class names;
- segmenter (``rooms-judge``): the segmenter weights with the config that rebuilds it.

Weights are stored in float16 (integer buffers as they are); the optimizer, discriminator
and RNG states are left out. Before anything is written, the packed bytes are loaded back
through the loaders users call (``Synthesizer`` / ``Segmenter.from_checkpoint``) and their
output on a seeded input is compared with the float32 original; the differences go into
the JSON. Files over :data:`~scmis_core.pretrained.MAX_BYTES` are refused.

Each file is written atomically (temporary + fsync + rename), ``NAME.sha256`` last, so a
loader sees either the old set or a file whose hash does not match (a clear error), never a
silently mixed set. Packing the same checkpoint with the same options again writes the same
bytes (no timestamps), and files already equal are left untouched.

The JSON is honest about what is known: steps and images seen (steps x batch size x
processes) come from the checkpoint; ``wall_time_s`` only from ``--wall-time-s`` (else
null, with the time span of the run's ``metrics.jsonl`` up to that step, which includes any
pauses between resumed runs); metrics only from ``--metrics``.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

import torch

from ..atomic_files import atomic_write_bytes, atomic_write_text
from ..checkpoint import FORMAT, VERSION, load_checkpoint
from ..provenance import cpu_model, git_head
from . import (KIND_WORDS, MAX_BYTES, SHIPPED, WEIGHTS_DIR, PretrainedError, info_record,
               sha256_file, sha256_record)

#: The entry of ``models`` each kind packs, in order of preference.
_SOURCE_MODELS = {"gan": ("G_ema", "G"), "segmenter": ("segmenter",)}
_PACKED_MODEL = {"gan": "G", "segmenter": "segmenter"}


def to_half(weights: dict[str, Any]) -> dict[str, Any]:
    """A state dict with every floating tensor in float16 (contiguous copies)."""
    return {k: (v.detach().to(torch.float16).contiguous() if torch.is_tensor(v)
                and v.is_floating_point() else v) for k, v in weights.items()}


def _finite_half(weights: dict[str, Any], where: str) -> None:
    for key, value in weights.items():
        if torch.is_tensor(value) and value.is_floating_point():
            if not torch.isfinite(value.float()).all():
                raise PretrainedError(f"{where}: {key} is not finite after the conversion to "
                                      f"float16 (values beyond +-65504?)")


def machine_description() -> str:
    """CPU model, cores, GPU, OS and torch version of this machine."""
    cpu = cpu_model()
    gpu = ""
    if torch.cuda.is_available():
        gpu = f", GPU {torch.cuda.get_device_name(0)}"
    return (f"{cpu}, {os.cpu_count()} logical cores{gpu}, {platform.system()} "
            f"{platform.machine()}, Python {platform.python_version()}, torch "
            f"{torch.__version__}")


def read_metrics(path: str | Path, source: Path, name: str) -> dict[str, Any]:
    """Metrics from ``--metrics``: an evaluate ``report.json`` (rows; the row of this
    checkpoint, or its only row), a ``segmenter_eval.json`` or any JSON object."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise PretrainedError(f"--metrics {path}: not a readable JSON file ({exc})") from None
    if isinstance(data, list):
        rows = [r for r in data if isinstance(r, dict) and isinstance(r.get("metrics"), dict)]
        mine = [r for r in rows if str(r.get("checkpoint", "")) in (name, str(source))
                or Path(str(r.get("checkpoint", ""))).name == source.name]
        chosen = mine if len(mine) == 1 else rows if len(rows) == 1 else []
        if not chosen:
            raise PretrainedError(f"--metrics {path}: expected one row for {source.name} "
                                  f"among {len(rows)} evaluation rows")
        row = chosen[0]
        return {**row["metrics"], "num_images": row.get("num_images"),
                "method": row.get("method")}
    if isinstance(data, dict):
        return {k: v for k, v in data.items() if k != "checkpoint"}
    raise PretrainedError(f"--metrics {path}: expected a JSON object or a list of report "
                          f"rows, found {type(data).__name__}")


def log_span_s(run_dir: Path, step: int) -> float | None:
    """Seconds between the first and the last ``metrics.jsonl`` record up to ``step``."""
    times = []
    try:
        lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("time"), (int, float)) \
                and isinstance(record.get("step"), int) and record["step"] <= step:
            times.append(float(record["time"]))
    return round(max(times) - min(times), 1) if len(times) >= 2 else None


def _serialize(state: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def _blocky_labels(num_classes: int, height: int, width: int) -> torch.Tensor:
    """(1, H, W) seeded label map of 8x8-pixel blocks of classes 0..N."""
    gen = torch.Generator().manual_seed(0)
    coarse = torch.randint(0, num_classes + 1, (1, 1, max(1, height // 8), max(1, width // 8)),
                           generator=gen).float()
    return torch.nn.functional.interpolate(coarse, size=(height, width),
                                           mode="nearest")[:, 0].long()


def _parity_gan(source: Path, packed: Path, config: dict[str, Any],
                num_classes: int) -> dict[str, Any]:
    from ..synthesize import Synthesizer

    data = config.get("data", {})
    height, width = int(data.get("height", 64)), int(data.get("width", 64))
    labels = _blocky_labels(num_classes, height, width)
    ref = Synthesizer.from_checkpoint(source, device="cpu").synth_tensors(labels, seed=0)
    synth = Synthesizer.from_checkpoint(packed, device="cpu")
    dtypes = {str(p.dtype) for p in synth.generator.parameters()}
    out = synth.synth_tensors(labels, seed=0)
    result: dict[str, Any] = {"input": f"seeded {height}x{width} block label map, noise seed 0",
                              "loaded_dtype": ",".join(sorted(dtypes))}
    if "rgb" in out:
        result["rgb_max_abs_diff"] = float((out["rgb"] - ref["rgb"]).abs().max())
        result["rgb_finite"] = bool(torch.isfinite(out["rgb"]).all())
    if "depth" in out:
        result["depth_max_abs_diff_m"] = float((out["depth"] - ref["depth"]).abs().max())
        result["depth_finite"] = bool(torch.isfinite(out["depth"]).all())
    return result


def _parity_segmenter(source: Path, packed: Path, config: dict[str, Any]) -> dict[str, Any]:
    from ..segment import Segmenter

    data = config.get("data", {})
    height, width = int(data.get("height", 64)), int(data.get("width", 64))
    gen = torch.Generator().manual_seed(0)
    rgb = torch.rand((2, 3, height, width), generator=gen) * 2 - 1
    depth = torch.rand((2, 1, height, width), generator=gen) * 2 - 1
    ref = Segmenter.from_checkpoint(source, torch.device("cpu"))
    seg = Segmenter.from_checkpoint(packed, torch.device("cpu"))
    with torch.no_grad():
        diff = (seg.model(rgb, depth) - ref.model(rgb, depth)).abs().max()
    agree = (seg.predict(rgb, depth) == ref.predict(rgb, depth)).float().mean()
    return {"input": f"2 seeded uniform-noise RGB-D frames of {height}x{width}",
            "loaded_dtype": ",".join(sorted({str(p.dtype) for p in seg.model.parameters()})),
            "logits_max_abs_diff": float(diff), "prediction_agreement": float(agree)}


def pack(checkpoint: str | Path, name: str, *, out_dir: str | Path | None = None,
         metrics: str | Path | None = None, wall_time_s: float | None = None,
         commit: str | None = None, machine: str | None = None) -> dict[str, Any]:
    """Write ``out_dir/NAME.{pt,json,sha256}`` from a training checkpoint; returns the JSON
    dict (with ``"written"``: the files that changed)."""
    if name not in SHIPPED:
        raise PretrainedError(f"--name {name!r}: expected one of {', '.join(SHIPPED)}")
    entry = SHIPPED[name]
    source = Path(checkpoint)
    state = load_checkpoint(source, map_location="cpu")
    kind = state.get("kind")
    if kind != entry.kind:
        raise PretrainedError(f"checkpoint {source}: a {kind!r} checkpoint, but {name!r} ships "
                              f"a {KIND_WORDS[entry.kind]} ({entry.kind!r} checkpoint)")
    model_key = next((k for k in _SOURCE_MODELS[kind] if k in state["models"]), None)
    if model_key is None:
        raise PretrainedError(f"checkpoint {source}: no {' or '.join(_SOURCE_MODELS[kind])} "
                              f"weights")
    weights = to_half(state["models"][model_key])
    _finite_half(weights, f"checkpoint {source}: {model_key}")
    config = state["config"]
    step = int(state["step"])
    if kind == "gan":
        batch = int(config.get("train", {}).get("batch_size", 0)) or None
    else:
        batch = int(config.get("batch_size", 0)) or None
    processes = int(state.get("world_size", 1) or 1)
    packed_state = {
        "format": FORMAT, "version": VERSION, "kind": kind, "config": config,
        "num_classes": int(state["num_classes"]),
        "class_names": list(state.get("class_names", [])), "step": step,
        "models": {_PACKED_MODEL[kind]: weights},
        "extra": {"shipped": name, "weights": model_key, "dtype": "float16",
                  "source": source.name},
    }
    blob = _serialize(packed_state)
    if len(blob) > MAX_BYTES:
        raise PretrainedError(f"packed {name}: {len(blob)} bytes, more than the limit of "
                              f"{MAX_BYTES} for shipped weights")
    digest = hashlib.sha256(blob).hexdigest()
    out = Path(out_dir) if out_dir else WEIGHTS_DIR
    out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix=".pack-", dir=out) as tmp:
        trial = Path(tmp) / entry.file
        trial.write_bytes(blob)
        if kind == "gan":
            parity = _parity_gan(source, trial, config, int(state["num_classes"]))
        else:
            parity = _parity_segmenter(source, trial, config)
    bad = [k for k, v in parity.items() if isinstance(v, float) and not math.isfinite(v)
           or v is False]
    if bad:
        raise PretrainedError(f"packed {name}: the float16 weights give non-finite outputs "
                              f"({', '.join(bad)})")

    info: dict[str, Any] = {
        "name": name, "kind": kind, "what": entry.what, "file": entry.file,
        "bytes": len(blob), "sha256": digest, "dtype": "float16",
        "parameters": int(sum(v.numel() for v in weights.values()
                              if torch.is_tensor(v) and v.is_floating_point())),
        "weights": (f"{model_key} of the training run" + (" (exponential moving average)"
                                                          if model_key == "G_ema" else "")),
        "num_classes": int(state["num_classes"]),
        "class_names": list(state.get("class_names", [])),
        "recipe": entry.recipe,
        "source_checkpoint": {"file": source.name, "sha256": sha256_file(source)},
        "code_commit": commit or git_head(),
        "code_commit_source": "given (--commit)" if commit else
        "HEAD of the checkout that packed it (the run may have used another; pass --commit)",
        "steps": step, "batch_size": batch, "processes": processes,
        "images_seen": step * batch * processes if batch else None,
        "wall_time_s": float(wall_time_s) if wall_time_s is not None else None,
        "metrics_log_span_s": log_span_s(source.parent, step),
        "machine": machine or machine_description(),
        "machine_source": "given (--machine)" if machine else "the machine that packed it",
        "metrics": read_metrics(metrics, source, name) if metrics else None,
        "metrics_source": Path(metrics).name if metrics else None,
        "float16_check": parity,
        "config": config,
    }
    text = json.dumps(info, indent=2, sort_keys=False) + "\n"
    sha_text = f"{digest}  {entry.file}\n"
    pt_path = out / entry.file
    written = []
    for path, data in ((pt_path, blob), (info_record(pt_path), text.encode("utf-8")),
                       (sha256_record(pt_path), sha_text.encode("utf-8"))):
        if not (path.is_file() and path.read_bytes() == data):
            if path.suffix == ".pt":
                atomic_write_bytes(path, data)
            else:
                atomic_write_text(path, data.decode("utf-8"))
            written.append(path.name)
        os.chmod(path, 0o644)  # package data: readable by every user of an installation
    return {**info, "written": written, "out_dir": str(out)}

