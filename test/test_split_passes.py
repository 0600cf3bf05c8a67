"""train.split_d: discriminator passes as two half batches on two threads give the numbers of
the one-pass step (up to float rounding)."""

from __future__ import annotations

import threading

import pytest
import torch

from scmis_core.config import LossConfig, ModelConfig
from scmis_core.engine import split_passes
from scmis_core.losses import DiscriminatorTotalLoss, GeneratorLoss
from scmis_core.models.discriminator import build_discriminator
from scmis_core.train import Trainer
from test_train import tiny_cfg

NUM_CLASSES = 5


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    two = split_passes.TwoThreads()
    yield two
    two.close()
    torch.set_num_threads(before)


def _inputs(batch: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, NUM_CLASSES + 1, (batch, 32, 32), generator=gen)
    real = torch.rand(batch, 3, 32, 32, generator=gen) * 2 - 1
    fake = torch.rand(batch, 3, 32, 32, generator=gen) * 2 - 1
    return labels, real, fake


def _disc(disc: str = "pp"):
    torch.manual_seed(0)
    return build_discriminator(ModelConfig(disc=disc, disc_width=8, disc_head_width=8),
                               NUM_CLASSES)


def test_map2_runs_on_two_threads_and_restores_the_thread_count(two_threads):
    seen = two_threads.map2(lambda _: (threading.get_ident(), torch.get_num_threads()), 0, 1)
    assert seen[0][0] != seen[1][0]  # one call on the worker, one here
    assert seen[0][1] == seen[1][1] == 1  # one intra-op thread each while they run
    assert torch.get_num_threads() == 2
    with torch.no_grad():  # grad mode is per thread; the worker follows the caller
        modes = two_threads.map2(lambda _: torch.is_grad_enabled(), 0, 1)
    assert modes == (False, False)
    with pytest.raises(ZeroDivisionError):
        two_threads.map2(lambda x: 1 / x, 0, 1)
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("batch", [2, 3])
@pytest.mark.parametrize("step", [0, 1])
def test_d_update_matches_one_pass(two_threads, batch, step):
    labels, real, fake = _inputs(batch)
    disc = _disc()
    loss = DiscriminatorTotalLoss(LossConfig(labelmix_every=2))  # LabelMix on step 1 only
    total, terms = loss(disc, real, fake, labels, torch.Generator().manual_seed(1), step=step)
    total.backward()
    want = {n: p.grad.clone() for n, p in disc.named_parameters()}
    disc.zero_grad(set_to_none=True)
    got_total, got_terms = split_passes.d_update(
        two_threads, disc, loss, real, fake, labels, NUM_CLASSES,
        torch.Generator().manual_seed(1), step)
    assert set(got_terms) == set(terms) and ("d_mix" in terms) == (step == 1)
    for key in terms:
        assert got_terms[key].item() == pytest.approx(terms[key].item(), rel=1e-5)
    assert got_total.item() == pytest.approx(total.item(), rel=1e-5)
    for name, p in disc.named_parameters():
        torch.testing.assert_close(p.grad, want[name], rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("disc_name", ["pp", "oasis"])
def test_g_outputs_and_gradient_to_fake_match_one_pass(two_threads, disc_name):
    labels, real, fake = _inputs(3)
    size = 64 if disc_name == "oasis" else 32
    if size != 32:
        real, fake = (torch.nn.functional.interpolate(x, size=size) for x in (real, fake))
        labels = torch.nn.functional.interpolate(labels[:, None].float(), size=size)[:, 0].long()
    disc = _disc(disc_name).eval()  # no spectral-norm power iteration between the passes
    disc.requires_grad_(False)
    loss = GeneratorLoss(LossConfig(lambda_ap=2.0))
    leaf = fake.clone().requires_grad_(True)
    total, terms = loss(labels, discriminator=disc, fake=leaf, real=real)
    total.backward()
    outputs, to_fake = split_passes.g_d_outputs(two_threads, disc, loss, fake, real)
    got_total, got_terms = loss.from_outputs(labels, outputs, fake=fake, real=real)
    assert set(got_terms) == {"g_adv", "g_ap", "g_total"}
    for key in terms:
        assert got_terms[key].item() == pytest.approx(terms[key].item(), rel=1e-5)
    torch.testing.assert_close(to_fake(got_total), leaf.grad, rtol=1e-4, atol=1e-7)
    assert all(p.grad is None for p in disc.parameters())


def test_trainer_steps_match_with_and_without_split(tmp_path, two_threads):
    losses = {}
    for split in (True, False):
        cfg = tiny_cfg(train={"batch_size": 3, "split_d": split, "steps": 3},
                       loss={"labelmix_every": 2}, model={"disc_logit_stride": 2})
        trainer = Trainer(cfg, tmp_path / str(split), progress=False)
        batches = trainer.stream.from_step(0)
        losses[split] = [trainer.train_step(next(batches)) for _ in range(3)]
        assert (trainer._two_threads is not None) == split
        batches.close()
    for got, want in zip(losses[True], losses[False]):
        assert set(got) == set(want)
        for key in want:
            assert got[key] == pytest.approx(want[key], rel=1e-3), key
