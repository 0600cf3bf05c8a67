"""Discriminators: output shapes, features, parameter counts, VGG-19 weight loading."""

from __future__ import annotations

import pytest
import torch

from scmis_core.config import ModelConfig
from scmis_core.models.discriminator import (
    DISCRIMINATORS, AdaptiveAlignmentDiscriminator, build_discriminator)
from scmis_core.models.oasis_discriminator import OASISDiscriminator
from scmis_core.models.vgg import (
    RELU_FIRST, VGG19Backbone, VGGFeatures, build_vgg19_features, load_vgg_weights)

NUM_CLASSES = 4
TINY = dict(disc_width=8, disc_head_width=16)

# torchvision vgg19().features: conv / pool positions and (out, in) channels of each conv.
TV_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)
TV_POOL_INDICES = (4, 9, 18, 27, 36)
TV_CONV_CHANNELS = ((64, 3), (64, 64), (128, 64), (128, 128), (256, 128), (256, 256),
                    (256, 256), (256, 256), (512, 256), (512, 512), (512, 512), (512, 512),
                    (512, 512), (512, 512), (512, 512), (512, 512))

# Table 4 of the paper ("MB" read as millions of parameters) and the range each of our heads
# must stay in at paper size (disc_width 64, disc_head_width 128, disc_depth 4, 40 classes).
PAPER_M = {"upsample": 4.1, "unet": 5.1, "pp": 6.5, "rgbd-pp": 6.5, "oasis": 22.2}
RANGE_M = {"upsample": (3.3, 4.5), "unet": (4.5, 6.0), "pp": (5.0, 7.0),
           "rgbd-pp": (5.0, 7.0), "oasis": (21.0, 23.5)}


def _cfg(disc: str, **kw) -> ModelConfig:
    return ModelConfig(disc=disc, **{**TINY, **kw})


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def torchvision_vgg19_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A state_dict with torchvision's exact VGG-19 keys and feature shapes (random values).

    The classifier keys are present (and ignored by the loader) but kept small: their shapes
    do not matter to ``features``.
    """
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for index, (c_out, c_in) in zip(TV_CONV_INDICES, TV_CONV_CHANNELS):
        state[f"features.{index}.weight"] = torch.randn(c_out, c_in, 3, 3, generator=gen)
        state[f"features.{index}.bias"] = torch.randn(c_out, generator=gen)
    state["classifier.0.weight"] = torch.randn(16, 32, generator=gen)
    state["classifier.0.bias"] = torch.randn(16, generator=gen)
    state["classifier.6.weight"] = torch.randn(10, 16, generator=gen)
    return state


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    """A torchvision-format VGG-19 .pth in a temporary folder, and its state_dict."""
    state = torchvision_vgg19_state()
    path = tmp_path_factory.mktemp("vgg") / "vgg19_tv.pth"
    torch.save(state, path)
    return path, state


def test_layout_matches_torchvision_indices():
    features = build_vgg19_features(3, 64, 5)
    convs = tuple(i for i, m in enumerate(features) if isinstance(m, torch.nn.Conv2d))
    pools = tuple(i for i, m in enumerate(features) if isinstance(m, torch.nn.MaxPool2d))
    relus = tuple(i for i, m in enumerate(features) if isinstance(m, torch.nn.ReLU))
    assert convs == TV_CONV_INDICES[:13]  # up to conv5_1 (index 28)
    assert pools == TV_POOL_INDICES[:4]
    assert relus == tuple(i + 1 for i in convs)
    assert len(features) == 30 and RELU_FIRST == [1, 6, 11, 20, 29]
    for index, (c_out, c_in) in zip(convs, TV_CONV_CHANNELS):
        assert tuple(features[index].weight.shape) == (c_out, c_in, 3, 3)


@pytest.mark.parametrize("disc", ["upsample", "unet", "pp", "rgbd-pp"])
@pytest.mark.parametrize("batch", [1, 3])
def test_avgg_output_shapes(disc, batch):
    torch.manual_seed(0)
    model = build_discriminator(_cfg(disc), NUM_CLASSES)
    assert isinstance(model, AdaptiveAlignmentDiscriminator)
    in_ch = 4 if disc == "rgbd-pp" else 3
    assert model.in_channels == in_ch
    for h, w in ((32, 32), (48, 40)):
        x = torch.randn(batch, in_ch, h, w)
        logits, feats = model(x, return_features=True)
        assert logits.shape == (batch, NUM_CLASSES + 1, h, w)
        assert torch.isfinite(logits).all()
        assert torch.equal(model(x), logits)
        # relu1_1 .. relu4_1: width 8 * (1, 2, 4, 8) channels at 1, 1/2, 1/4, 1/8 resolution.
        assert [f.shape[1] for f in feats] == [8, 16, 32, 64]
        assert [tuple(f.shape[-2:]) for f in feats] == [
            (h, w), (h // 2, w // 2), (h // 4, w // 4), (h // 8, w // 8)]


@pytest.mark.parametrize("batch", [1, 3])
def test_oasis_output_shapes(batch):
    torch.manual_seed(0)
    model = build_discriminator(_cfg("oasis"), NUM_CLASSES)
    assert isinstance(model, OASISDiscriminator)
    for h, w in ((64, 64), (64, 128)):
        logits, feats = model(torch.randn(batch, 3, h, w), return_features=True)
        assert logits.shape == (batch, NUM_CLASSES + 1, h, w)
        assert len(feats) == 6 and feats[-1].shape[-2:] == (h // 64, w // 64)
    with pytest.raises(ValueError, match="divisible by 64"):
        model(torch.randn(1, 3, 32, 32))


@pytest.mark.parametrize("disc", ["unet", "pp"])
def test_logit_stride_drops_the_finest_fusion(disc):
    torch.manual_seed(0)
    full = build_discriminator(_cfg(disc), NUM_CLASSES)
    half = build_discriminator(_cfg(disc, disc_logit_stride=2), NUM_CLASSES)
    x = torch.randn(2, 3, 32, 40)
    logits = half(x)
    assert logits.shape == (2, NUM_CLASSES + 1, 32, 40)  # upsampled back to the input size
    # The head works at half resolution: one fusion stage (the full-resolution one) fewer,
    # and the logits are bilinear 2x upsamples of a 16x20 map.
    stages = half.head.fuse if disc == "pp" else half.head.blocks
    assert len(stages) == len(full.head.fuse if disc == "pp" else full.head.blocks) - 1 == 2
    assert _count(half.head) < _count(full.head)
    coarse = half.head(half.backbone(x)[1][1:], (16, 20))  # the stages from 1/2 down
    assert torch.allclose(torch.nn.functional.interpolate(
        coarse, size=(32, 40), mode="bilinear", align_corners=False), logits, atol=1e-6)
    deepest = build_discriminator(_cfg(disc, disc_logit_stride=8), NUM_CLASSES)
    assert deepest(x).shape == (2, NUM_CLASSES + 1, 32, 40)
    for bad in (3, 16):
        with pytest.raises(ValueError, match=rf"disc_logit_stride: expected a power of two "
                                             rf"from 1 to 8 .*found {bad}"):
            build_discriminator(_cfg(disc, disc_logit_stride=bad), NUM_CLASSES)


@pytest.mark.parametrize("disc", ["pp", "oasis"])
def test_features_are_the_forward_features_without_the_head(disc):
    torch.manual_seed(0)
    model = build_discriminator(_cfg(disc), NUM_CLASSES).eval()  # no power iteration (oasis)
    x = torch.randn(2, 3, 64, 64)
    _, feats = model(x, return_features=True)
    alone = model.features(x)
    assert len(alone) == len(feats)
    assert all(torch.equal(a, f) for a, f in zip(alone, feats))


def test_disc_depth_five_returns_five_features():
    model = build_discriminator(_cfg("pp", disc_depth=5), NUM_CLASSES)
    logits, feats = model(torch.randn(2, 3, 32, 32), return_features=True)
    assert logits.shape == (2, NUM_CLASSES + 1, 32, 32)
    assert [f.shape[1] for f in feats] == [8, 16, 32, 64, 64]
    assert feats[-1].shape[-2:] == (2, 2)


def test_wrong_channel_count_is_a_clear_error():
    rgb = build_discriminator(_cfg("pp"), NUM_CLASSES)
    rgbd = build_discriminator(_cfg("rgbd-pp"), NUM_CLASSES)
    assert rgbd(torch.randn(1, 4, 32, 32)).shape == (1, NUM_CLASSES + 1, 32, 32)
    with pytest.raises(ValueError, match=r"expected an image \(B, 3, H, W\).*\(1, 4, 32, 32\)"):
        rgb(torch.randn(1, 4, 32, 32))
    with pytest.raises(ValueError, match=r"expected an image \(B, 4, H, W\).*\(1, 3, 32, 32\)"):
        rgbd(torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match="model.disc: expected one of"):
        build_discriminator(ModelConfig(disc="nope"), NUM_CLASSES)


def test_registry_covers_config_choices():
    choices = set(ModelConfig.__dataclass_fields__["disc"].metadata["choices"])
    assert set(DISCRIMINATORS) == choices - {""}  # "" = the variant's default head
    override = build_discriminator(_cfg("pp"), NUM_CLASSES, in_channels=1)
    assert override.in_channels == 1


def test_parameter_counts_compare_with_table_4(capsys):
    """Paper-size counts (meta device: no memory, no init cost) in documented ranges."""
    rows = []
    counts = {}
    for disc in PAPER_M:
        for width, head, depth in ((64, 128, 4), (64, 128, 5), (16, 32, 4)):
            cfg = ModelConfig(disc=disc, disc_width=width, disc_head_width=head,
                              disc_depth=depth)
            with torch.device("meta"):
                model = build_discriminator(cfg, 40)
            counts[disc, width, depth] = n = _count(model)
            rows.append(f"{disc:9s} width {width:2d} head {head:3d} depth {depth}: "
                        f"{n / 1e6:7.3f} M (paper {PAPER_M[disc]} M)")
    with capsys.disabled():
        print("\n" + "\n".join(rows))
    for disc, (lo, hi) in RANGE_M.items():
        assert lo <= counts[disc, 64, 4] / 1e6 <= hi, disc
    # Up to relu5_1, the VGG-19 backbone alone has 12.94 M parameters.
    assert counts["upsample", 64, 5] > 12.9e6
    # The RGB-D first conv has one more input channel: 64 * 9 more weights.
    assert counts["rgbd-pp", 64, 4] - counts["pp", 64, 4] == 64 * 9
    assert counts["pp", 16, 4] < 0.1 * counts["pp", 64, 4]


def test_vgg_state_dict_round_trip(vgg_file):
    path, state = vgg_file
    backbone = VGG19Backbone(3, 64, depth=5)
    backbone.load_weights(path)
    for index in TV_CONV_INDICES[:13]:
        assert torch.equal(backbone.features[index].weight, state[f"features.{index}.weight"])
        assert torch.equal(backbone.features[index].bias, state[f"features.{index}.bias"])
    # Keys without the "features." prefix load the same way.
    bare = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    other = VGG19Backbone(3, 64, depth=5)
    other.load_weights(bare)
    assert torch.equal(other.features[28].weight, state["features.28.weight"])


def test_discriminator_starts_from_vgg_file(vgg_file):
    path, state = vgg_file
    cfg = ModelConfig(disc="pp", disc_width=64, disc_head_width=8, vgg_weights=str(path))
    model = build_discriminator(cfg, NUM_CLASSES)
    assert torch.equal(model.backbone.features[19].weight, state["features.19.weight"])
    rgbd = build_discriminator(ModelConfig(disc="rgbd-pp", disc_width=64, disc_head_width=8,
                                           vgg_weights=str(path)), NUM_CLASSES)
    first = rgbd.backbone.features[0].weight
    assert torch.equal(first[:, :3], state["features.0.weight"])
    assert torch.allclose(first[:, 3], state["features.0.weight"].mean(dim=1))


def test_vgg_wrong_shape_and_width_errors(vgg_file, tmp_path):
    _, state = vgg_file
    bad = dict(state)
    bad["features.10.weight"] = torch.zeros(256, 64, 3, 3)
    path = tmp_path / "bad.pth"
    torch.save(bad, path)
    with pytest.raises(ValueError, match=r"features\.10\.weight: expected shape "
                                         r"\(256, 128, 3, 3\), found \(256, 64, 3, 3\)"):
        VGG19Backbone(3, 64, depth=4).load_weights(path)
    with pytest.raises(ValueError, match="only a backbone of width 64"):
        load_vgg_weights(build_vgg19_features(3, 8, 4), state)
    with pytest.raises(ValueError, match="only the AVGG discriminators"):
        build_discriminator(_cfg("oasis", vgg_weights=str(path)), NUM_CLASSES)
    shallow = {k: v for k, v in state.items() if k in ("features.0.weight", "features.0.bias")}
    with pytest.raises(ValueError, match=r"missing .*features\.2\.weight"):
        VGG19Backbone(3, 64, depth=2).load_weights(shallow)
    with pytest.raises(FileNotFoundError, match="never"):
        VGG19Backbone(3, 64, depth=2).load_weights(tmp_path / "absent.pth")


def test_vgg_features_frozen(vgg_file):
    path, state = vgg_file
    vgg = VGGFeatures.from_file(path)
    assert vgg.backbone.depth == 5
    assert all(not p.requires_grad for p in vgg.parameters())
    vgg.train()
    assert not vgg.training
    feats = vgg(torch.rand(1, 3, 32, 32) * 2 - 1)
    assert [f.shape[1] for f in feats] == [64, 128, 256, 512, 512]
    assert torch.equal(vgg.backbone.features[28].weight, state["features.28.weight"])
