"""One training step of the product: ``Trainer.train_step`` with the real models, losses and
data (tiny rooms frames), for the main generator / discriminator pairs and both G-forward
modes. Checks what each update may and may not touch."""

from __future__ import annotations

import pytest
import torch

from scmis_core.config import from_dict
from scmis_core.train import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")


def _grads_ok(module: torch.nn.Module) -> list[str]:
    """Names of trainable parameters whose gradient is missing, non-finite or all zero."""
    bad = []
    for name, p in module.named_parameters():
        if p.requires_grad and (p.grad is None or not torch.isfinite(p.grad).all()
                                or p.grad.abs().sum() == 0):
            bad.append(name)
    return bad


@pytest.mark.parametrize("variant,disc,size,share_fake", [
    ("scmis", "pp", 32, True), ("scmis", "rgbd-pp", 32, False), ("oasis", "oasis", 64, True)])
def test_one_train_step_updates_d_then_g(tmp_path, variant, disc, size, share_fake):
    cfg = from_dict({
        "data": {"height": size, "width": size, "rooms_train_size": 4, "rooms_test_size": 2,
                 "num_workers": 0},
        "model": {"variant": variant, "disc": disc, "width": 8, "num_scales": 3, "z_dim": 8,
                  "spade_hidden": 8, "disc_width": 8, "disc_head_width": 8},
        "train": {"batch_size": 2, "ema_decay": 0.9, "share_fake": share_fake}})
    trainer = Trainer(cfg, tmp_path, progress=False)
    G, D = trainer.generator, trainer.D
    g_before = [p.detach().clone() for p in G.parameters()]
    d_before = [p.detach().clone() for p in D.parameters()]
    ema_before = [p.detach().clone() for p in trainer.G_ema.parameters()]
    at_d_step: dict[str, object] = {}
    d_step = trainer.opt_d.step

    def record_d_step(*args, **kwargs):
        # When D steps: G holds no gradient (the D update sees detached images), D has its.
        at_d_step["g_grads"] = [p.grad for p in G.parameters() if p.grad is not None]
        at_d_step["d_grads"] = [p.grad.clone() for p in D.parameters()]
        return d_step(*args, **kwargs)

    trainer.opt_d.step = record_d_step
    losses = trainer.train_step(next(trainer.stream.from_step(0)))

    assert trainer.step == 1 and all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    assert losses["g_ap"] > 0 and {"d_total", "g_total", "g_adv"} <= set(losses)
    assert ("g_depth" in losses) == ("depth" in G.outputs)
    assert at_d_step["g_grads"] == [], "the D update put gradient into G"
    # The G update leaves D's gradients as the D update made them (D frozen, eq. 4), and
    # every network learned: D in all its weights, G in its, the EMA follows G.
    for grad, p in zip(at_d_step["d_grads"], D.parameters()):
        assert torch.equal(grad, p.grad)
    assert _grads_ok(D) == [] and _grads_ok(G) == []
    assert all(not torch.equal(a, p) for a, p in zip(d_before, D.parameters()))
    assert any(not torch.equal(a, p) for a, p in zip(g_before, G.parameters()))
    assert any(not torch.equal(a, p) for a, p in zip(ema_before, trainer.G_ema.parameters()))
    assert all(p.requires_grad for p in D.parameters())  # unfrozen again for the next step
