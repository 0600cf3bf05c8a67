"""One generator step and one discriminator step with the real models and losses (tiny)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from scmis_core.config import LossConfig, ModelConfig, TrainConfig
from scmis_core.losses import DiscriminatorTotalLoss, GeneratorLoss
from scmis_core.models import build_discriminator, build_generator

NUM_CLASSES = 3


def _batch(size: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, NUM_CLASSES + 1, (2, size, size), generator=gen)
    onehot = F.one_hot(ids, NUM_CLASSES + 1).permute(0, 3, 1, 2)[:, 1:].float()
    rgb = torch.rand(2, 3, size, size, generator=gen) * 2 - 1
    depth_m = torch.rand(2, 1, size, size, generator=gen) * 9
    depth_m[:, :, :4] = 0.0  # a band of missing depth
    return ids, onehot, rgb, depth_m


def _grads_ok(module: torch.nn.Module) -> list[str]:
    """Names of trainable parameters whose gradient is missing, non-finite or all zero."""
    bad = []
    for name, p in module.named_parameters():
        if p.requires_grad and (p.grad is None or not torch.isfinite(p.grad).all()
                                or p.grad.abs().sum() == 0):
            bad.append(name)
    return bad


@pytest.mark.parametrize("variant,disc,size", [("scmis", "pp", 32), ("scmis", "rgbd-pp", 32),
                                               ("oasis", "oasis", 64)])
def test_one_generator_and_one_discriminator_step(variant, disc, size):
    torch.manual_seed(0)
    model_cfg = ModelConfig(variant=variant, width=8, num_scales=3, z_dim=8, spade_hidden=8,
                            disc=disc, disc_width=8, disc_head_width=8)
    train_cfg = TrainConfig()
    loss_cfg = LossConfig()  # adaptive perceptual loss, LabelMix on
    G = build_generator(model_cfg, NUM_CLASSES)
    D = build_discriminator(model_cfg, NUM_CLASSES)
    opt_g = torch.optim.Adam(G.parameters(), lr=train_cfg.lr_g,
                             betas=(train_cfg.beta1, train_cfg.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=train_cfg.lr_d,
                             betas=(train_cfg.beta1, train_cfg.beta2))
    g_loss_fn, d_loss_fn = GeneratorLoss(loss_cfg), DiscriminatorTotalLoss(loss_cfg)
    ids, onehot, rgb, depth_m = _batch(size)

    def d_input(out, real: bool):
        image = rgb if real else out["rgb"]
        if D.in_channels == 4:  # RGB-D discriminator: cat(rgb, depth in [-1, 1])
            depth = (depth_m / 5 - 1) if real else out["depth"]
            image = torch.cat([image, depth], dim=1)
        return image

    # Generator step: D frozen, the real image must receive no gradient (eq. 4 real branch).
    D.requires_grad_(False)
    real = d_input(None, True).clone().requires_grad_(True)
    out = G(onehot)
    g_total, g_terms = g_loss_fn(ids, discriminator=D, fake=d_input(out, False), real=real,
                                 depth_fake=out.get("depth"),
                                 depth_real_m=depth_m if "depth" in out else None)
    opt_g.zero_grad(set_to_none=True)
    g_total.backward()
    assert torch.isfinite(g_total) and g_terms["g_ap"] > 0
    assert ("g_depth" in g_terms) == ("depth" in G.outputs)
    assert _grads_ok(G) == []
    assert real.grad is None
    assert all(p.grad is None for p in D.parameters())
    before_g = [p.detach().clone() for p in G.parameters()]
    opt_g.step()
    assert any(not torch.equal(a, p) for a, p in zip(before_g, G.parameters()))

    # Discriminator step on the detached generated batch.
    D.requires_grad_(True)
    with torch.no_grad():
        out = G(onehot)
    d_total, d_terms = d_loss_fn(D, d_input(None, True), d_input(out, False), ids,
                                 generator=torch.Generator().manual_seed(0))
    opt_d.zero_grad(set_to_none=True)
    G.zero_grad(set_to_none=True)
    d_total.backward()
    assert all(torch.isfinite(v) for v in d_terms.values())
    assert _grads_ok(D) == []
    assert all(p.grad is None for p in G.parameters())
    before_d = [p.detach().clone() for p in D.parameters()]
    opt_d.step()
    assert all(not torch.equal(a, p) for a, p in zip(before_d, D.parameters()))
