"""Class-mix augmentation: hand-checked on a tiny label map, batched version, offline CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scmis_core.augment import (class_mix, class_mix_batch, class_mix_masks,
                                num_classes_to_replace)

# 3x4 label map: void 0 in two corners, classes 1, 2, 5 present (ids need not be contiguous).
LABELS = np.array([[0, 1, 1, 2],
                   [5, 5, 2, 2],
                   [5, 1, 1, 0]], dtype=np.int64)
PRESENT = (1, 2, 5)


def _frame():
    h, w = LABELS.shape
    rgb = np.full((h, w, 3), 10, np.uint8)
    depth = np.full((h, w), 1.0, np.float32)
    depth[0, 1] = 0.0  # a hole in the real depth stays a hole unless its class is replaced
    synth_rgb = np.full((h, w, 3), 200, np.uint8)
    synth_depth = np.full((h, w), 7.5, np.float32)
    return rgb, depth, synth_rgb, synth_depth


@pytest.mark.parametrize("ratio,expected_count", [(0.0, 0), (0.3, 1), (0.5, 2), (0.7, 2),
                                                  (1.0, 3)])
@pytest.mark.parametrize("mode", ["rgb", "depth", "rgbd"])
def test_class_mix_hand_checked(mode, ratio, expected_count):
    rgb, depth, synth_rgb, synth_depth = _frame()
    labels_before = LABELS.copy()
    out_rgb, out_depth, chosen = class_mix(rgb, depth, LABELS, synth_rgb, synth_depth, ratio,
                                           mode, np.random.default_rng(3))
    assert len(chosen) == expected_count == num_classes_to_replace(ratio, len(PRESENT))
    assert len(set(chosen.tolist())) == expected_count and set(chosen.tolist()) <= set(PRESENT)
    np.testing.assert_array_equal(LABELS, labels_before)  # labels unchanged
    mask = np.isin(LABELS, chosen)
    assert not mask[LABELS == 0].any()
    # Hand-built expectation: synthesized values exactly at the chosen classes' pixels.
    exp_rgb = np.broadcast_to(np.where(mask[..., None], 200, 10), rgb.shape).astype(np.uint8)
    exp_rgb = exp_rgb if mode != "depth" else rgb
    exp_depth = np.where(mask, 7.5, depth).astype(np.float32) if mode != "rgb" else depth
    np.testing.assert_array_equal(out_rgb, exp_rgb)
    np.testing.assert_array_equal(out_depth, exp_depth)
    # void pixels keep their real values in every mode
    np.testing.assert_array_equal(out_rgb[LABELS == 0], rgb[LABELS == 0])
    np.testing.assert_array_equal(out_depth[LABELS == 0], depth[LABELS == 0])
    # inputs are not modified
    assert (rgb == 10).all() and depth[0, 1] == 0.0


def test_class_mix_seeded_and_varied():
    rgb, depth, synth_rgb, synth_depth = _frame()
    picks = [tuple(class_mix(rgb, depth, LABELS, synth_rgb, synth_depth, 0.3, "rgb",
                             np.random.default_rng(seed))[2]) for seed in range(30)]
    again = [tuple(class_mix(rgb, depth, LABELS, synth_rgb, synth_depth, 0.3, "rgb",
                             np.random.default_rng(seed))[2]) for seed in range(30)]
    assert picks == again
    assert {p[0] for p in picks} == set(PRESENT)  # every class gets picked by some seed


def test_class_mix_rounding_and_only_void():
    assert [num_classes_to_replace(0.5, k) for k in (1, 2, 3, 4, 5)] == [1, 1, 2, 2, 3]
    assert num_classes_to_replace(0.7, 10) == 7 and num_classes_to_replace(0.3, 5) == 2
    rgb = np.zeros((2, 2, 3), np.uint8)
    out_rgb, _, chosen = class_mix(rgb, None, np.zeros((2, 2), np.int64), rgb + 1, None, 1.0,
                                   "rgb", np.random.default_rng(0))
    assert chosen.size == 0 and (out_rgb == 0).all()


def test_class_mix_errors():
    rgb, depth, synth_rgb, synth_depth = _frame()
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="mode"):
        class_mix(rgb, depth, LABELS, synth_rgb, synth_depth, 0.5, "rgb-d", rng)
    with pytest.raises(ValueError, match="ratio"):
        class_mix(rgb, depth, LABELS, synth_rgb, synth_depth, 1.5, "rgb", rng)
    with pytest.raises(ValueError, match="synth_depth_m"):
        class_mix(rgb, depth, LABELS, synth_rgb, None, 0.5, "depth", rng)
    with pytest.raises(ValueError, match=r"rgb: expected shape \(3, 4, 3\)"):
        class_mix(rgb[:2], depth, LABELS, synth_rgb, synth_depth, 0.5, "rgb", rng)


def test_class_mix_batch_matches_definition():
    labels = torch.from_numpy(np.stack([LABELS, LABELS[::-1].copy(), np.zeros_like(LABELS)]))
    gen = torch.Generator().manual_seed(0)
    masks = class_mix_masks(labels, 5, 0.5, gen)
    for b in range(3):
        ids = torch.unique(labels[b][masks[b]]).tolist()
        present = sorted(set(labels[b].unique().tolist()) - {0})
        assert 0 not in ids and set(ids) <= set(present)
        assert len(ids) == num_classes_to_replace(0.5, len(present))
        # whole classes: every pixel of a chosen class is masked
        assert bool(masks[b][torch.isin(labels[b], torch.tensor(ids))].all())
    rgb = torch.zeros(3, 3, *LABELS.shape)
    depth = torch.ones(3, 1, *LABELS.shape)
    out_rgb, out_depth, mask = class_mix_batch(rgb, depth, labels, rgb + 1, depth * 5, 5, 1.0,
                                               "depth", torch.Generator().manual_seed(1))
    assert torch.equal(out_rgb, rgb)  # depth mode leaves RGB alone
    assert torch.equal(out_depth[:, 0] == 5, labels > 0) and torch.equal(mask, labels > 0)
    _, _, none = class_mix_batch(rgb, depth, labels, rgb + 1, depth * 5, 5, 1.0, "rgbd",
                                 torch.Generator().manual_seed(1), p=0.0)
    assert not none.any()
