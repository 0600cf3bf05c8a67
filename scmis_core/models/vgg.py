"""VGG-19 convolution layers laid out exactly like torchvision's ``vgg19().features``.

The backbone is an ``nn.Sequential`` called ``features`` whose indices match torchvision's
(conv at 0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34; ReLU one index after
each conv; max-pool at 4, 9, 18, 27, 36), so a torchvision-format state_dict saved as a local
``.pth`` file loads into it (:func:`load_vgg_weights`). Nothing is ever downloaded.

Two users:

- :class:`VGG19Backbone`: trainable, optionally narrower (``width`` = channels of stage 1;
  64 = VGG-19) and truncated after ``relu<depth>_1``; the backbone of the adaptive alignment
  discriminator (docs/design.md §1).
- :class:`VGGFeatures`: a frozen, eval-mode VGG-19 for the standard perceptual loss of the
  ``vgg-in`` / ``vgg-cs`` baselines, built from a local weights file.

Both return the activations at ``relu1_1, relu2_1, ..., relu<depth>_1`` (one tensor per
stage, the layers of the perceptual loss of Johnson et al. / SPADE / OASIS).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch
from torch import nn

# Convolutions per stage of VGG-19 and the stage widths relative to stage 1.
VGG19_CONVS_PER_STAGE = (2, 2, 4, 4, 4)
VGG19_WIDTH_MULT = (1, 2, 4, 8, 8)
IMAGENET_WIDTH = 64
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _layout() -> tuple[list[tuple[int, int, int]], list[int], list[int], list[int]]:
    """Indices of VGG-19 ``features``.

    Returns (convs, relu_first, relu_last, pools): convs = [(index, stage, conv_in_stage)],
    relu_first[s] = index of ``relu<s+1>_1``, relu_last[s] = index of the stage's last ReLU
    (before its pool), pools[s] = index of the stage's max-pool.
    """
    convs, relu_first, relu_last, pools = [], [], [], []
    index = 0
    for stage, n_convs in enumerate(VGG19_CONVS_PER_STAGE):
        for k in range(n_convs):
            convs.append((index, stage, k))
            if k == 0:
                relu_first.append(index + 1)
            index += 2
        relu_last.append(index - 1)
        pools.append(index)
        index += 1
    return convs, relu_first, relu_last, pools


VGG19_CONVS, RELU_FIRST, RELU_LAST, POOLS = _layout()
# relu1_1 .. relu5_1 names, for documentation and error messages.
RELU_FIRST_NAMES = tuple(f"relu{s + 1}_1" for s in range(5))


def stage_widths(width: int) -> list[int]:
    """Output channels of the five VGG-19 stages for a first-stage width."""
    return [width * m for m in VGG19_WIDTH_MULT]


def build_vgg19_features(in_channels: int = 3, width: int = IMAGENET_WIDTH,
                         depth: int = 5) -> nn.Sequential:
    """VGG-19 ``features`` up to and including ``relu<depth>_1``, torchvision indices."""
    if not 1 <= depth <= 5:
        raise ValueError(f"VGG-19 depth: expected 1..5 stages, found {depth}")
    if in_channels < 1 or width < 1:
        raise ValueError(f"VGG-19: expected in_channels >= 1 and width >= 1, found "
                         f"{in_channels} and {width}")
    widths = stage_widths(width)
    last_index = RELU_FIRST[depth - 1]
    layers: list[nn.Module] = []
    channels = in_channels
    for index, stage, _ in VGG19_CONVS:
        if index > last_index:
            break
        if stage > 0 and len(layers) == POOLS[stage - 1]:
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        layers.append(nn.Conv2d(channels, widths[stage], kernel_size=3, padding=1))
        layers.append(nn.ReLU(inplace=True))
        channels = widths[stage]
    assert len(layers) == last_index + 1
    return nn.Sequential(*layers)


def _init_vgg(features: nn.Sequential) -> None:
    """torchvision's VGG init: Kaiming-normal (fan_out, relu) weights, zero biases."""
    for module in features:
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(module.bias)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a flat state_dict (or a dict holding one under ``state_dict``) from a local file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"VGG weights {path}: file not found (weights are never "
                                "downloaded; give the path of a local .pth file)")
    obj = torch.load(path, weights_only=True, map_location="cpu")
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"],
                                                                        Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor)
                                               for v in obj.values()):
        found = (f"a mapping with keys {sorted(obj)[:8]}" if isinstance(obj, Mapping)
                 else type(obj).__name__)
        raise ValueError(f"VGG weights {path}: expected a state_dict (name -> tensor), "
                         f"found {found}")
    return dict(obj)


def _features_subdict(state: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Keys ``<prefix>features.N.weight`` / ``<prefix>N.weight`` -> ``N.weight``.

    ``classifier.*`` and every key that does not name a ``features`` layer are ignored.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix):]
        if rest.startswith("features."):
            rest = rest[len("features."):]
        parts = rest.split(".")
        if len(parts) == 2 and parts[0].isdigit() and parts[1] in ("weight", "bias"):
            out[rest] = value
    return out


def load_vgg_weights(features: nn.Sequential, source: str | Path | Mapping[str, torch.Tensor],
                     prefix: str = "") -> None:
    """Copy torchvision-format VGG-19 weights into ``features`` (built by this module).

    ``source`` is a local ``.pth`` path (read with ``torch.load(weights_only=True)``) or a
    state_dict. Keys may carry ``features.`` or not (and an extra ``prefix``, e.g.
    ``"backbone."`` for a discriminator checkpoint); ``classifier.*`` keys and layers deeper
    than ``features`` are ignored. A 4-channel first conv (RGB-D) takes the RGB filters for its
    first three input channels and their mean for the fourth. Missing layers or mismatched
    shapes raise ValueError naming the key, the expected and the found shape.
    """
    where = str(source) if isinstance(source, (str, Path)) else "state_dict"
    state = read_state_dict(source) if isinstance(source, (str, Path)) else source
    sub = _features_subdict(state, prefix)
    if not sub:
        raise ValueError(f"VGG weights {where}: no 'features.N.weight' keys found "
                         f"(prefix {prefix!r}); found keys {sorted(state)[:8]}")
    own = features.state_dict()
    first_conv = features[0]
    if first_conv.out_channels != IMAGENET_WIDTH:
        raise ValueError(
            f"VGG weights {where}: only a backbone of width {IMAGENET_WIDTH} (model.disc_width"
            f"={IMAGENET_WIDTH}, VGG-19) can load VGG-19 weights; this backbone has width "
            f"{first_conv.out_channels}")
    new: dict[str, torch.Tensor] = {}
    missing = [key for key in own if key not in sub]
    if missing:
        raise ValueError(f"VGG weights {where}: missing {len(missing)} key(s) the backbone "
                         f"needs, e.g. features.{missing[0]} (the file may hold a shallower "
                         "network)")
    for key, target in own.items():
        value = sub[key]
        if (key == "0.weight" and value.dim() == 4 and target.shape[1] == 4
                and value.shape[1] == 3 and value.shape[0] == target.shape[0]):
            value = torch.cat([value, value.mean(dim=1, keepdim=True)], dim=1)  # (64, 4, 3, 3)
        if tuple(value.shape) != tuple(target.shape):
            raise ValueError(f"VGG weights {where}: key features.{key}: expected shape "
                             f"{tuple(target.shape)}, found {tuple(value.shape)}")
        new[key] = value.to(dtype=target.dtype)
    features.load_state_dict(new)


class VGG19Backbone(nn.Module):
    """Trainable VGG-19 conv layers up to ``relu<depth>_1`` (the AVGG backbone).

    Input (B, in_channels, H, W) in [-1, 1]; the RGB channels are mapped to ImageNet
    normalisation first (a fixed affine, so ImageNet weights see the inputs they were trained
    on; extra channels such as depth pass unchanged). ``forward`` returns ``(taps, stages)``:

    - ``taps``: activations at ``relu1_1 .. relu<depth>_1`` (for the adaptive perceptual
      loss, eq. 4);
    - ``stages``: the output of each stage before its pool (``relu1_2, relu2_2, relu3_4,
      relu4_4`` for the shallower stages, ``relu<depth>_1`` for the deepest), for the
      heads' skip connections. Stage s has ``channels[s]`` channels at 1/2**s resolution.
    """

    def __init__(self, in_channels: int = 3, width: int = IMAGENET_WIDTH, depth: int = 5):
        super().__init__()
        self.in_channels = in_channels
        self.width = width
        self.depth = depth
        self.features = build_vgg19_features(in_channels, width, depth)
        _init_vgg(self.features)
        self.channels = stage_widths(width)[:depth]
        self._tap_index = {i: s for s, i in enumerate(RELU_FIRST[:depth])}
        self._stage_index = {i: s for s, i in enumerate(RELU_LAST[:depth - 1])}
        self._stage_index[RELU_FIRST[depth - 1]] = depth - 1
        n_rgb = min(3, in_channels)
        mean = torch.zeros(in_channels)
        std = torch.ones(in_channels)
        mean[:n_rgb] = torch.tensor(IMAGENET_MEAN[:n_rgb])
        std[:n_rgb] = torch.tensor(IMAGENET_STD[:n_rgb])
        # x_norm = ((x + 1) / 2 - mean) / std = x * scale + shift on the RGB channels.
        scale = torch.ones(in_channels)
        shift = torch.zeros(in_channels)
        scale[:n_rgb] = 0.5 / std[:n_rgb]
        shift[:n_rgb] = (0.5 - mean[:n_rgb]) / std[:n_rgb]
        self.register_buffer("input_scale", scale.view(1, -1, 1, 1), persistent=False)
        self.register_buffer("input_shift", shift.view(1, -1, 1, 1), persistent=False)

    def load_weights(self, source: str | Path | Mapping[str, torch.Tensor],
                     prefix: str = "") -> None:
        """Load torchvision-format VGG-19 weights (see :func:`load_vgg_weights`)."""
        load_vgg_weights(self.features, source, prefix)

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"VGG-19 backbone: expected an image (B, {self.in_channels}, H, W)"
                             f", found shape {tuple(x.shape)}")
        h = x * self.input_scale + self.input_shift
        taps: list[torch.Tensor] = []
        stages: list[torch.Tensor] = []
        for index, layer in enumerate(self.features):
            # In-place ReLUs would overwrite tapped tensors; apply them out of place.
            h = torch.relu(h) if isinstance(layer, nn.ReLU) else layer(h)
            if index in self._tap_index:
                taps.append(h)
            if index in self._stage_index:
                stages.append(h)
        return taps, stages


class VGGFeatures(nn.Module):
    """Frozen VGG-19 (eval mode, no gradients into its weights) for the perceptual loss.

    ``forward(x)`` takes images in [-1, 1] (B, 3, H, W) and returns the list of activations
    at ``relu1_1 .. relu<depth>_1``. Build it with :meth:`from_file` from a local
    torchvision-format VGG-19 state_dict: ImageNet weights for ``vgg-in``, or the backbone of
    a VGG-19 segmenter trained on the training set for ``vgg-cs`` (give ``prefix`` when its
    keys carry one, e.g. ``"backbone."``).
    """

    def __init__(self, depth: int = 5):
        super().__init__()
        self.backbone = VGG19Backbone(3, IMAGENET_WIDTH, depth)
        self.requires_grad_(False)
        self.eval()

    @classmethod
    def from_file(cls, path: str | Path | Mapping[str, torch.Tensor], prefix: str = "",
                  depth: int | None = None) -> "VGGFeatures":
        """Load from a local weights file; ``depth=None`` takes the deepest stage it holds."""
        state = read_state_dict(path) if isinstance(path, (str, Path)) else path
        if depth is None:
            sub = _features_subdict(state, prefix)
            depth = 0
            for s, relu_index in enumerate(RELU_FIRST):
                if f"{relu_index - 1}.weight" in sub:
                    depth = s + 1
            if depth == 0:
                raise ValueError(f"VGG weights {path if isinstance(path, (str, Path)) else ''}"
                                 f": no conv layer 'features.0.weight' found (prefix "
                                 f"{prefix!r}); found keys {sorted(state)[:8]}")
        module = cls(depth)
        module.backbone.load_weights(state, prefix)
        module.requires_grad_(False)
        return module.eval()

    def train(self, mode: bool = True) -> "VGGFeatures":
        """Stays in eval mode: the perceptual network is frozen."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        taps, _ = self.backbone(x)
        return taps
