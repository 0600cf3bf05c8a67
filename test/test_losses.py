"""Losses (eqs. 2-9) against values computed by hand on tiny tensors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from scmis_core.config import LossConfig, ModelConfig
from scmis_core.losses import (
    AdaptivePerceptualLoss, DepthL1Loss, DiscriminatorLoss, DiscriminatorTotalLoss,
    GeneratorAdversarialLoss, GeneratorLoss, LabelMixLoss, VGGPerceptualLoss,
    class_balance_weights, label_ids, labelmix_mask, mix)
from scmis_core.models.discriminator import build_discriminator


def _onehot(ids: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Void-excluded one-hot (B, N, H, W) of ids (B, H, W)."""
    return F.one_hot(ids, num_classes + 1).permute(0, 3, 1, 2)[:, 1:].float()


def _log_softmax(values: list[float]) -> list[float]:
    norm = math.log(sum(math.exp(v) for v in values))
    return [v - norm for v in values]


def test_class_balance_weights_by_hand():
    # ids 0 (void) x1, 1 x2, 2 x1, class 3 absent; B*H*W = 4, K = 2 classes present.
    ids = torch.tensor([[[0, 1], [1, 2]]])
    weights = class_balance_weights(ids, 3)
    assert torch.allclose(weights, torch.tensor([0.0, 4 / (2 * 2), 4 / (2 * 1), 0.0]))
    assert torch.allclose(class_balance_weights(_onehot(ids, 3), 3), weights)
    assert torch.equal(label_ids(_onehot(ids, 3)), ids)
    with pytest.raises(ValueError, match=r"expected class ids in 0\.\.1, found 0\.\.2"):
        class_balance_weights(ids, 1)


def test_discriminator_loss_2x2_by_hand():
    ids = torch.tensor([[[0, 1], [2, 1]]])  # void, 1, 2, 1: alpha_1 = 1, alpha_2 = 2
    real = torch.tensor([[[[0.5, 0.0], [1.0, -1.0]],
                          [[0.2, 2.0], [0.0, 0.3]],
                          [[-0.4, 0.1], [1.5, 0.0]]]])  # (1, 3, 2, 2)
    fake = torch.tensor([[[[1.0, 0.0], [-1.0, 2.0]],
                          [[0.0, 0.5], [0.0, 0.0]],
                          [[0.0, 0.0], [1.0, -2.0]]]])

    def pix(t, i, j):
        return [float(t[0, c, i, j]) for c in range(3)]

    real_hand = (1.0 * -_log_softmax(pix(real, 0, 1))[1]
                 + 2.0 * -_log_softmax(pix(real, 1, 0))[2]
                 + 1.0 * -_log_softmax(pix(real, 1, 1))[1]) / 4
    fake_all = [-_log_softmax(pix(fake, i, j))[0] for i in range(2) for j in range(2)]
    total, terms = DiscriminatorLoss()(real, fake, ids)
    assert terms["d_real"].item() == pytest.approx(real_hand, rel=1e-6)
    assert terms["d_fake"].item() == pytest.approx(sum(fake_all) / 4, rel=1e-6)
    assert total.item() == pytest.approx(real_hand + sum(fake_all) / 4, rel=1e-6)
    _, no_void = DiscriminatorLoss(fake_ignores_void=True)(real, fake, ids)
    assert no_void["d_fake"].item() == pytest.approx(sum(fake_all[1:]) / 3, rel=1e-6)
    # The generator's adversarial term is the real-image term on D(G(z, t)).
    assert GeneratorAdversarialLoss()(real, ids).item() == pytest.approx(real_hand, rel=1e-6)


def test_void_pixels_do_not_count_in_real_term():
    torch.manual_seed(0)
    ids = torch.tensor([[[0, 1, 2], [2, 0, 1]]])
    logits = torch.randn(1, 3, 2, 3, requires_grad=True)
    loss = GeneratorAdversarialLoss()(logits, _onehot(ids, 2))
    loss.backward()
    void = ids[0] == 0
    assert torch.all(logits.grad[0][:, void] == 0)
    assert torch.all(logits.grad[0][:, ~void].abs().sum(0) > 0)


def test_losses_are_float32_under_autocast():
    torch.manual_seed(0)
    ids = torch.randint(0, 3, (2, 4, 4))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = F.conv2d(torch.randn(2, 3, 4, 4), torch.randn(3, 3, 1, 1))
        assert logits.dtype == torch.bfloat16
        loss, _ = DiscriminatorLoss()(logits, logits, ids)
        mix_loss = LabelMixLoss()(logits, logits, logits, torch.ones(2, 1, 4, 4))
    assert loss.dtype == torch.float32 and mix_loss.dtype == torch.float32


def test_labelmix_mask_is_constant_per_class():
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 5, (3, 8, 8), generator=gen)
    seen = set()
    for _ in range(10):
        mask = labelmix_mask(ids, 4, generator=gen)
        assert mask.shape == (3, 1, 8, 8)
        assert set(mask.unique().tolist()) <= {0.0, 1.0}
        for b in range(3):
            for c in ids[b].unique():
                values = mask[b, 0][ids[b] == c]
                assert values.min() == values.max()
                seen.add(float(values[0]))
    assert seen == {0.0, 1.0}
    m1 = labelmix_mask(ids, 4, generator=torch.Generator().manual_seed(7))
    m2 = labelmix_mask(_onehot(ids, 4), 4, generator=torch.Generator().manual_seed(7))
    assert torch.equal(m1, m2)


def test_mix_and_labelmix_loss_by_hand():
    x = torch.full((1, 2, 1, 2), 3.0)
    x_hat = torch.full((1, 2, 1, 2), -1.0)
    mask = torch.tensor([[[[1.0, 0.0]]]])
    assert torch.equal(mix(x, x_hat, mask), torch.tensor([[[[3.0, -1.0]], [[3.0, -1.0]]]]))
    # D(mix) = 0 everywhere; mix(D(x), D(x_hat), M) = [3, -1] per channel: MSE = (9 + 1) / 2.
    loss = LabelMixLoss()(torch.zeros_like(x), x, x_hat, mask)
    assert loss.item() == pytest.approx(5.0)
    # A per-pixel linear "discriminator" commutes with mixing: zero loss.
    weight = torch.randn(3, 2, 1, 1)

    def disc(t):
        return F.conv2d(t, weight)
    assert LabelMixLoss()(disc(mix(x, x_hat, mask)), disc(x), disc(x_hat), mask).item() \
        == pytest.approx(0.0, abs=1e-6)


def test_depth_l1_ignores_invalid_pixels():
    loss_fn = DepthL1Loss(max_depth_m=10.0)
    real_m = torch.tensor([[[[5.0, 0.0], [float("nan"), float("inf")]],
                            [[2.5, 10.0], [-1.0, 7.5]]]]).reshape(2, 1, 2, 2)
    pred = torch.full((2, 1, 2, 2), 0.1, requires_grad=True)
    # Valid: 5 m -> 0, 2.5 m -> -0.5, 10 m -> 1, 7.5 m -> 0.5 in the unit range.
    loss = loss_fn(pred, real_m)
    assert loss.item() == pytest.approx((0.1 + 0.6 + 0.9 + 0.4) / 4)
    loss.backward()
    assert torch.isfinite(pred.grad).all()
    valid = torch.tensor([[[[1, 0], [0, 0]]], [[[1, 1], [0, 1]]]], dtype=torch.bool)
    assert torch.all(pred.grad[~valid] == 0) and torch.all(pred.grad[valid] != 0)
    empty = torch.zeros(1, 1, 2, 2)
    pred2 = torch.randn(1, 1, 2, 2, requires_grad=True)
    zero = loss_fn(pred2, empty)
    assert zero.item() == 0.0 and zero.requires_grad
    zero.backward()
    assert torch.equal(pred2.grad, torch.zeros_like(pred2))
    with pytest.raises(ValueError, match="of one shape"):
        loss_fn(pred2, torch.ones(1, 1, 3, 2))


def test_adaptive_perceptual_loss():
    torch.manual_seed(0)
    real = [torch.randn(2, 4, 8, 8, requires_grad=True), torch.randn(2, 8, 4, 4,
                                                                     requires_grad=True)]
    same = AdaptivePerceptualLoss()(real, [f.clone() for f in real])
    assert same.item() == 0.0
    fake = [f.detach() + 1.0 for f in real]
    fake[1] = real[1].detach() - 3.0
    for f in fake:
        f.requires_grad_(True)
    loss = AdaptivePerceptualLoss()(real, fake)
    assert loss.item() == pytest.approx((1.0 + 3.0) / 2)
    loss.backward()
    assert all(f.grad is not None and f.grad.abs().sum() > 0 for f in fake)
    assert all(r.grad is None for r in real)


def _small_vgg_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """torchvision-format weights of VGG-19 stages 1-2 only (conv indices 0, 2, 5)."""
    gen = torch.Generator().manual_seed(seed)
    shapes = {0: (64, 3), 2: (64, 64), 5: (128, 64)}
    state = {}
    for index, (c_out, c_in) in shapes.items():
        state[f"features.{index}.weight"] = torch.randn(c_out, c_in, 3, 3, generator=gen) * 0.1
        state[f"features.{index}.bias"] = torch.zeros(c_out)
    return state


def test_vgg_perceptual_loss(tmp_path):
    path = tmp_path / "vgg_small.pth"
    torch.save(_small_vgg_state(), path)
    loss_fn = VGGPerceptualLoss.from_file(path)
    assert loss_fn.vgg.backbone.depth == 2 and loss_fn.layer_weights == (1 / 32, 1 / 16)
    torch.manual_seed(0)
    real = (torch.rand(2, 3, 16, 16) * 2 - 1).requires_grad_(True)
    assert loss_fn(real, real.detach().clone()).item() == 0.0
    fake = (torch.rand(2, 3, 16, 16) * 2 - 1).requires_grad_(True)
    loss = loss_fn(real, fake)
    feats_r, feats_f = loss_fn.vgg(real), loss_fn.vgg(fake)
    hand = sum(w * (a - b).abs().mean() for w, a, b in zip((1 / 32, 1 / 16), feats_f, feats_r))
    assert loss.item() == pytest.approx(hand.item(), rel=1e-5) and loss.item() > 0
    loss.backward()
    assert fake.grad.abs().sum() > 0 and real.grad is None
    assert all(p.grad is None for p in loss_fn.parameters())
    cfg = LossConfig(perceptual="vgg-in", perceptual_weights=str(path))
    assert GeneratorLoss(cfg).vgg_loss is not None
    with pytest.raises(ValueError, match="perceptual_weights"):
        GeneratorLoss(LossConfig(perceptual="vgg-cs"))


def test_totals_weight_the_terms():
    torch.manual_seed(0)
    disc = build_discriminator(ModelConfig(disc="pp", disc_width=8, disc_head_width=8), 3)
    ids = torch.randint(0, 4, (2, 32, 32))
    real = torch.rand(2, 3, 32, 32) * 2 - 1
    fake = (torch.rand(2, 3, 32, 32) * 2 - 1).requires_grad_(True)
    depth_fake = torch.rand(2, 1, 32, 32) * 2 - 1
    depth_m = torch.rand(2, 1, 32, 32) * 8
    cfg = LossConfig(lambda_ap=2.0, lambda_depth=3.0, lambda_mix=10.0)
    total, terms = GeneratorLoss(cfg)(ids, discriminator=disc, fake=fake, real=real,
                                      depth_fake=depth_fake, depth_real_m=depth_m)
    assert set(terms) == {"g_adv", "g_ap", "g_depth", "g_total"}
    assert total.item() == pytest.approx(
        (terms["g_adv"] + 2.0 * terms["g_ap"] + 3.0 * terms["g_depth"]).item(), rel=1e-6)
    assert terms["g_depth"].item() == pytest.approx(
        DepthL1Loss()(depth_fake, depth_m).item(), rel=1e-6)
    d_total, d_terms = DiscriminatorTotalLoss(cfg)(disc, real, fake, ids,
                                                   generator=torch.Generator().manual_seed(0))
    assert set(d_terms) == {"d_real", "d_fake", "d_mix", "d_total"}
    assert d_total.item() == pytest.approx(
        (d_terms["d_real"] + d_terms["d_fake"] + 10.0 * d_terms["d_mix"]).item(), rel=1e-6)
    d_total.backward()
    assert fake.grad is None  # the D step never reaches the generated image
    _, no_mix = DiscriminatorTotalLoss(LossConfig(labelmix=False))(disc, real, fake, ids)
    assert "d_mix" not in no_mix
    with pytest.raises(ValueError, match="no term"):
        GeneratorLoss(LossConfig())(ids)


def test_lazy_labelmix_runs_every_kth_update_at_k_times_the_weight():
    torch.manual_seed(0)
    disc = build_discriminator(ModelConfig(disc="pp", disc_width=8, disc_head_width=8), 3)
    ids = torch.randint(0, 4, (2, 32, 32))
    real = torch.rand(2, 3, 32, 32) * 2 - 1
    fake = torch.rand(2, 3, 32, 32) * 2 - 1
    lazy = DiscriminatorTotalLoss(LossConfig(lambda_mix=10.0, labelmix_every=3))
    every = DiscriminatorTotalLoss(LossConfig(lambda_mix=10.0))
    with_mix = []
    for step in range(6):
        total, terms = lazy(disc, real, fake, ids, generator=torch.Generator().manual_seed(0),
                            step=step)
        if "d_mix" in terms:
            with_mix.append(step)
            ref_total, ref = every(disc, real, fake, ids,
                                   generator=torch.Generator().manual_seed(0), step=step)
            assert terms["d_mix"].item() == pytest.approx(ref["d_mix"].item(), rel=1e-6)
            assert total.item() == pytest.approx(
                (ref["d_real"] + ref["d_fake"] + 30.0 * ref["d_mix"]).item(), rel=1e-6)
        else:
            assert total.item() == pytest.approx(
                (terms["d_real"] + terms["d_fake"]).item(), rel=1e-6)
    assert with_mix == [2, 5]
