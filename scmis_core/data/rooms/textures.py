"""Textures: albedo (and emission / depth dropout) from each surface's own coordinates."""

from __future__ import annotations

import numpy as np

from .materials import _PALETTES, _srgb_to_linear
from .noise import _U32, _fbm, _hash, _hash01, _vnoise

_F32 = np.float32


class _Tex:
    """Per-pixel surface attributes of the pixels showing one texture kind.

    Attributes (u, v, x, hx, base, seed, ...) are gathered from the full-image arrays on
    first use, so a texture pays only for what it reads.
    """

    def __init__(self, idx: np.ndarray, g: dict[str, np.ndarray]) -> None:
        self._idx, self._g = idx, g
        self.n = len(idx)
        self.albedo = np.take(g["base"], idx, axis=0)
        self.emission: np.ndarray | None = None
        self.dropout: np.ndarray | None = None

    def __getattr__(self, name: str) -> np.ndarray:
        if name.startswith("_") or name not in self._g:
            raise AttributeError(name)
        value = np.take(self._g[name], self._idx, axis=0)
        setattr(self, name, value)
        return value


def _smooth(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _tex_plain(t: _Tex) -> None:
    t.albedo *= (0.9 + 0.2 * _vnoise(t.u / t.scale, t.v / t.scale, t.seed))[:, None]


def _tex_paint(t: _Tex) -> None:
    t.albedo *= (0.95 + 0.1 * _fbm(t.u * 1.5, t.v * 1.5, t.seed))[:, None]


def _tex_wall(t: _Tex) -> None:
    _tex_paint(t)
    skirting = (t.axis != 1) & (t.v + t.hv < 0.09)
    t.albedo[skirting] = t.alt[skirting] * 0.9


def _grain(t: _Tex) -> tuple[np.ndarray, np.ndarray]:
    """(across, along) grain coordinates: grain runs along the longer horizontal side."""
    vertical = t.axis != 1
    tall = vertical & (t.hv > t.hu)
    long_x = t.hx >= t.hz
    across = np.where(vertical, np.where(tall, t.u, t.v), np.where(long_x, t.z, t.x))
    along = np.where(vertical, np.where(tall, t.v, t.u), np.where(long_x, t.x, t.z))
    return across, along


def _wood_factor(t: _Tex, period: np.ndarray | float) -> np.ndarray:
    """Brightness factor of wood grain (strength ``t.grain``; 1 where grain is 0)."""
    across, along = _grain(t)
    warp = _vnoise(along * 2.0, across * 6.0, t.seed)
    ring = 0.5 + 0.5 * np.sin(6.2832 * (across / period + 2.5 * warp))
    ring *= ring  # narrow dark late-wood lines rather than a sine
    tone = 0.93 + 0.14 * _vnoise(along * 3.0, across * 3.0, t.seed + _U32(7))
    return (1.0 - t.grain + t.grain * ring) * tone


def _tex_wood(t: _Tex) -> None:
    t.albedo *= _wood_factor(t, t.scale)[:, None]


def _tex_board(t: _Tex) -> None:
    """Wood grain where the material has grain, otherwise paint."""
    t.albedo *= _wood_factor(t, 0.02)[:, None]


def _tex_planks(t: _Tex) -> None:
    swap = (t.seed & _U32(1)).astype(bool)
    across = np.where(swap, t.u, t.v)
    along = np.where(swap, t.v, t.u)
    row = np.floor(across / t.scale)
    offset = _hash01(row, row * 0 + 3, t.seed) * 5.0
    col = np.floor((along + offset) / 1.2)
    tone = 0.8 + 0.35 * _hash01(row, col, t.seed)
    warp = _vnoise(along * 1.5, row * 3.0, t.seed)
    grain = 0.9 + 0.1 * np.sin(6.2832 * (across / (t.scale * 0.45) + 2.0 * warp))
    seam = (((across / t.scale) % 1.0) < 0.035) | ((((along + offset) / 1.2) % 1.0) < 0.006)
    t.albedo *= (np.where(seam, 0.55, tone * grain))[:, None]


def _tex_tiles(t: _Tex) -> None:
    fu, fv = t.u / t.scale, t.v / t.scale
    grout_w = 0.008 / t.scale
    grout = ((fu % 1.0) < grout_w) | ((fv % 1.0) < grout_w)
    tone = 0.94 + 0.12 * _hash01(np.floor(fu), np.floor(fv), t.seed)
    t.albedo *= (tone * (0.96 + 0.08 * _vnoise(t.u * 4, t.v * 4, t.seed)))[:, None]
    t.albedo[grout] = t.alt[grout] * 0.7


def _tex_carpet(t: _Tex) -> None:
    fine = _hash01(np.floor(t.u / 0.006), np.floor(t.v / 0.006), t.seed)
    t.albedo *= ((0.8 + 0.3 * _fbm(t.u / t.scale, t.v / t.scale, t.seed)) *
                 (0.92 + 0.16 * fine))[:, None]


def _tex_fabric(t: _Tex) -> None:
    t.albedo *= (0.86 + 0.26 * _fbm(t.u / t.scale, t.v / t.scale, t.seed))[:, None]


def _tex_rug(t: _Tex) -> None:
    edge = np.minimum(t.hu - np.abs(t.u), t.hv - np.abs(t.v))
    border = (edge < 0.1) & (edge > 0.04)
    motif = np.sin(t.u / t.scale) * np.sin(t.v / t.scale) > 0.35
    use_alt = border | (motif & (edge > 0.2))
    t.albedo[use_alt] = t.alt[use_alt]
    _tex_carpet(t)


_BOOK_COLOURS = _srgb_to_linear(np.array(_PALETTES["books"], dtype=np.float32) / 255.0)
_ART_COLOURS = _srgb_to_linear(np.array(_PALETTES["art"], dtype=np.float32) / 255.0)


def _tex_books(t: _Tex) -> None:
    b = np.floor((t.x + t.hx) / t.scale + 0.5 * _vnoise(t.x * 5.0, t.x * 0.0, t.seed))
    h1 = _hash(b, b * 0 + 1, t.seed)
    colour = _BOOK_COLOURS[(h1 % _U32(len(_BOOK_COLOURS))).astype(np.intp)]
    shade = 0.75 + 0.4 * _hash01(b, b * 0 + 2, t.seed)
    frac = ((t.x + t.hx) / t.scale + 0.5 * _vnoise(t.x * 5.0, t.x * 0.0, t.seed)) % 1.0
    gap = frac < 0.07
    top = (0.6 + 0.4 * _hash01(b, b * 0 + 3, t.seed)) * 2.0 * t.hy
    above = (t.y + t.hy > top) & (t.axis != 1)
    band = (np.abs((t.y + t.hy) / np.maximum(top, 1e-3) - 0.78) < 0.04) & (t.axis == 2)
    alb = colour * shade[:, None]
    alb[band] = np.minimum(alb[band] * 2.5 + 0.05, 0.9)
    alb[gap | above] = 0.015
    t.albedo = alb.astype(_F32)


def _tex_picture(t: _Tex) -> None:
    front = (t.axis == 2) & t.pos
    frame = np.minimum(t.hu - np.abs(t.u), t.hv - np.abs(t.v)) < t.scale
    fu = t.u / np.maximum(t.hu, 1e-3)
    fv = t.v / np.maximum(t.hv, 1e-3)
    n1 = _fbm(fu * 1.8, fv * 1.8, t.seed, 3)
    n2 = _vnoise(fu * 3.0, fv * 3.0, t.seed + _U32(11))
    c2 = _ART_COLOURS[((t.seed >> _U32(4)) % _U32(len(_ART_COLOURS))).astype(np.intp)]
    c3 = _ART_COLOURS[((t.seed >> _U32(9)) % _U32(len(_ART_COLOURS))).astype(np.intp)]
    m = _smooth(0.4, 0.6, n1)[:, None]
    art = t.base * (1 - m) + c2 * m
    art = np.where((n2 > 0.62)[:, None], c3, art)
    t.albedo = np.where((front & ~frame)[:, None], art, t.alt).astype(_F32)


def _tex_window(t: _Tex) -> None:
    front = (t.axis == 2) & t.pos
    du = t.hu - np.abs(t.u)
    dv = t.hv - np.abs(t.v)
    panes = t.scale
    pane_u = ((t.u + t.hu) / (2 * t.hu) * panes) % 1.0
    bar_u = np.minimum(pane_u, 1 - pane_u) * (2 * t.hu / panes) < 0.025
    frame = (np.minimum(du, dv) < 0.05) | (bar_u & (panes > 1.5))
    glass = front & ~frame
    fv = (t.v + t.hv) / (2 * t.hv)
    outside = 0.75 + 0.35 * fv
    trees = _fbm(t.u * 1.5, t.v * 1.5, t.seed, 2) * (1.0 - fv) > 0.35
    sky = t.base * outside[:, None]
    sky[trees] = sky[trees] * np.array([0.35, 0.5, 0.3], _F32)
    t.albedo = np.where(glass[:, None], 0.02, t.alt).astype(_F32)
    t.emission = np.where(glass[:, None], sky * t.emit[:, None], 0.0).astype(_F32)
    t.dropout = np.where(glass, t.drop, 0.0).astype(_F32)


def _tex_door(t: _Tex) -> None:
    front = (t.axis == 2)
    y = t.v + t.hv
    panelled = ((t.seed >> _U32(3)) & _U32(1)).astype(bool)
    inset_u = t.hu - np.abs(t.u)
    rect_a = (inset_u > 0.12) & (y > 0.15) & (y < 0.95)
    rect_b = (inset_u > 0.12) & (y > 1.1) & (y < 2 * t.hv - 0.15)
    edge_a = rect_a & ((inset_u < 0.135) | (y < 0.165) | (y > 0.935))
    edge_b = rect_b & ((inset_u < 0.135) | (y < 1.115) | (y > 2 * t.hv - 0.165))
    groove = front & panelled & (edge_a | edge_b)
    _tex_board(t)
    t.albedo[groove] *= 0.65
    knob = front & (np.hypot(t.hu - t.u - 0.07, y - 1.0) < 0.035)
    t.albedo[knob] = t.alt[knob]


def _tex_drawers(t: _Tex) -> None:
    _tex_board(t)
    front = (t.axis == 2) & t.pos
    rows = np.maximum(t.scale, 1.0)
    y = (t.v + t.hv) / (2 * t.hv) * rows
    row_h = 2 * t.hv / rows
    fr = y % 1.0
    gap = front & (np.minimum(fr, 1 - fr) * row_h < 0.006)
    two_cols = t.hu > 0.5
    col_gap = front & two_cols & (np.abs(t.u) < 0.004)
    hu_c = np.where(two_cols, np.abs(np.abs(t.u) - t.hu / 2), np.abs(t.u))
    handle = front & (hu_c < 0.06) & (np.abs(fr - 0.5) * row_h < 0.012)
    t.albedo[gap | col_gap] *= 0.3
    t.albedo[handle] = t.alt[handle]


def _tex_doors(t: _Tex) -> None:
    _tex_board(t)
    front = (t.axis == 2) & t.pos
    two = (t.scale > 1.5) & (t.hu > 0.3)
    split = front & two & (np.abs(t.u) < 0.004)
    edge = front & (np.minimum(t.hu - np.abs(t.u), t.hv - np.abs(t.v)) < 0.006)
    hx = np.where(two, np.abs(np.abs(t.u) - 0.05), np.abs(t.u - (t.hu - 0.06)))
    hy = np.where(t.hv > 0.6, t.v, t.v - t.hv * 0.6)
    handle = front & (hx < 0.01) & (np.abs(hy) < 0.07)
    t.albedo[split | edge] *= 0.35
    t.albedo[handle] = t.alt[handle]


def _tex_fridge(t: _Tex) -> None:
    _tex_paint(t)
    front = (t.axis == 2) & t.pos
    y = t.v + t.hv
    split_y = 2 * t.hv * 0.62
    split = front & (np.abs(y - split_y) < 0.006)
    handle = front & (np.abs(t.u - (t.hu - 0.06)) < 0.015) & \
        (np.abs(y - split_y) > 0.1) & (np.abs(y - split_y) < 0.5)
    t.albedo[split] *= 0.3
    t.albedo[handle] = t.alt[handle]


def _tex_blinds(t: _Tex) -> None:
    f = (t.v / t.scale) % 1.0
    t.albedo *= (0.6 + 0.4 * np.sin(np.pi * f))[:, None]


def _tex_curtain(t: _Tex) -> None:
    folds = np.sin(6.2832 * t.u / t.scale + 1.5 * _vnoise(t.u * 4, t.v * 0.5, t.seed))
    t.albedo *= ((0.75 + 0.25 * folds) * (0.93 + 0.14 * _fbm(t.u * 6, t.v * 6,
                                                               t.seed)))[:, None]


def _tex_whiteboard(t: _Tex) -> None:
    front = (t.axis == 2) & t.pos
    frame = np.minimum(t.hu - np.abs(t.u), t.hv - np.abs(t.v)) < t.scale
    line = np.floor(t.v / 0.06)
    in_line = np.abs((t.v / 0.06) % 1.0 - 0.5) < 0.1
    words = _vnoise(t.u / 0.05, line * 7.0, t.seed) > 0.5
    block = _vnoise(t.u * 2.0, line * 0.35, t.seed + _U32(5)) > 0.55
    writing = front & ~frame & in_line & words & block
    ink = np.where(((t.seed >> _U32(5)) & _U32(1)).astype(bool)[:, None],
                   np.array([0.02, 0.03, 0.2], _F32), np.array([0.02, 0.02, 0.02], _F32))
    t.albedo[writing] = ink[writing]
    t.albedo *= (0.92 + 0.08 * _vnoise(t.u * 2, t.v * 2, t.seed))[:, None]
    t.albedo[frame | ~front] = t.alt[frame | ~front]


def _tex_mirror(t: _Tex) -> None:
    front = (t.axis == 2) & t.pos
    frame = np.minimum(t.hu - np.abs(t.u), t.hv - np.abs(t.v)) < t.scale
    glass = front & ~frame
    fv = (t.v + t.hv) / (2 * t.hv)
    refl = t.base * (0.25 + 0.35 * fv + 0.2 * _fbm(t.u * 2, t.v * 2, t.seed))[:, None]
    t.albedo = np.where(glass[:, None], refl, t.alt).astype(_F32)
    t.dropout = np.where(glass, t.drop, 0.0).astype(_F32)


def _tex_screen(t: _Tex) -> None:
    front = (t.axis == 2) & t.pos
    bezel = np.minimum(t.hu - np.abs(t.u), t.hv - np.abs(t.v)) < t.scale
    glass = front & ~bezel
    fv = (t.v + t.hv) / (2 * t.hv)
    t.albedo[glass] = (t.base[glass] * (0.7 + 0.8 * fv[glass, None])).astype(_F32)
    on = t.emit > 0
    if on.any():
        blocks = _vnoise(t.u / 0.08, t.v / 0.06, t.seed) > 0.5
        img = t.alt * np.where(blocks, 1.0, 0.45)[:, None]
        t.emission = np.where((glass & on)[:, None], img * t.emit[:, None], 0.0).astype(_F32)
    t.dropout = np.where(glass & ~on, t.drop, 0.0).astype(_F32)


def _tex_shade(t: _Tex) -> None:
    _tex_fabric(t)
    t.emission = (t.base * t.emit[:, None]).astype(_F32)


def _tex_fixture(t: _Tex) -> None:
    t.emission = (t.base * t.emit[:, None]).astype(_F32)


def _tex_cardboard(t: _Tex) -> None:
    _tex_plain(t)
    tape = (t.axis == 1) & t.pos & (np.abs(t.x) < 0.025)
    t.albedo[tape] *= 1.3


def _tex_metal(t: _Tex) -> None:
    t.albedo *= (0.9 + 0.15 * _vnoise(t.u * 3, t.v * 3, t.seed))[:, None]


def _tex_stone(t: _Tex) -> None:
    speck = _hash01(np.floor(t.u / 0.008), np.floor(t.v / 0.008), t.seed)
    t.albedo *= ((0.85 + 0.25 * _fbm(t.u * 5, t.v * 5, t.seed)) *
                 (0.85 + 0.3 * speck))[:, None]


def _tex_foliage(t: _Tex) -> None:
    t.albedo *= (0.35 + 1.0 * _fbm(t.u / t.scale, t.v / t.scale, t.seed, 3))[:, None]


_TEXTURES = {
    "plain": _tex_plain, "paint": _tex_paint, "wall": _tex_wall, "wood": _tex_wood,
    "planks": _tex_planks, "tiles": _tex_tiles, "carpet": _tex_carpet, "fabric": _tex_fabric,
    "rug": _tex_rug, "books": _tex_books, "picture": _tex_picture, "window": _tex_window,
    "door": _tex_door, "drawers": _tex_drawers, "doors": _tex_doors, "fridge": _tex_fridge,
    "blinds": _tex_blinds, "curtain": _tex_curtain, "whiteboard": _tex_whiteboard,
    "mirror": _tex_mirror, "screen": _tex_screen, "shade": _tex_shade,
    "fixture": _tex_fixture, "cardboard": _tex_cardboard, "metal": _tex_metal,
    "stone": _tex_stone, "foliage": _tex_foliage, "paper": _tex_plain,
}
_KIND_IDS = {name: i for i, name in enumerate(_TEXTURES)}
