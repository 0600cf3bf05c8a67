"""ESANet: efficient RGB-D semantic segmentation (Seichter et al., ICRA 2021), from its paper.

Two ResNet encoders (RGB, depth) of the ResNet-18/34 layout, with torchvision's basic block
or the Non-Bottleneck-1D block (NBt1D, ERFNet's factorised 3x1 / 1x3 residual block). After
the stem and after each of the four stages, depth is fused into the RGB branch by
squeeze-and-excitation on each modality and an element-wise sum (``SE-add``); the depth
branch carries on with its own features. A pyramid-pooling context module (bins 1 and 5 by
default) follows the last stage. The decoder has three modules (3x3 conv, ``decoder_blocks``
NBt1D blocks, learned x2 upsampling) whose outputs are summed with 1x1 projections of the
fused encoder features at 1/16, 1/8 and 1/4; a 3x3 classifier and two learned x2 upsamplings
give full-resolution logits. In training each decoder module also emits a 1x1 side output
(at 1/32, 1/16, 1/8) for multi-scale supervision (``forward(..., return_sides=True)``).

Learned upsampling = nearest x2 then a depthwise 3x3 convolution initialised to the bilinear
kernel ``[1,2,1]^T [1,2,1] / 16``. Any input size works: when a side is not a multiple of 32,
upsampled maps are cropped to the skip (or input) size.

Inputs (the project's one convention, ``scmis_core.data.transforms.TorchDataset``):
RGB (B,3,H,W) in [-1,1], converted here to ImageNet mean/std normalisation (what ImageNet
backbone weights expect); depth (B,1,H,W) = ``depth_range.metres_to_unit(depth_m,
max_depth_m)`` in [-1,1], invalid depth (0 m) = -1. That function is the only place where
depth is normalised from metres. Output: logits (B,N,H,W) over class ids 1..N.

Backbone weights: :func:`load_backbone_weights` reads a local state_dict with torchvision's
ResNet keys (``conv1.weight``, ``layer1.0.conv1.weight``, ...; ``fc.*`` ignored) into both
encoders; the depth encoder's first convolution gets the RGB kernel summed over its input
channels. NBt1D encoders take the same key layout with the NBt1D block names of
:class:`NonBottleneck1D`. Nothing is downloaded; without weights the init is random (He).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..cli import entry_point

#: Blocks per stage of the two supported ResNet depths.
RESNET_LAYERS = {"resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3)}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class BasicBlock(nn.Module):
    """ResNet basic block with torchvision's parameter names (conv1/bn1/conv2/bn2/downsample)."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B,cin,H,W) -> (B,cout,H/stride,W/stride)."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class NonBottleneck1D(nn.Module):
    """ERFNet's Non-Bottleneck-1D block: (3x1, ReLU, 1x3, BN, ReLU) twice, plus the residual.

    A stride > 1 is split over the first 3x1 (rows) and 1x3 (columns) convolutions.
    """

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv3x1_1 = nn.Conv2d(cin, cout, (3, 1), (stride, 1), (1, 0), bias=True)
        self.conv1x3_1 = nn.Conv2d(cout, cout, (1, 3), (1, stride), (0, 1), bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv3x1_2 = nn.Conv2d(cout, cout, (3, 1), 1, (1, 0), bias=True)
        self.conv1x3_2 = nn.Conv2d(cout, cout, (1, 3), 1, (0, 1), bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B,cin,H,W) -> (B,cout,H/stride,W/stride)."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.conv3x1_1(x))
        out = self.relu(self.bn1(self.conv1x3_1(out)))
        out = self.relu(self.conv3x1_2(out))
        out = self.bn2(self.conv1x3_2(out))
        return self.relu(out + identity)


BLOCKS = {"basic": BasicBlock, "nbt1d": NonBottleneck1D}


def _downsample(cin: int, cout: int, stride: int) -> nn.Sequential | None:
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


class ResNetEncoder(nn.Module):
    """ResNet-18/34 layout (stem conv 7x7/2 + max-pool, four stages) without the classifier.

    Parameter names follow torchvision (``conv1``, ``bn1``, ``layer1`` .. ``layer4``).
    ``widths`` are the four stage widths (ResNet: 64, 128, 256, 512).
    """

    def __init__(self, layers: Sequence[int], block: str, in_channels: int,
                 widths: Sequence[int]):
        super().__init__()
        if block not in BLOCKS:
            raise ValueError(f"ESANet encoder block: expected one of {', '.join(BLOCKS)}, "
                             f"found {block!r}")
        make = BLOCKS[block]
        self.conv1 = nn.Conv2d(in_channels, widths[0], 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = widths[0]
        for i, (count, width) in enumerate(zip(layers, widths)):
            stride = 1 if i == 0 else 2
            blocks = [make(cin, width, stride)] + [make(width, width) for _ in range(count - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            cin = width
        self.widths = tuple(widths)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """(B,C,H,W) -> (B,w0,H/2,W/2), before the max-pool."""
        return self.relu(self.bn1(self.conv1(x)))

    def stage(self, index: int, x: torch.Tensor) -> torch.Tensor:
        """Run stage ``index`` (1..4)."""
        return getattr(self, f"layer{index}")(x)


class SqueezeExcitation(nn.Module):
    """Channel re-weighting: global average -> FC (C/r) -> ReLU -> FC (C) -> sigmoid.

    The hidden width is at least 4 (as at ResNet's 64 channels with r = 16). The input is
    non-negative (post-ReLU features), so :meth:`reset_parameters` starts ``fc1`` with
    non-negative weights: no hidden unit starts dead (with random signs, all 4 units of a
    narrow SE block are dead at init with probability 1/16, and then stay dead).
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = min(channels, max(4, channels // reduction))
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """He init of both layers, ``fc1`` weights made non-negative, zero biases."""
        for fc in (self.fc1, self.fc2):
            nn.init.kaiming_normal_(fc.weight, nonlinearity="relu")
            nn.init.zeros_(fc.bias)
        self.fc1.weight.abs_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B,C,H,W) -> (B,C,H,W) scaled per channel."""
        w = F.adaptive_avg_pool2d(x, 1)  # (B, C, 1, 1)
        w = torch.sigmoid(self.fc2(F.relu(self.fc1(w), inplace=True)))
        return x * w


class SEFusion(nn.Module):
    """ESANet's RGB-D fusion (SE-add): ``SE_rgb(rgb) + SE_depth(depth)``."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.se_rgb = SqueezeExcitation(channels, reduction)
        self.se_depth = SqueezeExcitation(channels, reduction)

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        """Two (B,C,H,W) -> fused (B,C,H,W)."""
        return self.se_rgb(rgb) + self.se_depth(depth)


def conv_bn_relu(cin: int, cout: int, kernel: int = 1) -> nn.Sequential:
    """Conv (same padding, no bias) + BN + ReLU."""
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, 1, kernel // 2, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class PyramidPoolingContext(nn.Module):
    """PSPNet-style context module: pooled branches (one per bin size) + the input, fused.

    Each branch: adaptive average pool to ``b x b``, 1x1 conv-BN-ReLU to ``channels //
    len(bins)``, bilinear upsampling back; the concatenation with the input goes through a
    1x1 conv-BN-ReLU to ``out_channels``.
    """

    def __init__(self, channels: int, out_channels: int, bins: Sequence[int] = (1, 5)):
        super().__init__()
        branch = max(1, channels // len(bins))
        self.bins = tuple(int(b) for b in bins)
        self.branches = nn.ModuleList(conv_bn_relu(channels, branch) for _ in self.bins)
        self.fuse = conv_bn_relu(channels + branch * len(self.bins), out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B,C,h,w) -> (B,out,h,w)."""
        size = x.shape[-2:]
        pooled = [F.interpolate(conv(F.adaptive_avg_pool2d(x, b)), size=size,
                                mode="bilinear", align_corners=False)
                  for b, conv in zip(self.bins, self.branches)]
        return self.fuse(torch.cat([x] + pooled, dim=1))


class LearnedUpsample(nn.Module):
    """x2 nearest upsampling followed by a depthwise 3x3 conv initialised to bilinear."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1, groups=channels, bias=True)
        self.reset_to_bilinear()

    @torch.no_grad()
    def reset_to_bilinear(self) -> None:
        """Set the kernel to ``[1,2,1]^T [1,2,1] / 16`` and the bias to 0."""
        k = torch.tensor([1.0, 2.0, 1.0])
        kernel = torch.outer(k, k) / 16.0  # (3, 3)
        self.conv.weight.copy_(kernel.expand_as(self.conv.weight))
        self.conv.bias.zero_()

    def forward(self, x: torch.Tensor, size: Sequence[int] | None = None) -> torch.Tensor:
        """(B,C,h,w) -> (B,C,2h,2w), cropped to ``size`` when given."""
        x = self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        if size is not None:
            x = x[..., : size[0], : size[1]]
        return x


class DecoderModule(nn.Module):
    """3x3 conv-BN-ReLU, ``blocks`` NBt1D blocks, learned x2 upsampling, + encoder skip."""

    def __init__(self, cin: int, channels: int, blocks: int, num_classes: int):
        super().__init__()
        self.conv = conv_bn_relu(cin, channels, 3)
        self.blocks = nn.Sequential(*[NonBottleneck1D(channels, channels)
                                      for _ in range(blocks)])
        self.side = nn.Conv2d(channels, num_classes, 1)
        self.up = LearnedUpsample(channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B,cin,h,w), skip (B,C,~2h,~2w) -> (out (B,C,skip size), side logits (B,N,h,w))."""
        x = self.blocks(self.conv(x))
        side = self.side(x)
        x = self.up(x, skip.shape[-2:])
        return x + skip, side


class ESANet(nn.Module):
    """ESANet for RGB-D segmentation; see the module docstring for layout and conventions.

    ``encoder``: resnet18 | resnet34; ``block``: nbt1d (ESANet's choice) | basic;
    ``base_width``: channels of the first stage (64 = ResNet, smaller for CPU experiments;
    every width of the network scales with it); ``decoder_blocks``: NBt1D blocks per decoder
    module (ESANet: 3); ``context_bins``: pooling bins of the context module.
    """

    def __init__(self, num_classes: int, encoder: str = "resnet34", block: str = "nbt1d",
                 base_width: int = 64, decoder_blocks: int = 3,
                 context_bins: Sequence[int] = (1, 5), se_reduction: int = 16):
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"ESANet: expected num_classes >= 1, found {num_classes}")
        if encoder not in RESNET_LAYERS:
            raise ValueError(f"ESANet encoder: expected one of {', '.join(RESNET_LAYERS)}, "
                             f"found {encoder!r}")
        if base_width < 1 or decoder_blocks < 0:
            raise ValueError(f"ESANet: expected base_width >= 1 and decoder_blocks >= 0, "
                             f"found {base_width} and {decoder_blocks}")
        self.num_classes = num_classes
        self.multiple = 1  # any size works (maps are cropped after upsampling)
        widths = [base_width * m for m in (1, 2, 4, 8)]  # ResNet: 64, 128, 256, 512
        layers = RESNET_LAYERS[encoder]
        self.encoder_rgb = ResNetEncoder(layers, block, 3, widths)
        self.encoder_depth = ResNetEncoder(layers, block, 1, widths)
        self.fusion = nn.ModuleList(SEFusion(c, se_reduction) for c in [widths[0]] + widths)
        dec = [widths[3], widths[2], widths[1]]  # "decreasing": 512, 256, 128 at width 64
        self.context = PyramidPoolingContext(widths[3], dec[0], context_bins)
        self.skips = nn.ModuleList(conv_bn_relu(cin, cout)  # 1/16, 1/8, 1/4 skips
                                   for cin, cout in zip((widths[2], widths[1], widths[0]),
                                                        dec))
        self.decoder = nn.ModuleList(
            DecoderModule(cin, cout, decoder_blocks, num_classes)
            for cin, cout in zip([dec[0]] + dec[:2], dec))
        self.classifier = nn.Conv2d(dec[2], num_classes, 3, 1, 1)
        self.up1 = LearnedUpsample(num_classes)
        self.up2 = LearnedUpsample(num_classes)
        self.register_buffer("rgb_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("rgb_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1),
                             persistent=False)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for m in self.modules():
            if isinstance(m, LearnedUpsample):
                m.reset_to_bilinear()
            elif isinstance(m, SqueezeExcitation):
                m.reset_parameters()

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor | None,
                return_sides: bool = False):
        """rgb (B,3,H,W) and depth (B,1,H,W) in [-1,1] -> logits (B,N,H,W).

        With ``return_sides`` returns ``(logits, [side (B,N,H/32,W/32), (B,N,H/16,W/16),
        (B,N,H/8,W/8)])`` (sizes rounded up) for multi-scale supervision.
        """
        if depth is None:
            raise ValueError("ESANet: expected a depth input (B, 1, H, W), found None")
        if rgb.ndim != 4 or rgb.shape[1] != 3 or depth.ndim != 4 or depth.shape[1] != 1 \
                or rgb.shape[-2:] != depth.shape[-2:] or rgb.shape[0] != depth.shape[0]:
            raise ValueError(f"ESANet: expected rgb (B,3,H,W) and depth (B,1,H,W) of one size, "
                             f"found {tuple(rgb.shape)} and {tuple(depth.shape)}")
        size = rgb.shape[-2:]
        x = ((rgb + 1.0) * 0.5 - self.rgb_mean) / self.rgb_std  # [-1,1] -> ImageNet norm
        r = self.encoder_rgb.stem(x)  # (B, w0, H/2, W/2)
        d = self.encoder_depth.stem(depth)
        r = self.fusion[0](r, d)
        r, d = self.encoder_rgb.maxpool(r), self.encoder_depth.maxpool(d)  # 1/4
        feats = []
        for i in range(1, 5):  # stages at 1/4, 1/8, 1/16, 1/32
            r = self.encoder_rgb.stage(i, r)
            d = self.encoder_depth.stage(i, d)
            r = self.fusion[i](r, d)
            feats.append(r)
        x = self.context(feats[3])  # (B, 8w, H/32, W/32)
        sides = []
        for module, proj, feat in zip(self.decoder, self.skips, (feats[2], feats[1], feats[0])):
            x, side = module(x, proj(feat))
            sides.append(side)
        x = self.classifier(x)  # (B, N, H/4, W/4)
        quarter = (-(-size[0] // 2), -(-size[1] // 2))
        x = self.up2(self.up1(x, quarter), size)  # (B, N, H, W)
        return (x, sides) if return_sides else x


def build_esanet(num_classes: int, **kwargs) -> ESANet:
    """ESANet from keyword arguments (the ``arch_kwargs`` of a segmenter checkpoint)."""
    if "context_bins" in kwargs:
        kwargs["context_bins"] = tuple(kwargs["context_bins"])
    return ESANet(num_classes, **kwargs)


def load_backbone_weights(model: ESANet, path: str | Path) -> dict[str, int]:
    """Load ImageNet weights (torchvision ResNet keys) into both encoders of ``model``.

    The file is a state_dict (or a dict holding one under ``state_dict``/``model``) read with
    ``weights_only=True``. ``fc.*`` and ``num_batches_tracked`` entries are ignored. The depth
    encoder's ``conv1`` gets the RGB kernel summed over the 3 input channels (same response
    to a grey image). Raises ValueError naming the file and the keys when the weights do not
    fit (wrong depth, block type or width). Returns counts of loaded tensors per encoder.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"backbone weights {path}: file not found")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict):
        for key in ("state_dict", "model"):
            if isinstance(state.get(key), dict):
                state = state[key]
    if not isinstance(state, dict):
        raise ValueError(f"backbone weights {path}: expected a state_dict, found "
                         f"{type(state).__name__}")
    state = {k.removeprefix("module."): v for k, v in state.items()
             if not k.startswith("fc.") and not k.endswith("num_batches_tracked")}
    counts = {}
    for name, encoder in (("rgb", model.encoder_rgb), ("depth", model.encoder_depth)):
        target = {k: v for k, v in encoder.state_dict().items()
                  if not k.endswith("num_batches_tracked")}
        missing = sorted(set(target) - set(state))
        unexpected = sorted(set(state) - set(target))
        if missing or unexpected:
            raise ValueError(f"backbone weights {path}: keys do not fit the {name} encoder "
                             f"(missing {missing[:3]}{'...' if len(missing) > 3 else ''}, "
                             f"unexpected {unexpected[:3]}"
                             f"{'...' if len(unexpected) > 3 else ''}); expected torchvision "
                             "ResNet keys of the same depth and block type")
        loaded = {}
        for key, value in state.items():
            if key == "conv1.weight" and name == "depth" and value.shape[1] == 3:
                value = value.sum(dim=1, keepdim=True)  # (C, 1, 7, 7)
            if value.shape != target[key].shape:
                raise ValueError(f"backbone weights {path}: {key} has shape "
                                 f"{tuple(value.shape)}, the {name} encoder expects "
                                 f"{tuple(target[key].shape)}")
            loaded[key] = value
        encoder.load_state_dict(loaded, strict=False)
        counts[name] = len(loaded)
    return counts


def benchmark(num_classes: int = 40, encoder: str = "resnet34", block: str = "nbt1d",
              height: int = 480, width: int = 640, batch: int = 1, repeats: int = 5,
              device: str = "cpu") -> dict[str, float]:
    """Parameters, GMACs per image and inference images/s (eval mode, no grad)."""
    import time

    from torch.utils.flop_counter import FlopCounterMode

    dev = torch.device(device)
    model = ESANet(num_classes, encoder, block).to(dev).eval()
    rgb = torch.rand(batch, 3, height, width, device=dev) * 2 - 1
    depth = torch.rand(batch, 1, height, width, device=dev) * 2 - 1
    with torch.no_grad():
        with FlopCounterMode(display=False) as counter:
            model(rgb[:1], depth[:1])
        for _ in range(2):  # warm-up
            model(rgb, depth)
        times = []
        for _ in range(repeats):
            if dev.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            model(rgb, depth)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    times.sort()
    return {"params_m": sum(p.numel() for p in model.parameters()) / 1e6,
            "gmacs_per_image": counter.get_total_flops() / 2e9,
            "images_per_s_median": batch / times[len(times) // 2],
            "images_per_s_best": batch / times[0], "threads": torch.get_num_threads()}


@entry_point
def main(argv: list[str] | None = None) -> int:
    """``python -m scmis_core.models.esanet``: size and speed of an ESANet."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m scmis_core.models.esanet",
                                     description="Parameters, GMACs and images/s of ESANet "
                                     "(inference, random weights).")
    parser.add_argument("--classes", type=int, default=40)
    parser.add_argument("--encoder", default="resnet34", choices=sorted(RESNET_LAYERS))
    parser.add_argument("--block", default="nbt1d", choices=sorted(BLOCKS))
    parser.add_argument("--size", default="480x640", help="HxW")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    height, width = (int(v) for v in args.size.lower().split("x"))
    print(json.dumps(benchmark(args.classes, args.encoder, args.block, height, width,
                               args.batch, args.repeats, args.device), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
