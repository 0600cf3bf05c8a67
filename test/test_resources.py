"""Memory limits: a checkpoint or an input size beyond the limit is refused before allocating.

Regression tests for issue 14 defect 2: a checkpoint whose stored config says
``model.width=1024`` made synthesize grow to 16 GB with no error, and ``synthesize --size
100000x100000`` died with a 37 GiB allocation traceback.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from scmis_core.engine.checkpoints import GanCheckpoint, SegmenterCheckpoint
from scmis_core.config import load_config
from scmis_core.models import build_generator
from scmis_core.resources import (ActivationProfile, ResourceLimitError, check_limit,
                                  format_bytes, generator_parameter_bytes)
from scmis_core.synthesize import Synthesizer
from scmis_ros.fixtures import TINY_OVERRIDES, write_generator_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    return write_generator_checkpoint(tmp_path_factory.mktemp("res") / "tiny.pt")


def _lying_checkpoint(path, overrides):
    """Small real weights under a stored config that describes a much bigger generator."""
    small = load_config(None, list(TINY_OVERRIDES))
    weights = build_generator(small.model, 40).state_dict()
    big = load_config(None, list(TINY_OVERRIDES) + list(overrides))
    GanCheckpoint(config=big.to_dict(), num_classes=40, models={"G": weights}).save(path)
    return path


def test_parameter_count_on_meta_matches_the_real_network():
    import dataclasses

    def real_bytes(model_cfg):
        real = build_generator(model_cfg, 40)
        return sum(t.numel() * t.element_size()
                   for t in list(real.parameters()) + list(real.buffers()))

    cfg = load_config(None, list(TINY_OVERRIDES)).model
    counted = generator_parameter_bytes(cfg, 40)
    assert counted == real_bytes(dataclasses.replace(cfg, spectral_norm=False))
    # spectral norm's power-iteration vectors (u, v) are left out of the meta count
    assert 0.95 * real_bytes(cfg) <= counted <= real_bytes(cfg)


def test_checkpoint_with_a_huge_stored_width_is_refused_before_building(tmp_path):
    path = _lying_checkpoint(tmp_path / "wide.pt", ["model.width=1024"])
    start = time.perf_counter()
    with pytest.raises(ResourceLimitError) as info:
        Synthesizer.from_checkpoint(path, device="cpu")
    assert time.perf_counter() - start < 60  # refused from the count, nothing built
    message = str(info.value)
    for word in (str(path), "model.width=1024", "GiB", "--max-memory-mb"):
        assert word in message


def test_limit_is_overridable(tmp_path, tiny_ckpt):
    path = _lying_checkpoint(tmp_path / "w64.pt", ["model.width=64"])
    with pytest.raises(ResourceLimitError, match="model.width=64"):
        Synthesizer.from_checkpoint(path, device="cpu", max_memory_mb=50)
    # the same checkpoint passes the limit check with a larger limit (and then fails on
    # the weights that do not fit the config, as before)
    with pytest.raises(Exception) as info:
        Synthesizer.from_checkpoint(path, device="cpu", max_memory_mb=100_000)
    assert not isinstance(info.value, ResourceLimitError)
    assert "do not fit" in str(info.value)
    Synthesizer.from_checkpoint(tiny_ckpt, device="cpu", max_memory_mb=0)  # 0 = no limit


def test_huge_input_is_refused_before_allocating(tiny_ckpt):
    synth = Synthesizer.from_checkpoint(tiny_ckpt, device="cpu")
    huge = torch.ones(1, 1, 1, dtype=torch.uint8).expand(1, 100_000, 100_000)  # a view: 1 B
    with pytest.raises(ResourceLimitError) as info:
        synth.synth_tensors(huge)
    assert "100000x100000" in str(info.value) and "--max-memory-mb" in str(info.value)
    big = np.broadcast_to(np.ones((1, 1), np.uint8), (100_000, 100_000))
    with pytest.raises(ResourceLimitError, match="100000x100000"):
        synth.synth(big)
    rgb, depth = synth.synth(np.ones((40, 50), np.int64), seed=0)  # normal sizes still work
    assert rgb.shape == (40, 50, 3) and depth.shape == (40, 50)


def test_requested_size_is_checked_at_load(tiny_ckpt):
    with pytest.raises(ResourceLimitError, match="60000x60000"):
        Synthesizer.from_checkpoint(tiny_ckpt, device="cpu", size=(60_000, 60_000))


def test_estimate_grows_with_pixels_and_batch(tiny_ckpt):
    synth = Synthesizer.from_checkpoint(tiny_ckpt, device="cpu")
    weights = synth.estimate_memory(1, 1, 1)
    small = synth.estimate_memory(1, 256, 256) - weights
    large = synth.estimate_memory(1, 1024, 1024) - weights
    batch = synth.estimate_memory(4, 256, 256) - weights
    assert 12 < large / small < 20 and 3 < batch / small < 5


def test_profile_sees_activations_of_a_known_network():
    # two 3x3 convs of 8 channels at 32x32, float32: input 3 ch, two outputs of 8 ch each
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1),
                              torch.nn.Conv2d(8, 8, 3, padding=1))
    profile = ActivationProfile.measure(net, (torch.zeros(1, 3, 32, 32),), 32, 32)
    pixel_bytes = 4 * 32 * 32
    peak = max(f + s for f, s in profile.trace)
    assert 11 * pixel_bytes <= peak <= 19 * pixel_bytes
    assert profile.peak_bytes(2, 64, 64) == pytest.approx(8 * profile.peak_bytes(1, 32, 32))


def test_check_limit_and_format():
    check_limit(2**20, 1, "x")
    check_limit(10 * 2**30, 0, "x")  # disabled
    with pytest.raises(ResourceLimitError, match=r"thing needs an estimated 2\.0 GiB"):
        check_limit(2 * 2**30, 1024, "thing")
    assert format_bytes(1536 * 2**20) == "1.5 GiB" and format_bytes(12) == "12 B"


def test_segmenter_checkpoint_with_huge_stored_arguments_is_refused(tmp_path):
    from scmis_core.models.segnet import SmallRGBDUNet
    from scmis_core.segment import Segmenter

    small = SmallRGBDUNet(5, widths=(4, 8))
    path = SegmenterCheckpoint(
        config={"arch": "unet-rgbd", "arch_kwargs": {"widths": [4, 8, 16384, 16384]},
                "data": {}},
        num_classes=5, class_names=list("abcde"),
        models={"segmenter": small.state_dict()}).save(tmp_path / "seg.pt")
    start = time.perf_counter()
    with pytest.raises(ResourceLimitError, match=r"unet-rgbd segmenter .*GiB"):
        Segmenter.from_checkpoint(path, "cpu")
    assert time.perf_counter() - start < 60
