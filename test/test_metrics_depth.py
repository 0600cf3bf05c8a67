"""Depth errors: hand-computed values, validity rules, pooling, numpy and torch inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from scmis_core.metrics.depth import DepthErrors, depth_errors

# valid pairs (pred, real): (1.5, 1), (2, 2), (3, 4); real 0 and NaN are no measurement
PRED = np.array([[1.5, 2.0, 3.0], [7.0, 1.0, 5.0]], dtype=np.float32)
REAL = np.array([[1.0, 2.0, 4.0], [0.0, np.nan, np.inf]], dtype=np.float32)


def test_hand_computed_errors():
    out = depth_errors(PRED, REAL)
    assert out["num_pixels"] == 3
    # errors 0.5, 0, -1
    assert out["abs_rel"] == pytest.approx((0.5 / 1 + 0 + 1 / 4) / 3)  # 0.25
    assert out["sq_rel_m"] == pytest.approx((0.25 / 1 + 0 + 1 / 4) / 3)  # 1/6
    assert out["rmse_m"] == pytest.approx(math.sqrt((0.25 + 0 + 1) / 3))
    # ratios 1.5, 1, 4/3: only 1 is below 1.25; all are below 1.5625
    assert out["delta1"] == pytest.approx(1 / 3)
    assert out["delta2"] == 1.0 and out["delta3"] == 1.0


def test_max_depth_cap_and_mask():
    out = depth_errors(PRED, REAL, max_depth_m=3.0)  # drops the 4 m pixel
    assert out["num_pixels"] == 2
    assert out["abs_rel"] == pytest.approx(0.25)
    assert out["rmse_m"] == pytest.approx(math.sqrt(0.125))
    assert out["delta1"] == pytest.approx(0.5)
    mask = np.array([[False, True, True], [True, True, True]])
    out = depth_errors(PRED, REAL, mask=mask)
    assert out["num_pixels"] == 2
    assert out["abs_rel"] == pytest.approx(0.125)


def test_pixel_pooled_over_images():
    acc = DepthErrors()
    acc.update(np.array([[2.0]]), np.array([[1.0]]))  # 1 pixel, AbsRel 1
    acc.update(np.full((1, 3), 1.0), np.full((1, 3), 1.0))  # 3 pixels, AbsRel 0
    out = acc.compute()
    assert out["num_pixels"] == 4
    assert out["abs_rel"] == pytest.approx(0.25)  # not (1 + 0) / 2
    acc.reset()
    assert acc.compute()["num_pixels"] == 0 and math.isnan(acc.compute()["abs_rel"])


def test_torch_inputs_and_channel_axis():
    pred = torch.from_numpy(PRED)[None, None]  # (1, 1, 2, 3)
    real = torch.from_numpy(REAL)[None]  # (1, 2, 3)
    assert depth_errors(pred, real) == pytest.approx(depth_errors(PRED, REAL), nan_ok=True)


def test_non_positive_prediction_fails_delta_and_bad_input_raises():
    out = depth_errors(np.array([-1.0, 0.0, 2.0]), np.array([1.0, 1.0, 2.0]))
    assert out["delta3"] == pytest.approx(1 / 3)
    assert out["abs_rel"] == pytest.approx((2 + 1 + 0) / 3)
    # NaN prediction where the real depth is missing is ignored, at a valid pixel it raises
    assert depth_errors(np.array([np.nan, 1.0]), np.array([0.0, 1.0]))["rmse_m"] == 0.0
    with pytest.raises(ValueError, match="finite predicted depth"):
        depth_errors(np.array([np.nan, 1.0]), np.array([1.0, 1.0]))
    with pytest.raises(ValueError, match="same shape"):
        depth_errors(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="max_depth_m"):
        DepthErrors(max_depth_m=0.0)
