"""The one noise sampler: shapes, streams, and every consumer drawing per-pixel noise for a
``model.spatial_noise`` generator (issue 13 bug 1: BN re-estimation and sample grids drew
noise constant over the image)."""

from __future__ import annotations

import pytest
import torch

from scmis_core.config import from_dict
from scmis_core.models.noise import noise_shape, sample_z
from scmis_core.synthesize import Synthesizer
from scmis_core.train import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")


class Spec:
    def __init__(self, z_dim: int, spatial: bool):
        self.z_dim, self.spatial_noise = z_dim, spatial


def test_shapes_and_streams():
    assert noise_shape(Spec(8, False), 2, 16, 24) == (2, 8)
    assert noise_shape(Spec(8, True), 2, 16, 24) == (2, 8, 16, 24)
    # Non-spatial draws are exactly torch.randn's (the trainer's resume stream depends on it).
    rng_a, rng_b = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(sample_z(Spec(8, False), 3, 4, 4, rng_a),
                       torch.randn((3, 8), generator=rng_b))
    z = sample_z(Spec(4, True), 2, 8, 8, torch.Generator().manual_seed(1))
    assert z.shape == (2, 4, 8, 8) and z.std(dim=(2, 3)).min() > 0.3  # per pixel
    # No noise: an empty tensor and nothing drawn from the generator.
    rng = torch.Generator().manual_seed(9)
    before = rng.get_state()
    assert sample_z(Spec(0, True), 2, 8, 8, rng).shape == (2, 0, 8, 8)
    assert torch.equal(rng.get_state(), before)
    assert sample_z(Spec(3, False), 1, 2, 2, dtype=torch.float64).dtype == torch.float64


def _record_z(module: torch.nn.Module) -> list[torch.Tensor]:
    seen: list[torch.Tensor] = []
    module.register_forward_pre_hook(lambda _m, args: seen.append(args[1].detach().clone()))
    return seen


def _assert_per_pixel(z: torch.Tensor, batch: int, z_dim: int, hw: tuple[int, int]) -> None:
    assert tuple(z.shape) == (batch, z_dim, *hw)
    # Constant-over-the-image noise (the bug) has zero spread over H x W.
    assert float(z.std(dim=(2, 3)).min()) > 0.5


def test_trainer_bn_refresh_and_sample_grid_draw_per_pixel_noise(tmp_path):
    cfg = from_dict({
        "data": {"height": 32, "width": 32, "rooms_train_size": 4, "rooms_test_size": 2,
                 "num_workers": 0},
        "model": {"width": 4, "num_scales": 3, "spade_hidden": 8, "z_dim": 4,
                  "disc_width": 8, "disc_head_width": 16, "spatial_noise": True},
        "train": {"batch_size": 2, "ema_decay": 0.9}})
    trainer = Trainer(cfg, tmp_path, progress=False)
    gen = trainer.G_ema
    seen = _record_z(gen)
    trainer.refresh_bn_stats(num_batches=1)
    assert len(seen) == 1
    _assert_per_pixel(seen[0], 2, 4, (32, 32))
    # The BN refresh draws from its private seed through the one sampler.
    expected = sample_z(gen, 2, 32, 32, torch.Generator().manual_seed(12345))
    assert torch.equal(seen[0], expected)
    seen.clear()
    trainer.sample_grid(count=2)
    grid_z = seen[-1]
    _assert_per_pixel(grid_z, 2, 4, (32, 32))
    # Training noise: per pixel too, at the batch's size.
    _assert_per_pixel(trainer.sample_noise(2, 16, 24), 2, 4, (16, 24))


def test_synthesizer_draws_per_pixel_noise_of_the_sampler():
    from scmis_core.models import build_generator

    cfg = from_dict({"model": {"width": 4, "num_scales": 3, "spade_hidden": 8, "z_dim": 4,
                               "spatial_noise": True}})
    gen = build_generator(cfg.model, 5)
    synth = Synthesizer(gen, 5, max_memory_mb=None)
    seen = _record_z(gen)
    synth.synth_tensors(torch.randint(0, 6, (2, 16, 24)), seed=3)
    _assert_per_pixel(seen[0], 2, 4, (16, 24))
    assert torch.equal(seen[0], sample_z(gen, 2, 16, 24, torch.Generator().manual_seed(3)))
