"""Furniture and clutter builders: each returns a group of boxes in its own frame
(footprint centred, front at +z).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .materials import Material, _colour, _furniture_mat, _mat, _wood
from .placement import _Group


def _legs(g: _Group, x0: float, x1: float, z0: float, z1: float, y1: float, t: float,
          label: int, mat: Material, inset: float = 0.0) -> None:
    for lx in (x0 + inset, x1 - inset - t):
        for lz in (z0 + inset, z1 - inset - t):
            g.add(lx, lx + t, 0.0, y1, lz, lz + t, label, mat)


def _bed(rng: np.random.Generator) -> _Group:
    g = _Group()
    w = float(rng.uniform(0.9, 1.05) if rng.random() < 0.35 else rng.uniform(1.35, 1.85))
    length = float(rng.uniform(1.95, 2.15))
    base_h = float(rng.uniform(0.22, 0.38))
    matt_h = float(rng.uniform(0.18, 0.26))
    frame = _furniture_mat(rng)
    bedding = _mat(rng, "fabric", "bedding", scale=0.4)
    duvet = _mat(rng, "fabric", "bedding" if rng.random() < 0.5 else "fabric", scale=0.3)
    x0, x1, z0, z1 = -w / 2, w / 2, -length / 2, length / 2
    g.add(x0, x1, 0.0, base_h, z0, z1, 4, frame)
    g.add(x0 + 0.02, x1 - 0.02, base_h, base_h + matt_h, z0 + 0.06, z1 - 0.02, 4, bedding)
    top = base_h + matt_h
    g.add(x0 - 0.015, x1 + 0.015, base_h + 0.3 * matt_h, top + 0.04,
          z0 + float(rng.uniform(0.5, 0.75)), z1 + 0.015, 4, duvet)
    g.add(x0, x1, 0.0, float(rng.uniform(0.85, 1.25)), z0, z0 + 0.06, 4, frame)
    if rng.random() < 0.4:
        g.add(x0, x1, 0.0, top + float(rng.uniform(-0.1, 0.15)), z1 - 0.05, z1, 4, frame)
    pillow = _mat(rng, "fabric", "bedding", scale=0.3)
    n = 1 if w < 1.2 else 2
    pw = (w - 0.12) / n - 0.05
    for i in range(n):
        px = x0 + 0.06 + i * (pw + 0.05)
        g.add(px, px + pw, top, top + float(rng.uniform(0.1, 0.16)), z0 + 0.08,
              z0 + 0.08 + float(rng.uniform(0.32, 0.45)), 18, pillow)
    if rng.random() < 0.3:
        cx = float(rng.uniform(x0 + 0.2, x1 - 0.6))
        cz = float(rng.uniform(0.0, z1 - 0.5))
        g.add(cx, cx + float(rng.uniform(0.3, 0.5)), top + 0.04, top + 0.04 +
              float(rng.uniform(0.05, 0.12)), cz, cz + float(rng.uniform(0.25, 0.45)), 21,
              _mat(rng, "fabric", "fabric", scale=0.1))
    return g


def _drawer_unit(rng: np.random.Generator, w: float, d: float, h: float, label: int,
                 rows: int, kind: str = "drawers") -> _Group:
    g = _Group()
    mat = replace(_furniture_mat(rng, kind), alt=_colour(rng, "metal"), scale=float(rows))
    leg_h = float(rng.choice([0.0, 0.05, 0.1]))
    if leg_h > 0:
        _legs(g, -w / 2, w / 2, -d / 2, d / 2, leg_h, 0.04, label, mat, 0.02)
    g.add(-w / 2, w / 2, leg_h, h, -d / 2, d / 2, label, mat)
    return g


def _night_stand(rng: np.random.Generator) -> _Group:
    return _drawer_unit(rng, float(rng.uniform(0.4, 0.55)), float(rng.uniform(0.35, 0.45)),
                        float(rng.uniform(0.45, 0.65)), 32, int(rng.integers(1, 3)))


def _dresser(rng: np.random.Generator) -> _Group:
    return _drawer_unit(rng, float(rng.uniform(0.8, 1.6)), float(rng.uniform(0.42, 0.55)),
                        float(rng.uniform(0.75, 1.15)), 17, int(rng.integers(3, 5)))


def _cabinet(rng: np.random.Generator, h: float | None = None, label: int = 3) -> _Group:
    g = _Group()
    w = float(rng.uniform(0.5, 1.2))
    d = float(rng.uniform(0.35, 0.6))
    h = h if h is not None else float(rng.choice([rng.uniform(0.7, 1.0),
                                                  rng.uniform(1.6, 2.1)]))
    mat = replace(_furniture_mat(rng, "doors"), alt=_colour(rng, "metal"),
                  scale=2.0 if w > 0.6 else 1.0)
    g.add(-w / 2 + 0.02, w / 2 - 0.02, 0.0, 0.07, -d / 2, d / 2 - 0.03, label,
          Material(tuple(0.4 * c for c in mat.rgb), "plain", scale=0.3))
    g.add(-w / 2, w / 2, 0.07, h, -d / 2, d / 2, label, mat)
    return g


def _chair(rng: np.random.Generator) -> _Group:
    g = _Group()
    w = float(rng.uniform(0.4, 0.5))
    d = float(rng.uniform(0.4, 0.48))
    seat_y = float(rng.uniform(0.42, 0.48))
    office = rng.random() < 0.3
    body = (_mat(rng, "fabric", "fabric", scale=0.2) if office or rng.random() < 0.4
            else _furniture_mat(rng))
    legs = _mat(rng, "metal", "metal", specular=0.3) if office else body
    if office:
        g.add(-0.03, 0.03, 0.08, seat_y - 0.05, -0.03, 0.03, 5, legs)
        g.add(-0.3, 0.3, 0.03, 0.08, -0.03, 0.03, 5, legs)
        g.add(-0.03, 0.03, 0.03, 0.08, -0.3, 0.3, 5, legs)
        g.add(-w / 2, w / 2, seat_y - 0.06, seat_y + 0.02, -d / 2, d / 2, 5, body)
        back_h = float(rng.uniform(0.45, 0.65))
    else:
        t = float(rng.uniform(0.028, 0.045))
        _legs(g, -w / 2, w / 2, -d / 2, d / 2, seat_y - 0.04, t, 5, legs, 0.01)
        g.add(-w / 2, w / 2, seat_y - 0.04, seat_y, -d / 2, d / 2, 5, body)
        back_h = float(rng.uniform(0.35, 0.5))
    if rng.random() < 0.9:
        g.add(-w / 2, w / 2, seat_y, seat_y + back_h, -d / 2, -d / 2 + 0.04, 5, body)
    if rng.random() < 0.12:
        g.add(-w / 2 + 0.05, w / 2 - 0.05, seat_y, seat_y + 0.08, -d / 2 + 0.05, d / 2 - 0.1,
              21, _mat(rng, "fabric", "fabric", scale=0.1))
    return g


def _sofa(rng: np.random.Generator, armchair: bool = False) -> _Group:
    g = _Group()
    w = float(rng.uniform(0.8, 1.0) if armchair else rng.uniform(1.6, 2.4))
    d = float(rng.uniform(0.8, 0.95))
    fabric = _mat(rng, "fabric", "fabric", scale=0.25)
    feet = _wood(rng, "wood_dark")
    _legs(g, -w / 2, w / 2, -d / 2, d / 2, 0.08, 0.05, 6, feet, 0.04)
    arm = float(rng.uniform(0.12, 0.22))
    seat_y = float(rng.uniform(0.4, 0.46))
    back_t = float(rng.uniform(0.18, 0.25))
    g.add(-w / 2, w / 2, 0.08, seat_y - 0.1, -d / 2, d / 2, 6, fabric)
    g.add(-w / 2, w / 2, 0.08, float(rng.uniform(0.75, 0.9)), -d / 2, -d / 2 + back_t, 6,
          fabric)
    arm_y = float(rng.uniform(0.55, 0.66))
    for ax in (-w / 2, w / 2 - arm):
        g.add(ax, ax + arm, 0.08, arm_y, -d / 2, d / 2, 6, fabric)
    n = 1 if armchair else int(rng.integers(2, 4))
    inner = w - 2 * arm
    cw = inner / n
    for i in range(n):
        cx = -w / 2 + arm + i * cw
        g.add(cx + 0.005, cx + cw - 0.005, seat_y - 0.1, seat_y, -d / 2 + back_t, d / 2 - 0.01,
              6, fabric)
    for _ in range(int(rng.integers(0, 3 if armchair else 4)) if inner > 0.5 else 0):
        px = float(rng.uniform(-w / 2 + arm, w / 2 - arm - 0.45))
        g.add(px, px + float(rng.uniform(0.35, 0.45)), seat_y, seat_y + float(
            rng.uniform(0.3, 0.42)), -d / 2 + back_t, -d / 2 + back_t + 0.12, 18,
            _mat(rng, "fabric", "fabric" if rng.random() < 0.6 else "art", scale=0.15))
    return g


def _table(rng: np.random.Generator, coffee: bool = False, side: bool = False) -> _Group:
    g = _Group()
    if coffee:
        w, d, h = (float(rng.uniform(0.8, 1.3)), float(rng.uniform(0.45, 0.7)),
                   float(rng.uniform(0.38, 0.48)))
    elif side:
        w = d = float(rng.uniform(0.4, 0.6))
        h = float(rng.uniform(0.5, 0.7))
    else:
        w, d, h = (float(rng.uniform(1.0, 1.9)), float(rng.uniform(0.7, 1.0)),
                   float(rng.uniform(0.72, 0.78)))
    top_t = float(rng.uniform(0.025, 0.05))
    mat = (_mat(rng, "paint", "stone", scale=0.3, specular=0.15) if rng.random() < 0.15
           else _furniture_mat(rng))
    legs = mat if rng.random() < 0.6 else _mat(rng, "metal", "metal", specular=0.3)
    _legs(g, -w / 2, w / 2, -d / 2, d / 2, h - top_t, float(rng.uniform(0.04, 0.07)), 7,
          legs, float(rng.uniform(0.02, 0.08)))
    g.add(-w / 2, w / 2, h - top_t, h, -d / 2, d / 2, 7, mat)
    if coffee and rng.random() < 0.5:
        g.add(-w / 2 + 0.06, w / 2 - 0.06, 0.08, 0.1, -d / 2 + 0.06, d / 2 - 0.06, 7, mat)
    return g


def _desk(rng: np.random.Generator) -> _Group:
    g = _Group()
    w, d, h = (float(rng.uniform(1.0, 1.6)), float(rng.uniform(0.55, 0.75)),
               float(rng.uniform(0.72, 0.76)))
    mat = _furniture_mat(rng)
    drawers = replace(mat, kind="drawers", alt=_colour(rng, "metal"), scale=3.0)
    g.add(-w / 2, w / 2, h - 0.03, h, -d / 2, d / 2, 14, mat)
    pw = float(rng.uniform(0.35, 0.45))
    side = 1.0 if rng.random() < 0.5 else -1.0
    px0, px1 = sorted((side * (w / 2 - 0.01), side * (w / 2 - 0.01 - pw)))
    g.add(px0, px1, 0.0, h - 0.03, -d / 2 + 0.02, d / 2 - 0.02, 14, drawers)
    sx0, sx1 = sorted((-side * (w / 2 - 0.01), -side * (w / 2 - 0.04)))
    g.add(sx0, sx1, 0.0, h - 0.03, -d / 2 + 0.02, d / 2 - 0.02, 14, mat)
    g.add(min(px0, sx0), max(px1, sx1), h - 0.45, h - 0.03, -d / 2 + 0.02, -d / 2 + 0.04, 14,
          mat)
    return g


def _book_row(g: _Group, rng: np.random.Generator, x0: float, x1: float, y0: float,
              max_h: float, z0: float, z1: float) -> None:
    """Fill [x0, x1] on a board at y0 with a few runs of upright books (and gaps)."""
    x = x0 + float(rng.uniform(0.0, 0.1))
    while x < x1 - 0.12:
        run = float(rng.uniform(0.12, 0.5))
        run = min(run, x1 - x)
        h = float(rng.uniform(0.6, 1.0)) * max_h
        depth = float(rng.uniform(0.6, 1.0)) * (z1 - z0)
        if rng.random() < 0.8:
            g.add(x, x + run, y0, y0 + h, z0, z0 + depth, 23,
                  Material((0.3, 0.3, 0.3), "books", scale=float(rng.uniform(0.025, 0.045))))
        elif rng.random() < 0.5:
            bw = min(run, float(rng.uniform(0.2, 0.35)))
            g.add(x, x + bw, y0, y0 + min(max_h, float(rng.uniform(0.12, 0.3))), z0,
                  z0 + depth, 29, _mat(rng, "cardboard", "cardboard", scale=0.3))
        else:
            bw = min(run, float(rng.uniform(0.06, 0.15)))
            g.add(x, x + bw, y0, y0 + min(max_h, float(rng.uniform(0.08, 0.25))), z0 + 0.02,
                  z0 + 0.02 + bw, 40, _mat(rng, "plain", "plastic", scale=0.1,
                                           specular=0.2))
        x += run + float(rng.uniform(0.0, 0.15))


def _bookshelf(rng: np.random.Generator, label: int = 10, with_back: bool = True) -> _Group:
    g = _Group()
    w, d, h = (float(rng.uniform(0.6, 1.2)), float(rng.uniform(0.28, 0.36)),
               float(rng.uniform(1.2, 2.1)))
    mat = (_furniture_mat(rng) if label == 10 else
           _mat(rng, "metal", "metal", specular=0.3))
    t = 0.02 if label == 10 else 0.03
    g.add(-w / 2, -w / 2 + t, 0.0, h, -d / 2, d / 2, label, mat)
    g.add(w / 2 - t, w / 2, 0.0, h, -d / 2, d / 2, label, mat)
    if with_back:
        g.add(-w / 2 + t, w / 2 - t, 0.0, h, -d / 2, -d / 2 + 0.012, label, mat)
    n = max(2, int(round((h - 0.1) / float(rng.uniform(0.3, 0.4)))))
    gap = (h - 0.06) / n
    for i in range(n + 1):
        y = 0.04 + i * gap
        g.add(-w / 2 + t, w / 2 - t, y - 0.02, y, -d / 2 + 0.012, d / 2, label, mat)
        if i < n and rng.random() < 0.85:
            _book_row(g, rng, -w / 2 + t, w / 2 - t, y, gap - 0.04, -d / 2 + 0.015,
                      d / 2 - 0.02)
    return g


def _wall_shelves(rng: np.random.Generator, y_first: float) -> tuple[_Group, float]:
    g = _Group()
    w, d = float(rng.uniform(0.6, 1.3)), float(rng.uniform(0.2, 0.3))
    mat = _furniture_mat(rng)
    n = int(rng.integers(1, 4))
    gap = float(rng.uniform(0.3, 0.4))
    for i in range(n):
        y = y_first + i * gap
        g.add(-w / 2, w / 2, y - 0.025, y, 0.0, d, 15, mat)
        if rng.random() < 0.8:
            _book_row(g, rng, -w / 2, w / 2, y, gap - 0.06, 0.005, d - 0.01)
    return g, y_first + (n - 1) * gap + 0.3


def _lamp(rng: np.random.Generator, floor: bool) -> _Group:
    g = _Group()
    base = _mat(rng, "metal", "metal", specular=0.35)
    shade = Material(_colour(rng, "bedding"), "shade", scale=0.1,
                     emission=float(rng.uniform(0.15, 0.5)))
    if floor:
        pole_h = float(rng.uniform(1.3, 1.6))
        g.add(-0.15, 0.15, 0.0, 0.03, -0.15, 0.15, 35, base)
        g.add(-0.015, 0.015, 0.03, pole_h, -0.015, 0.015, 35, base)
        sw = float(rng.uniform(0.16, 0.24))
        g.add(-sw, sw, pole_h - 0.05, pole_h + float(rng.uniform(0.22, 0.32)), -sw, sw, 35,
              shade, shadow=False)
    else:
        g.add(-0.07, 0.07, 0.0, 0.03, -0.07, 0.07, 35, base)
        stem = float(rng.uniform(0.18, 0.3))
        g.add(-0.015, 0.015, 0.03, stem, -0.015, 0.015, 35, base)
        sw = float(rng.uniform(0.1, 0.16))
        g.add(-sw, sw, stem - 0.03, stem + float(rng.uniform(0.15, 0.22)), -sw, sw, 35, shade,
              shadow=False)
    return g


def _cardboard_box(rng: np.random.Generator, big: bool = False) -> _Group:
    g = _Group()
    s = 1.6 if big else 1.0
    w, d, h = (float(rng.uniform(0.2, 0.5)) * s, float(rng.uniform(0.2, 0.4)) * s,
               float(rng.uniform(0.12, 0.35)) * s)
    mat = (_mat(rng, "cardboard", "cardboard", scale=0.3) if rng.random() < 0.7
           else _mat(rng, "plain", "plastic", scale=0.2, specular=0.15))
    g.add(-w / 2, w / 2, 0.0, h, -d / 2, d / 2, 29, mat)
    if big and rng.random() < 0.5:
        w2 = w * float(rng.uniform(0.6, 0.95))
        g.add(-w2 / 2, w2 / 2, h, h + h * float(rng.uniform(0.5, 0.9)), -d / 2 + 0.02,
              d / 2 - 0.03, 29, _mat(rng, "cardboard", "cardboard", scale=0.3))
    return g


def _prop(rng: np.random.Generator) -> _Group:
    """Small clutter for tops (otherprop, books, paper, boxes)."""
    g = _Group()
    r = rng.random()
    if r < 0.28:
        w = float(rng.uniform(0.05, 0.12))
        g.add(-w / 2, w / 2, 0.0, float(rng.uniform(0.08, 0.32)), -w / 2, w / 2, 40,
              _mat(rng, "plain", "plastic" if rng.random() < 0.6 else "art", scale=0.1,
                   specular=0.3))
    elif r < 0.4:
        pw = float(rng.uniform(0.1, 0.2))
        g.add(-pw / 2, pw / 2, 0.0, float(rng.uniform(0.1, 0.2)), -pw / 2, pw / 2, 40,
              _mat(rng, "plain", "cardboard" if rng.random() < 0.5 else "plastic",
                   scale=0.1))
        _foliage(g, rng, pw, 0.1)
    elif r < 0.55:
        w, d = float(rng.uniform(0.15, 0.3)), float(rng.uniform(0.2, 0.3))
        n = int(rng.integers(1, 5))
        y = 0.0
        for _ in range(n):
            th = float(rng.uniform(0.02, 0.05))
            dx = float(rng.uniform(-0.02, 0.02))
            g.add(-w / 2 + dx, w / 2 + dx, y, y + th, -d / 2, d / 2, 23,
                  _mat(rng, "plain", "books", scale=0.1))
            y += th
    elif r < 0.67:
        g.add(-0.105, 0.105, 0.0, float(rng.uniform(0.002, 0.02)), -0.15, 0.15, 26,
              _mat(rng, "paper", "paper", scale=0.1))
    elif r < 0.8:
        return _cardboard_box(rng)
    elif r < 0.9:
        w = float(rng.uniform(0.1, 0.25))
        g.add(-w / 2, w / 2, 0.0, float(rng.uniform(0.1, 0.25)), -w / 2, w / 2, 40,
              _mat(rng, "metal", "metal", specular=0.4))
    else:
        g.add(-0.2, 0.2, 0.0, 0.02, -0.08, 0.08, 40, _mat(rng, "plain", "plastic", scale=0.1))
    return g


def _foliage(g: _Group, rng: np.random.Generator, width: float, y: float) -> None:
    """A plant's leaves as a few stacked, shrinking, offset boxes (otherprop)."""
    leaves = _mat(rng, "foliage", "foliage", scale=0.03)
    for _ in range(int(rng.integers(2, 4))):
        h = width * float(rng.uniform(0.5, 0.9))
        ox, oz = (float(v) for v in rng.uniform(-0.15, 0.15, 2) * width)
        g.add(ox - width / 2, ox + width / 2, y, y + h, oz - width / 2, oz + width / 2, 40,
              leaves)
        y += h * 0.8
        width *= float(rng.uniform(0.55, 0.8))


def _monitor(rng: np.random.Generator, tv: bool = False) -> _Group:
    g = _Group()
    label = 25 if tv else 40
    w = float(rng.uniform(0.8, 1.4) if tv else rng.uniform(0.45, 0.65))
    h = w * 0.58
    lift = float(rng.uniform(0.05, 0.12))
    body = Material((0.02, 0.02, 0.022), "plain", specular=0.2)
    screen = Material((0.015, 0.015, 0.02), "screen", _colour(rng, "sky"), 0.02,
                      specular=0.6, emission=float(rng.choice([0.0, 0.0, 0.6])),
                      dropout=0.6)
    g.add(-w * 0.18, w * 0.18, 0.0, 0.015, -0.1, 0.1, label, body)
    g.add(-0.025, 0.025, 0.015, lift + 0.05, -0.04, 0.0, label, body)
    g.add(-w / 2, w / 2, lift, lift + h, -0.01, 0.03 if not tv else 0.05, label, screen)
    if not tv and rng.random() < 0.7:
        g.add(-0.22, 0.22, 0.0, 0.02, 0.15, 0.3, 40, body)
    return g


def _floor_thing(rng: np.random.Generator) -> _Group:
    """Furniture-ish or prop-ish things standing on the floor (39, 40, 37, 29)."""
    g = _Group()
    r = rng.random()
    if r < 0.25:
        return _cardboard_box(rng, big=True)
    if r < 0.4:
        w = float(rng.uniform(0.25, 0.4))
        g.add(-w / 2, w / 2, 0.0, float(rng.uniform(0.3, 0.5)), -0.12, 0.12, 37,
              _mat(rng, "fabric", "fabric", scale=0.1))
    elif r < 0.55:
        w = float(rng.uniform(0.25, 0.35))
        g.add(-w / 2, w / 2, 0.0, float(rng.uniform(0.3, 0.45)), -w / 2, w / 2, 40,
              _mat(rng, "plain", "plastic", scale=0.2, specular=0.2))
    elif r < 0.7:
        w = float(rng.uniform(0.3, 0.4))
        g.add(-w / 2, w / 2, 0.0, float(rng.uniform(0.2, 0.3)), -w / 2, w / 2, 40,
              _mat(rng, "plain", "cardboard", scale=0.2))
        _foliage(g, rng, w * 1.25, 0.25)
    elif r < 0.85:
        w = float(rng.uniform(0.4, 0.6))
        g.add(-w / 2, w / 2, 0.0, float(rng.uniform(0.35, 0.45)), -w / 2, w / 2, 39,
              _mat(rng, "fabric", "fabric", scale=0.2))
    else:
        w, d, h = (float(rng.uniform(0.4, 0.8)), float(rng.uniform(0.3, 0.45)),
                   float(rng.uniform(0.5, 0.9)))
        mat = _mat(rng, "metal", "metal", specular=0.3)
        _legs(g, -w / 2, w / 2, -d / 2, d / 2, h, 0.025, 39, mat)
        for y in (0.1, h / 2, h):
            g.add(-w / 2, w / 2, y - 0.02, y, -d / 2, d / 2, 39, mat)
    return g


def _wall_flat(w: float, y0: float, y1: float, t: float,
               label: int, mat: Material) -> _Group:
    return _Group().add(-w / 2, w / 2, y0, y1, 0.0, t, label, mat)
