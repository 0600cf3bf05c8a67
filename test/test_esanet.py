"""ESANet: output shapes at paper sizes, gradient flow, fusion, upsampling, backbone loading."""

from __future__ import annotations

import pytest
import torch

from scmis_core.models.esanet import (ESANet, LearnedUpsample, ResNetEncoder,
                                      load_backbone_weights)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("num_classes", [40, 37])
@pytest.mark.parametrize("height,width", [(480, 640), (240, 320)])
def test_shapes_paper_sizes_meta(num_classes, height, width):
    """ESANet-R34-NBt1D at full width; the meta device propagates shapes without compute."""
    with torch.device("meta"):
        model = ESANet(num_classes, "resnet34", "nbt1d")
        rgb = torch.zeros(2, 3, height, width)
        depth = torch.zeros(2, 1, height, width)
        logits, sides = model(rgb, depth, return_sides=True)
        model.eval()
        eval_logits = model(rgb, depth)
    assert logits.shape == eval_logits.shape == (2, num_classes, height, width)
    up = lambda n, s: -(-n // s)  # noqa: E731 - sizes round up at odd sides
    assert [tuple(s.shape) for s in sides] == [(2, num_classes, up(height, s), up(width, s))
                                               for s in (32, 16, 8)]


def test_real_forward_batch1_320x240():
    torch.manual_seed(0)
    model = ESANet(37, "resnet18", "nbt1d", base_width=8, decoder_blocks=1).eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 240, 320) * 2 - 1, torch.rand(1, 1, 240, 320) * 2 - 1)
    assert out.shape == (1, 37, 240, 320) and torch.isfinite(out).all()
    odd = model(torch.zeros(1, 3, 33, 45), torch.zeros(1, 1, 33, 45))
    assert odd.shape == (1, 37, 33, 45)


def test_resnet34_encoder_matches_torchvision_size():
    """torchvision's resnet34 has 21,797,672 parameters, 513,000 of them in ``fc``."""
    enc = ResNetEncoder((3, 4, 6, 3), "basic", 3, (64, 128, 256, 512))
    assert sum(p.numel() for p in enc.parameters()) == 21_797_672 - 513_000
    keys = set(enc.state_dict())
    assert {"conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight",
            "layer2.0.downsample.0.weight", "layer4.2.bn2.weight"} <= keys


@pytest.mark.parametrize("block", ["nbt1d", "basic"])
def test_gradient_flow_both_branches_and_fusion(block):
    torch.manual_seed(0)
    model = ESANet(5, "resnet18", block, base_width=8, decoder_blocks=1)
    rgb = torch.rand(2, 3, 32, 32) * 2 - 1
    depth = torch.rand(2, 1, 32, 32) * 2 - 1
    logits, sides = model(rgb, depth, return_sides=True)
    loss = logits.square().mean() + sum(s.square().mean() for s in sides)
    loss.backward()
    checked = {
        "rgb stem": model.encoder_rgb.conv1.weight,
        "depth stem": model.encoder_depth.conv1.weight,
        "depth last stage": next(model.encoder_depth.layer4.parameters()),
        "context": model.context.fuse[0].weight,
        "side output": model.decoder[0].side.weight,
        "learned upsampling": model.up2.conv.weight,
    }
    for i, fusion in enumerate(model.fusion):
        checked[f"fusion {i} rgb SE"] = fusion.se_rgb.fc2.weight
        checked[f"fusion {i} depth SE"] = fusion.se_depth.fc2.weight
    for name, param in checked.items():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_depth_changes_the_prediction_and_missing_depth_errors():
    torch.manual_seed(0)
    model = ESANet(4, "resnet18", "nbt1d", base_width=8, decoder_blocks=1).eval()
    rgb = torch.rand(1, 3, 32, 32) * 2 - 1
    a = model(rgb, torch.full((1, 1, 32, 32), -0.5))
    b = model(rgb, torch.linspace(-1, 1, 32).view(1, 1, 1, 32).expand(1, 1, 32, 32))
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError, match="depth"):
        model(rgb, None)
    with pytest.raises(ValueError, match=r"rgb \(B,3,H,W\)"):
        model(rgb, torch.zeros(1, 1, 16, 16))


def test_learned_upsampling_starts_bilinear():
    up = LearnedUpsample(2)
    x = torch.full((1, 2, 4, 4), 3.0)
    y = up(x)
    assert y.shape == (1, 2, 8, 8)
    assert torch.allclose(y[..., 1:-1, 1:-1], torch.full_like(y[..., 1:-1, 1:-1], 3.0))
    assert up(x, (7, 5)).shape == (1, 2, 7, 5)


def test_load_backbone_weights_torchvision_keys(tmp_path):
    torch.manual_seed(0)
    source = ResNetEncoder((2, 2, 2, 2), "basic", 3, (8, 16, 32, 64))
    state = dict(source.state_dict())
    state["fc.weight"] = torch.zeros(10, 64)  # classifier keys are ignored
    state["fc.bias"] = torch.zeros(10)
    path = tmp_path / "resnet18.pth"
    torch.save(state, path)
    model = ESANet(3, "resnet18", "basic", base_width=8, decoder_blocks=0)
    counts = load_backbone_weights(model, path)
    assert counts["rgb"] == counts["depth"] > 0
    assert torch.equal(model.encoder_rgb.layer3[1].conv2.weight, source.layer3[1].conv2.weight)
    assert torch.equal(model.encoder_depth.layer3[1].conv2.weight,
                       source.layer3[1].conv2.weight)
    assert torch.allclose(model.encoder_depth.conv1.weight,
                          source.conv1.weight.sum(1, keepdim=True))
    nbt = ESANet(3, "resnet18", "nbt1d", base_width=8, decoder_blocks=0)
    with pytest.raises(ValueError, match="resnet18.pth.*keys do not fit"):
        load_backbone_weights(nbt, path)
    wide = ESANet(3, "resnet18", "basic", base_width=16, decoder_blocks=0)
    with pytest.raises(ValueError, match="expects"):
        load_backbone_weights(wide, path)


def test_benchmark_reports_size_and_speed():
    from scmis_core.models.esanet import benchmark

    report = benchmark(5, "resnet18", "basic", 32, 32, batch=1, repeats=1)
    params = sum(p.numel() for p in ESANet(5, "resnet18", "basic").parameters())
    assert report["params_m"] == pytest.approx(params / 1e6)
    # more than twice the RGB stem (7*7*3 MACs per output, 64 channels at 16x16)
    assert report["gmacs_per_image"] > 2 * 7 * 7 * 3 * 64 * 16 * 16 / 1e9
    assert report["images_per_s_best"] >= report["images_per_s_median"] > 0
