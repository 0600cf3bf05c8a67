"""seed_spread: zero for a generator that ignores its seed, the known std otherwise."""

import pytest
import torch

from scmis_core.metrics.diversity import seed_spread


def test_identical_seeds_give_zero_and_known_spread_is_measured():
    def const(seed):
        return {"rgb": torch.zeros(2, 3, 4, 4), "depth_m": torch.ones(2, 1, 4, 4)}

    assert seed_spread(const, [0, 1, 2]) == {"seed_std_rgb": 0.0, "seed_std_depth_m": 0.0}
    # RGB -1 / +1 for two seeds: grey levels 0 / 255, sample std 255 / sqrt(2).
    def flip(seed):
        return {"rgb": torch.full((1, 3, 2, 2), -1.0 if seed else 1.0),
                "depth_m": torch.full((1, 1, 2, 2), 2.0 + seed)}

    spread = seed_spread(flip, [0, 1])
    assert spread["seed_std_rgb"] == pytest.approx(255 / 2 ** 0.5)
    assert spread["seed_std_depth_m"] == pytest.approx(1 / 2 ** 0.5)


def test_needs_two_seeds():
    with pytest.raises(ValueError, match="at least 2 seeds, found 1"):
        seed_spread(lambda s: {}, [0])
