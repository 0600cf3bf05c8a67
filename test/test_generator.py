"""Generators (SCMIS and variants, OASIS): shapes, noise, determinism, encoder sharing, options.

Comparisons of two forward passes run in train mode (batch statistics: with the 0.02 Xavier
init, eval-mode BatchNorm with fresh running statistics shrinks the outputs to ~1e-5) and
either without spectral norm or on deep copies, because spectral norm's power iteration
updates its vectors on every training forward.
"""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.utils.flop_counter import FlopCounterMode

from scmis_core.config import Config, ModelConfig
from scmis_core.models import VARIANTS, build_generator, variant_spec
from scmis_core.models.spade import SPADE, channel_schedule

NUM_CLASSES = 4
Z_DIM = 8


@pytest.fixture(autouse=True)
def _no_grad():
    """Forward passes only: no autograd graph (faster on the shared CPU)."""
    with torch.no_grad():
        yield


def tiny_cfg(variant: str = "scmis", **overrides) -> ModelConfig:
    """Width 4 (decoder widths 64..4), 3 scales: 32x32 inputs run the coarsest block at 4x4."""
    base = dict(variant=variant, width=4, spade_hidden=8, num_scales=3, z_dim=Z_DIM)
    base.update(overrides)
    return ModelConfig(**base)


def make_onehot(batch: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    """Random label map with void (0) -> (B, N, H, W) one-hot, void pixels all zero."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, NUM_CLASSES + 1, (batch, height, width), generator=gen)
    onehot = nn.functional.one_hot(ids, NUM_CLASSES + 1)[..., 1:]  # drop void
    return onehot.permute(0, 3, 1, 2).float()


def build(variant: str = "scmis", seed: int = 0, **overrides) -> nn.Module:
    torch.manual_seed(seed)
    return build_generator(tiny_cfg(variant, **overrides), NUM_CLASSES)


def max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("size", [(32, 32), (64, 64)])
@pytest.mark.parametrize("batch", [1, 3])
def test_outputs_keys_shapes_ranges(variant, size, batch):
    gen = build(variant)
    height, width = size
    out = gen(make_onehot(batch, height, width))
    spec = VARIANTS[variant]
    assert gen.outputs == spec.outputs
    assert tuple(out) == spec.outputs
    assert gen.num_classes == NUM_CLASSES and gen.z_dim == Z_DIM
    channels = {"rgb": 3, "depth": 1}
    for key, image in out.items():
        assert image.shape == (batch, channels[key], height, width)
        assert image.dtype == torch.float32
        assert torch.isfinite(image).all()
        assert image.abs().max() <= 1.0
        assert image.std() > 0  # not a constant image


def test_registry_matches_config_choices_and_rejects_unknown():
    choices = {f.name: f for f in dataclasses.fields(ModelConfig)}["variant"].metadata["choices"]
    assert set(choices) == set(VARIANTS)
    assert VARIANTS["scmis"].outputs == ("rgb", "depth")
    assert VARIANTS["scmis-rgb"].outputs == ("rgb",)
    assert VARIANTS["scmis-depth"].outputs == ("depth",)
    assert VARIANTS["4dgen"].decoders == (("rgb", "depth"),)
    assert VARIANTS["rgbd-oasis"].decoders == (("rgb", "depth"),)
    with pytest.raises(ValueError, match="scmis-rgbd"):
        variant_spec("scmis-rgbd")
    cfg = Config().model
    cfg.variant = "nope"
    with pytest.raises(ValueError, match="expected one of"):
        build_generator(cfg, NUM_CLASSES)


def test_channel_schedule():
    assert channel_schedule(64, 5) == [64 * m for m in (16, 16, 16, 8, 4, 2, 1)]
    assert channel_schedule(8, 3) == [128, 64, 32, 16, 8]
    assert channel_schedule(2, 7) == [2 * m for m in (16, 16, 16, 16, 16, 8, 4, 2, 1)]
    with pytest.raises(ValueError):
        channel_schedule(0, 3)


def test_z_changes_output_and_spatial_noise():
    gen = build("scmis", spectral_norm=False)
    onehot = make_onehot(2, 32, 48)
    z1, z2 = torch.randn(2, Z_DIM), torch.randn(2, Z_DIM)
    a, a_again, b = gen(onehot, z1), gen(onehot, z1), gen(onehot, z2)
    assert max_diff(a, a_again) == 0.0
    for key in a:
        assert (a[key] - b[key]).abs().max() > 1e-4, key
    # (B, z_dim) is broadcast: the same as passing it as constant spatial noise.
    spatial = z1[:, :, None, None].expand(2, Z_DIM, 32, 48)
    assert max_diff(a, gen(onehot, spatial)) < 1e-6
    # Spatially varying noise is accepted and sampled when configured.
    gen_sp = build("scmis", spatial_noise=True, spectral_norm=False)
    torch.manual_seed(3)
    c = gen_sp(onehot)
    torch.manual_seed(3)
    expected_z = torch.randn(2, Z_DIM, 32, 48)
    assert max_diff(c, gen_sp(onehot, expected_z)) == 0.0


@pytest.mark.parametrize("variant", ["scmis", "oasis"])
def test_same_seed_reproduces_exactly(variant):
    onehot = make_onehot(2, 32, 32)
    outs = []
    for init_seed, noise_seed in ((0, 5), (0, 5), (0, 6), (1, 5)):
        gen = build(variant, seed=init_seed)
        torch.manual_seed(noise_seed)
        outs.append(gen(onehot))  # z sampled inside with torch.randn
    assert max_diff(outs[0], outs[1]) == 0.0
    assert max_diff(outs[0], outs[2]) > 1e-4  # other noise
    assert max_diff(outs[0], outs[3]) > 1e-4  # other weights


def strong_init(gen: nn.Module) -> nn.Module:
    """Re-initialise every conv with Xavier gain 1.

    The OASIS gain 0.02 makes the SPADE modulation ~1e-3 of the output at init, too weak to
    see an input's influence clearly.
    """
    gen_rng = torch.Generator().manual_seed(123)
    for module in gen.modules():
        if isinstance(module, nn.Conv2d):
            fan_in = module.weight[0].numel()
            fan_out = module.weight.shape[0] * module.weight[0, 0].numel()
            std = (2.0 / (fan_in + fan_out)) ** 0.5
            module.weight.copy_(torch.randn(module.weight.shape, generator=gen_rng) * std)
    return gen


def perturb_output(module: nn.Module, seed: int):
    """Forward hook that adds unit Gaussian noise to ``module``'s output."""
    noise_gen = torch.Generator().manual_seed(seed)

    def add_noise(_module, _inputs, output):
        return output + torch.randn(output.shape, generator=noise_gen)

    return module.register_forward_hook(add_noise)


def relative_change(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / a.abs().max())


@pytest.mark.parametrize("share", [True, False])
@pytest.mark.parametrize("scale", [0, 1, 2])
def test_encoder_perturbation_reaches_both_decoders(share, scale):
    """Noise added to encoder block ``scale`` (e_{scale+1}) changes RGB and depth."""
    gen = strong_init(build("scmis", share_spade_embedding=share, spectral_norm=False))
    onehot, z = make_onehot(2, 32, 32), torch.randn(2, Z_DIM)
    base = gen(onehot, z)
    handle = perturb_output(gen.encoder.blocks[scale], seed=scale)
    try:
        perturbed = gen(onehot, z)
    finally:
        handle.remove()
    for key in ("rgb", "depth"):
        assert relative_change(base[key], perturbed[key]) > 1e-2, key
    assert max_diff(base, gen(onehot, z)) == 0.0  # hook removed: back to the original


@pytest.mark.parametrize("decoder, other", [("rgb", "depth"), ("depth", "rgb")])
def test_decoder_perturbation_stays_in_its_modality(decoder, other):
    """Control for the test above: noise inside one decoder leaves the other bit-exact."""
    gen = strong_init(build("scmis", spectral_norm=False))
    onehot, z = make_onehot(2, 32, 32), torch.randn(2, Z_DIM)
    base = gen(onehot, z)
    handle = perturb_output(gen.decoders[decoder].blocks[0], seed=7)
    try:
        perturbed = gen(onehot, z)
    finally:
        handle.remove()
    assert relative_change(base[decoder], perturbed[decoder]) > 1e-2
    assert torch.equal(base[other], perturbed[other])


def test_shared_embedding_feeds_both_decoders_and_saves_flops():
    gen = build("scmis")
    assert len(gen.embeds) == 4  # one per decoder block (3 scales + full resolution)
    for decoder in gen.decoders.values():
        spades = [m for m in decoder.modules() if isinstance(m, SPADE)]
        assert spades and all(isinstance(s.embed, nn.Identity) for s in spades)
    unshared = build("scmis", share_spade_embedding=False)
    assert all(isinstance(e, nn.Identity) for e in unshared.embeds)

    def flops(module):
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            module.eval()(make_onehot(1, 32, 32))
        return counter.get_total_flops()

    assert flops(gen) < 0.9 * flops(unshared)


@pytest.mark.parametrize("variant, absent", [("scmis-rgb", "depth"), ("scmis-depth", "rgb"),
                                             ("oasis", "depth")])
def test_single_modality_variants_have_no_other_decoder(variant, absent):
    gen = build(variant)
    names = [n for n, _ in gen.named_modules()] + [n for n, _ in gen.named_parameters()]
    assert not any(absent in n for n in names)
    out = gen(make_onehot(1, 32, 32))
    assert absent not in out and absent not in gen.outputs
    if variant.startswith("scmis-"):
        full = build("scmis")
        n_full = sum(p.numel() for p in full.parameters())
        n_uni = sum(p.numel() for p in gen.parameters())
        n_absent = sum(p.numel() for p in full.decoders[absent].parameters())
        assert n_full - n_uni == n_absent


def test_bad_inputs_raise_clear_errors():
    gen = build("scmis")
    with pytest.raises(ValueError, match=r"divisible by 2\*\*num_scales = 8.*H=36, W=32"):
        gen(make_onehot(1, 36, 32))
    with pytest.raises(ValueError, match=r"H=32, W=20"):
        build("oasis")(make_onehot(1, 32, 20))
    with pytest.raises(ValueError, match=r"\(B, 4, H, W\).*found \(1, 5, 32, 32\)"):
        gen(torch.zeros(1, NUM_CLASSES + 1, 32, 32))
    with pytest.raises(ValueError, match="onehot"):
        gen(torch.zeros(NUM_CLASSES, 32, 32))
    with pytest.raises(ValueError, match=r"expected z of shape \(2, 8\).*found \(2, 9\)"):
        gen(make_onehot(2, 32, 32), torch.zeros(2, Z_DIM + 1))
    with pytest.raises(ValueError, match=r"found \(3, 8\)"):
        gen(make_onehot(2, 32, 32), torch.zeros(3, Z_DIM))
    with pytest.raises(ValueError, match=r"found \(2, 8, 16, 16\)"):
        gen(make_onehot(2, 32, 32), torch.zeros(2, Z_DIM, 16, 16))


@pytest.mark.parametrize("variant", ["scmis", "oasis"])
def test_spectral_norm_option(variant):
    on, off = build(variant, spectral_norm=True), build(variant, spectral_norm=False)
    convs_on = [m for n, m in on.named_modules() if n.split(".")[-1].startswith("conv_")]
    convs_off = [m for n, m in off.named_modules() if n.split(".")[-1].startswith("conv_")]
    assert convs_on and len(convs_on) == len(convs_off)
    assert all(parametrize.is_parametrized(m, "weight") for m in convs_on)
    assert not any(parametrize.is_parametrized(m) for m in off.modules())
    # Spectral norm leaves the top singular value of each block conv close to 1.
    for conv in convs_on:
        sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2)
        assert 0.9 < float(sigma) < 1.1
    # Same parameter count (u, v are buffers) and both forward.
    assert (sum(p.numel() for p in on.parameters()) ==
            sum(p.numel() for p in off.parameters()))
    onehot = make_onehot(1, 32, 32)
    for gen in (on, off):
        assert all(torch.isfinite(t).all() for t in gen(onehot).values())


@pytest.mark.parametrize("variant", ["scmis", "rgbd-oasis"])
def test_bf16_autocast_cpu_forward(variant):
    gen = build(variant)
    onehot, z = make_onehot(2, 32, 32), torch.randn(2, Z_DIM)
    ref = copy.deepcopy(gen)(onehot, z)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = gen(onehot, z)
    assert tuple(out) == tuple(ref)
    for key in out:
        assert out[key].shape == ref[key].shape
        assert torch.isfinite(out[key]).all()
        scale = float(ref[key].abs().max())
        assert scale > 1e-2
        assert float((out[key].float() - ref[key]).abs().max()) < 0.1 * scale


def test_channels_last_matches_contiguous():
    gen = build("scmis")
    onehot, z = make_onehot(2, 32, 32), torch.randn(2, Z_DIM)
    ref = copy.deepcopy(gen)(onehot, z)
    gen = gen.to(memory_format=torch.channels_last)
    out = gen(onehot.contiguous(memory_format=torch.channels_last), z)
    assert all(float(t.abs().max()) > 1e-2 for t in ref.values())
    assert max_diff(ref, out) < 1e-4


def test_sync_batchnorm_conversion():
    gen = build("scmis")
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in gen.modules())
    n_param_free = sum(isinstance(m, nn.BatchNorm2d) and not m.affine for m in gen.modules())
    assert n_bn > n_param_free > 0  # encoder BN (affine) + SPADE BN (parameter-free)
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(gen)
    sync = [m for m in converted.modules() if isinstance(m, nn.SyncBatchNorm)]
    assert len(sync) == n_bn
    assert not any(type(m) is nn.BatchNorm2d for m in converted.modules())
    assert sum(not m.affine for m in sync) == n_param_free


@pytest.mark.slow
def test_torch_compile_fullgraph_matches_eager():
    """No graph breaks (fullgraph) in the forward; the eager backend keeps it CPU-cheap."""
    gen = build("scmis")  # train mode, spectral norm on: its in-place updates are traced too
    onehot, z = make_onehot(2, 32, 32), torch.randn(2, Z_DIM)
    ref = copy.deepcopy(gen)(onehot, z)
    out = torch.compile(gen, fullgraph=True, backend="eager")(onehot, z)
    assert all(float(t.abs().max()) > 1e-2 for t in ref.values())
    assert max_diff(ref, out) < 1e-5


def test_oasis_paper_size_parameter_count():
    """OASIS-G at width 64, hidden 128, 41 classes, z 64 ~ 71.3 M params (docs/design.md §7)."""
    cfg = ModelConfig(variant="oasis", width=64, spade_hidden=128, z_dim=64, num_scales=5,
                      spectral_norm=False)  # spectral norm adds buffers only
    with torch.device("meta"):
        gen = build_generator(cfg, 41)
    n_params = sum(p.numel() for p in gen.parameters())
    assert abs(n_params - 71.3e6) / 71.3e6 < 0.05

