"""The generator as an ONNX graph: the module that is exported, the export, and the
onnxruntime session that runs it (the ``onnxruntime`` backend of
:class:`~scmis_core.synthesize.Synthesizer`; ``python -m scmis_core.export`` writes the file).

The graph (ONNX opset :data:`OPSET`, exported with PyTorch's TorchScript-based exporter):

- inputs ``labels`` int64 (B, H, W) class ids 0..N (0 = void) and, when the generator has
  noise, ``z`` float32 (B, z_dim) (or (B, z_dim, H, W) with ``model.spatial_noise``). The
  noise is an input so that a seed reproduces the same image on every backend.
- outputs ``rgb`` float32 (B, 3, H, W) in [-1, 1] and ``depth_m`` float32 (B, 1, H, W) in
  metres (0 .. max_depth_m), each only where the variant has that output.
- H and W are multiples of ``2**num_scales``: fixed (``size``) or symbolic (``dynamic``); the
  batch size is always symbolic.
- ``metadata_props["scmis"]`` holds JSON (:func:`read_metadata`): classes, class names,
  max depth, outputs, noise shape, network size multiple, the fixed size (if any), the
  training step and the resolved training config, so a ``.onnx`` file alone is enough to run.

The one-hot encoding happens inside the graph (``labels[:, None] == [1..N]``), spectral-norm
parametrisations are baked into plain weights before tracing, and BatchNorm uses its running
statistics (eval mode), so the graph is a pure feed-forward network.

``onnx`` and ``onnxruntime`` are optional dependencies (``requirements-onnx.txt``); they are
imported only when this module's functions run.
"""

from __future__ import annotations

import copy
import io
import json
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from .depth_range import unit_to_metres
from .models.spade import SPADE, resize_to
from .models.noise import sample_z

#: ONNX opset of the exported graph (ONNX Runtime >= 1.13, TensorRT >= 8.5 run it).
OPSET = 17
FORMAT = "scmis-onnx"
VERSION = 1
METADATA_KEY = "scmis"
INSTALL_HINT = ("pip install -r requirements-onnx.txt -c constraints.txt (or "
                "onnxruntime-gpu instead of onnxruntime for CUDA / TensorRT)")


class OnnxUnavailable(RuntimeError):
    """The optional ``onnx`` / ``onnxruntime`` packages are not installed."""


def require(module: str):
    """Import ``onnx`` or ``onnxruntime`` with a clear error naming the install command."""
    try:
        return __import__(module)
    except ImportError:
        raise OnnxUnavailable(f"the onnxruntime backend / ONNX export needs the optional "
                              f"package {module!r}, which is not installed: "
                              f"{INSTALL_HINT}") from None


class FoldedSPADE(nn.Module):
    """The inference form of a :class:`~scmis_core.models.spade.SPADE` layer (same function):
    its parameter-free BatchNorm (running statistics) folded into a per-channel scale and
    shift, gamma and beta as one convolution with 2C outputs whose gamma half carries the
    ``1 +`` in its bias, and the modulation as two fused multiply-adds
    (``beta + (x * scale + shift) * (1 + gamma)``) instead of four passes over the tensor."""

    def __init__(self, spade: nn.Module) -> None:
        super().__init__()
        norm, gamma, beta = spade.norm, spade.gamma, spade.beta
        inv = torch.rsqrt(norm.running_var + norm.eps)
        self.register_buffer("scale", inv.view(1, -1, 1, 1).clone())
        self.register_buffer("shift", (-norm.running_mean * inv).view(1, -1, 1, 1).clone())
        self.embed = spade.embed
        self.resize_mode = spade.resize_mode
        self.channels = gamma.out_channels
        self.modulation = nn.Conv2d(gamma.in_channels, 2 * gamma.out_channels,
                                    gamma.kernel_size, padding=gamma.padding)
        with torch.no_grad():
            self.modulation.weight.copy_(torch.cat([gamma.weight, beta.weight]))
            self.modulation.bias.copy_(torch.cat([gamma.bias + 1.0, beta.bias]))

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        emb = self.embed(resize_to(cond, x, self.resize_mode))  # (B, hidden, h, w)
        gamma1, beta = self.modulation(emb).split(self.channels, dim=1)  # 1 + gamma, beta
        return torch.addcmul(beta, torch.addcmul(self.shift, x, self.scale), gamma1)


def _foldable_spade(module: nn.Module) -> bool:
    norm = getattr(module, "norm", None)
    return (isinstance(module, SPADE) and isinstance(norm, nn.BatchNorm2d) and not norm.affine
            and norm.running_mean is not None and module.gamma.bias is not None
            and module.beta.bias is not None)


def _fold_conv_bn(conv: nn.Conv2d, norm: nn.BatchNorm2d) -> nn.Conv2d:
    """``conv -> BatchNorm (running statistics)`` as one convolution with a bias."""
    inv = torch.rsqrt(norm.running_var + norm.eps)
    factor = inv * norm.weight if norm.affine else inv
    shift = norm.bias - norm.running_mean * factor if norm.affine \
        else -norm.running_mean * factor
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                      conv.padding, conv.dilation, conv.groups, bias=True)
    with torch.no_grad():
        fused.weight.copy_(conv.weight * factor.view(-1, 1, 1, 1))
        bias = conv.bias * factor if conv.bias is not None else 0.0
        fused.bias.copy_(shift + bias)
    return fused


def fold_for_inference(module: nn.Module) -> nn.Module:
    """Replace, in place, every SPADE layer by :class:`FoldedSPADE` and every ``Conv2d ->
    BatchNorm2d`` pair of an ``nn.Sequential`` by one convolution (eval-mode arithmetic)."""
    for name, child in list(module.named_children()):
        if _foldable_spade(child):
            setattr(module, name, FoldedSPADE(child))
            continue
        if isinstance(child, nn.Sequential):
            layers = list(child)
            for i in range(len(layers) - 1):
                conv, norm = layers[i], layers[i + 1]
                if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d) \
                        and norm.running_mean is not None:
                    child[i], child[i + 1] = _fold_conv_bn(conv, norm), nn.Identity()
        fold_for_inference(child)
    return module


def inference_copy(generator: nn.Module, fold: bool = True) -> nn.Module:
    """A deep copy in eval mode with spectral-norm (and any other) parametrisations baked
    into plain weights and (``fold``) BatchNorm / SPADE folded (:func:`fold_for_inference`):
    the same function, fewer ops and passes over memory, and exportable."""
    gen = copy.deepcopy(generator).eval()
    for module in gen.modules():
        if parametrize.is_parametrized(module):
            # A deep copy shares the dynamically created Parametrized* class with the
            # original, and removing a parametrisation deletes the property from that class:
            # give the copy a class of its own first so the original keeps working.
            cls = module.__class__
            module.__class__ = type(cls.__name__, cls.__bases__, dict(cls.__dict__))
            for name in list(module.parametrizations):
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)
    if fold:
        fold_for_inference(gen)
    return gen.requires_grad_(False)


class SynthesisGraph(nn.Module):
    """``labels (B,H,W) int64 [, z] -> (rgb [-1,1], depth_m metres)``: what is exported.

    Wraps an :func:`inference_copy` of the generator; the outputs are those of the variant,
    in the order ``rgb``, ``depth_m`` (see :attr:`output_names`). The benchmarks time this
    same module for every backend; ``memory_format`` (``torch.channels_last`` for CUDA
    tensor cores) is the layout of the one-hot input, a no-op in the exported graph.
    """

    def __init__(self, generator: nn.Module, num_classes: int, max_depth_m: float,
                 memory_format: torch.memory_format = torch.contiguous_format) -> None:
        super().__init__()
        self.memory_format = memory_format
        self.generator = inference_copy(generator)
        self.num_classes = int(num_classes)
        self.max_depth_m = float(max_depth_m)
        self.z_dim = int(getattr(generator, "z_dim", 0))
        self.outputs = tuple(getattr(generator, "outputs", ("rgb", "depth")))
        self.register_buffer("class_ids", torch.arange(1, num_classes + 1).view(1, -1, 1, 1),
                             persistent=False)

    @property
    def input_names(self) -> list[str]:
        return ["labels", "z"] if self.z_dim else ["labels"]

    @property
    def output_names(self) -> list[str]:
        return [{"rgb": "rgb", "depth": "depth_m"}[k] for k in ("rgb", "depth")
                if k in self.outputs]

    def forward(self, labels: torch.Tensor, z: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, ...]:
        onehot = (labels[:, None] == self.class_ids).float()  # (B, N, H, W), void all zero
        onehot = onehot.contiguous(memory_format=self.memory_format)
        if z is None:
            z = onehot.new_zeros((labels.shape[0], 0))
        out = self.generator(onehot, z)
        result = []
        if "rgb" in out:
            result.append(out["rgb"].float().clamp(-1.0, 1.0))
        if "depth" in out:
            result.append(unit_to_metres(out["depth"].float(), self.max_depth_m))
        return tuple(result)


def export_onnx(generator: nn.Module, num_classes: int, *, max_depth_m: float,
                size: tuple[int, int] | None = None, dynamic: bool = True,
                metadata: dict[str, Any] | None = None, opset: int = OPSET) -> bytes:
    """Export ``generator`` (any device; traced on a CPU copy) to a serialized ONNX model.

    ``size`` (H, W) is the traced size and, with ``dynamic=False``, the only size the graph
    accepts; with ``dynamic=True`` H and W are symbolic (any multiple of ``2**num_scales``).
    ``metadata`` is merged into the JSON stored under ``metadata_props["scmis"]``.
    """
    onnx = require("onnx")
    multiple = 2 ** int(getattr(generator, "num_scales", 0))
    if size is None:
        if not dynamic:
            raise ValueError("export: a fixed-size export needs size=(H, W)")
        size = (2 * multiple, 3 * multiple)  # non-square, so H and W cannot be swapped
    height, width = size
    if height % multiple or width % multiple or height <= 0 or width <= 0:
        raise ValueError(f"export size: expected H and W positive multiples of "
                         f"2**num_scales = {multiple}, found {height}x{width}")
    graph = SynthesisGraph(generator, num_classes, max_depth_m).cpu()  # a copy: the
    # generator itself stays where it is
    labels = torch.randint(0, num_classes + 1, (1, height, width))
    args: tuple[torch.Tensor, ...] = (labels,)
    spatial = bool(getattr(generator, "spatial_noise", False))
    if graph.z_dim:
        args += (sample_z(generator, 1, height, width),)
    axes: dict[str, dict[int, str]] = {}
    hw = {1: "height", 2: "width"} if dynamic else {}
    axes["labels"] = {0: "batch", **hw}
    if graph.z_dim:
        axes["z"] = {0: "batch", **({2: "height", 3: "width"} if dynamic and spatial else {})}
    for name in graph.output_names:
        axes[name] = {0: "batch", **({2: "height", 3: "width"} if dynamic else {})}
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of the dynamo one (which would need
        # onnxscript); its trace warnings concern shape checks that hold for every valid size.
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, args, buffer, dynamo=False, opset_version=opset,
                          input_names=graph.input_names, output_names=graph.output_names,
                          dynamic_axes=axes, do_constant_folding=True)
    model = onnx.load_from_string(buffer.getvalue())
    info = {"format": FORMAT, "version": VERSION, "opset": opset,
            "num_classes": int(num_classes), "max_depth_m": float(max_depth_m),
            "outputs": list(graph.outputs), "z_dim": graph.z_dim, "spatial_noise": spatial,
            "multiple": multiple, "size": None if dynamic else [height, width],
            **(metadata or {})}
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(info)
    model.producer_name = "scmis"
    model.doc_string = ("SCMIS generator: labels int64 (B,H,W) [+ z] -> rgb [-1,1] "
                        "(B,3,H,W), depth_m metres (B,1,H,W)")
    return model.SerializeToString()


def check_model(model: bytes | str | Path) -> None:
    """``onnx.checker.check_model(full_check=True)`` (graph, opset, shape inference) and the
    presence of scmis metadata; raises ValueError with the checker's first line."""
    onnx = require("onnx")
    proto = onnx.load_from_string(_read(model))
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid"
        raise ValueError(f"ONNX checker: {first}") from None
    read_metadata(proto)


def _read(model: bytes | str | Path) -> bytes:
    if isinstance(model, bytes):
        return model
    path = Path(model)
    if not path.is_file():
        raise FileNotFoundError(f"ONNX model {path}: file not found")
    return path.read_bytes()


def read_metadata(model: Any) -> dict[str, Any]:
    """The scmis JSON of an ONNX ModelProto, serialized model or path (ValueError if none)."""
    if isinstance(model, (bytes, str, Path)):
        onnx = require("onnx")
        model = onnx.load_from_string(_read(model))
    props = {p.key: p.value for p in model.metadata_props}
    if METADATA_KEY not in props:
        raise ValueError(f"ONNX model: expected an scmis export (metadata {METADATA_KEY!r} "
                         f"written by python -m scmis_core.export), found metadata keys "
                         f"{sorted(props) or 'none'}")
    info = json.loads(props[METADATA_KEY])
    if info.get("format") != FORMAT or info.get("version") != VERSION:
        raise ValueError(f"ONNX model: expected {FORMAT} version {VERSION}, found "
                         f"{info.get('format')!r} version {info.get('version')!r}")
    return info


def select_providers(device: str | torch.device = "cpu",
                     available: Sequence[str] | None = None) -> list[str]:
    """Execution providers for ``device``, best first, among those onnxruntime offers.

    ``cpu``: CPU only. ``cuda`` / ``cuda:N`` / ``auto``: TensorRT, then CUDA, then CPU, each
    where this onnxruntime build has it (``auto`` falls back to CPU alone). ``cuda`` with no
    GPU provider is an error naming the providers found.
    """
    if available is None:
        available = require("onnxruntime").get_available_providers()
    kind = torch.device(device).type if str(device) != "auto" else "auto"
    if kind == "cpu":
        return ["CPUExecutionProvider"]
    gpu = [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider")
           if p in available]
    if kind == "cuda" and not gpu:
        raise RuntimeError(f"device {str(device)!r}: this onnxruntime has no CUDA or TensorRT "
                           f"execution provider (found {', '.join(available)}); install "
                           f"onnxruntime-gpu or use device cpu")
    return gpu + ["CPUExecutionProvider"]


class OnnxGenerator:
    """An onnxruntime session over an scmis ONNX model: numpy labels (+ z) -> outputs.

    Args:
        model: serialized model (bytes) or path of a ``.onnx`` file.
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (see :func:`select_providers`).
        providers: explicit execution providers (overrides ``device``).
        threads: intra-op threads of the CPU provider (default: torch's thread count, so
            OMP_NUM_THREADS / ``torch.set_num_threads`` apply to both backends alike).
    """

    def __init__(self, model: bytes | str | Path, device: str | torch.device = "cpu", *,
                 providers: Sequence[str] | None = None, threads: int | None = None) -> None:
        ort = require("onnxruntime")
        data = _read(model)
        self.metadata = read_metadata(data)
        chosen = list(providers) if providers else select_providers(device)
        device_id = torch.device(device).index if str(device) != "auto" else None
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads or torch.get_num_threads())
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: fallbacks are reported via .providers
        provider_args = [(p, {"device_id": device_id or 0})
                         if p in ("CUDAExecutionProvider", "TensorrtExecutionProvider")
                         else p for p in chosen]
        self.session = ort.InferenceSession(data, sess_options=options,
                                            providers=provider_args)
        self.providers = self.session.get_providers()  # what was actually enabled
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]

    @property
    def size(self) -> tuple[int, int] | None:
        """The fixed (H, W) of a fixed-size export, else None."""
        size = self.metadata.get("size")
        return (int(size[0]), int(size[1])) if size else None

    def __call__(self, labels: np.ndarray, z: np.ndarray | None = None
                 ) -> dict[str, np.ndarray]:
        """labels int64 (B,H,W), z float32 -> {"rgb": (B,3,H,W), "depth": (B,1,H,W) m}."""
        feeds = {"labels": np.ascontiguousarray(labels, dtype=np.int64)}
        if "z" in self.input_names:
            feeds["z"] = np.ascontiguousarray(z, dtype=np.float32)
        values = self.session.run(self.output_names, feeds)
        names = {"rgb": "rgb", "depth_m": "depth"}
        return {names[n]: v for n, v in zip(self.output_names, values)}
