"""Procedural value noise from integer hashing: deterministic and resolution independent."""

from __future__ import annotations

import numpy as np

_F32 = np.float32
_U32 = np.uint32


def _hash(a: np.ndarray, b: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """uint32 hash of integer lattice coordinates (a, b) and a per-pixel seed."""
    h = (a.astype(np.int64).astype(_U32) * _U32(0x8DA6B343)) ^ \
        (b.astype(np.int64).astype(_U32) * _U32(0xD8163841)) ^ seed
    h = (h ^ (h >> _U32(13))) * _U32(0x5BD1E995)
    h = (h ^ (h >> _U32(15))) * _U32(0x27D4EB2D)
    return h ^ (h >> _U32(16))


def _hash01(a: np.ndarray, b: np.ndarray, seed: np.ndarray) -> np.ndarray:
    return (_hash(a, b, seed) >> _U32(8)).astype(_F32) * _F32(1.0 / 16777216.0)


def _vnoise(x: np.ndarray, y: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """Smooth value noise in [0, 1] on the unit lattice."""
    xi, yi = np.floor(x), np.floor(y)
    fx, fy = x - xi, y - yi
    fx = fx * fx * (3.0 - 2.0 * fx)
    fy = fy * fy * (3.0 - 2.0 * fy)
    xi, yi = xi.astype(np.int64), yi.astype(np.int64)
    a = _hash01(xi, yi, seed)
    b = _hash01(xi + 1, yi, seed)
    c = _hash01(xi, yi + 1, seed)
    d = _hash01(xi + 1, yi + 1, seed)
    top = a + (b - a) * fx
    return top + (c + (d - c) * fx - top) * fy


def _fbm(x: np.ndarray, y: np.ndarray, seed: np.ndarray, octaves: int = 2) -> np.ndarray:
    """Fractal sum of value noise, in [0, 1]."""
    total, amp, norm = np.zeros_like(x), 1.0, 0.0
    for i in range(octaves):
        total += amp * _vnoise(x, y, seed + _U32(1013 * i))
        norm += amp
        amp *= 0.5
        x, y = x * 2.03, y * 2.03
    return total / norm
