"""Room layouts: doors, windows, wall fittings and the furniture recipe of each room type."""

from __future__ import annotations

import math
from dataclasses import replace

from .furniture import (_bed, _bookshelf, _cabinet, _chair, _desk, _dresser, _floor_thing, _lamp,
                        _monitor, _night_stand, _prop, _sofa, _table, _wall_flat, _wall_shelves)
from .materials import Material, _colour, _furniture_mat, _mat
from .placement import _Group, _Layout, _overlap
from .scene import Box


def _add_door(L: _Layout) -> None:
    rng = L.rng
    w, h = float(rng.uniform(0.78, 0.95)), float(rng.uniform(1.98, 2.12))
    painted = rng.random() < 0.6
    leaf = _mat(rng, "door", "painted" if painted else "wood_mid", "metal", scale=w,
                specular=0.08, grain=0.0 if painted else 0.2)
    trim = Material(tuple(0.9 * c for c in leaf.rgb), "paint", scale=0.3)
    g = _Group().add(-w / 2, w / 2, 0.0, h, 0.0, 0.035, 8, leaf)
    g.add(-w / 2 - 0.07, -w / 2, 0.0, h + 0.07, 0.0, 0.02, 8, trim)
    g.add(w / 2, w / 2 + 0.07, 0.0, h + 0.07, 0.0, 0.02, 8, trim)
    g.add(-w / 2, w / 2, h, h + 0.07, 0.0, 0.02, 8, trim)
    for _ in range(20):
        k = int(rng.integers(4))
        length = L.wall_len(k)
        s = float(rng.uniform(w / 2 + 0.15, length - w / 2 - 0.15))
        if not L.wall_free(k, s - w / 2 - 0.1, s + w / 2 + 0.1, 0.0, h + 0.1, 0.1):
            continue
        x, z, yaw = L.wall_pose(k, s, 0.0)
        fp = L.footprint((-w / 2 - 0.1, w / 2 + 0.1, 0.0, 0.85), x, z, yaw)
        if not L.floor_free(fp, 0.0):
            continue
        L.emit(g, x, z, yaw)
        L.wall_rects[k].append((s - w / 2 - 0.07, s + w / 2 + 0.07, 0.0, h + 0.07))
        L.floor_rects.append(fp)
        return


def _add_window(L: _Layout, dress: str | None = None) -> None:
    rng = L.rng
    w = float(rng.uniform(0.7, 2.0))
    sill = float(rng.uniform(0.75, 1.05))
    top = min(L.sy - 0.2, float(rng.uniform(1.9, 2.3)))
    frame = _mat(rng, "window", "sky", scale=float(rng.choice([1.0, 2.0, 3.0])),
                 emission=float(rng.uniform(3.0, 5.0)), dropout=0.9)
    frame = Material(frame.rgb, "window", _colour(rng, "painted"), frame.scale,
                     emission=frame.emission, dropout=frame.dropout)
    dress = dress or str(rng.choice(["none", "curtain", "blinds", "curtain"]))
    g = _Group().add(-w / 2, w / 2, sill, top, 0.0, 0.03, 9, frame, shadow=False)
    g.add(-w / 2 - 0.05, w / 2 + 0.05, sill - 0.03, sill, 0.0, 0.1, 9,
          Material(frame.alt, "paint", scale=0.3))
    y0, pad = sill - 0.05, 0.05
    if dress == "curtain":
        cur = _mat(rng, "curtain", "fabric" if rng.random() < 0.6 else "bedding",
                   scale=float(rng.uniform(0.08, 0.14)))
        cw = float(rng.uniform(0.25, 0.5))
        floor_len = rng.random() < 0.5
        cy0 = 0.03 if floor_len else sill - 0.15
        for sgn in (-1.0, 1.0):
            a, b = sorted((sgn * (w / 2 + 0.15), sgn * (w / 2 + 0.15 - cw)))
            g.add(a, b, cy0, top + 0.15, 0.1, 0.16, 16, cur, shadow=False)
        g.add(-w / 2 - 0.2, w / 2 + 0.2, top + 0.15, top + 0.18, 0.08, 0.12, 16, cur,
              shadow=False)
        y0, pad = (0.0 if floor_len else cy0), 0.25
    elif dress == "blinds":
        bl = _mat(rng, "blinds", "painted" if rng.random() < 0.7 else "wood_light",
                  scale=float(rng.uniform(0.02, 0.05)))
        drop = float(rng.uniform(0.15, 1.0)) * (top - sill)
        g.add(-w / 2, w / 2, top - drop, top, 0.035, 0.05, 13, bl, shadow=False)
    for _ in range(20):
        k = int(rng.integers(4))
        length = L.wall_len(k)
        if w + 2 * pad + 0.3 > length:
            continue
        s = float(rng.uniform(w / 2 + pad + 0.1, length - w / 2 - pad - 0.1))
        if not L.wall_free(k, s - w / 2 - pad, s + w / 2 + pad, y0, top + 0.2, 0.05):
            continue
        x, z, yaw = L.wall_pose(k, s, 0.002)
        L.emit(g, x, z, yaw)
        L.wall_rects[k].append((s - w / 2 - pad, s + w / 2 + pad, y0, top + 0.2))
        return


def _wall_art(L: _Layout, n: int) -> None:
    rng = L.rng
    for _ in range(n):
        w = float(rng.uniform(0.3, 1.1))
        h = w * float(rng.uniform(0.6, 1.3))
        y0 = float(rng.uniform(1.1, 1.6))
        if y0 + h > L.sy - 0.2:
            continue
        art = Material(_colour(rng, "art"), "picture", _colour(rng, "wood_dark" if
                       rng.random() < 0.5 else "painted"), float(rng.uniform(0.02, 0.07)),
                       specular=0.1)
        L.on_wall(_wall_flat(w, y0, y0 + h, float(rng.uniform(0.015, 0.04)), 11, art),
                  y0, y0 + h)


def _mirror(L: _Layout, over: tuple | None = None) -> None:
    rng = L.rng
    w = float(rng.uniform(0.4, 0.9))
    y0 = float(rng.uniform(1.1, 1.3)) if over is None else over[2] + 0.15
    y1 = min(L.sy - 0.25, y0 + float(rng.uniform(0.6, 1.0)))
    mat = Material(_colour(rng, "sky"), "mirror", _colour(rng, "wood_mid"), 0.04,
                   specular=0.8, dropout=0.85)
    g = _wall_flat(w, y0, y1, 0.02, 19, mat)
    if over is not None:
        L.on_wall(g, y0, y1, k=over[0], s=over[1])
    else:
        L.on_wall(g, y0, y1)


def _furnish_bedroom(L: _Layout) -> None:
    rng = L.rng
    bed = _bed(rng)
    placed = L.against_wall(bed, reserve_front=0.5)
    if placed:
        _, _, _, k, s = placed
        x0, x1, _, _, _ = bed.bounds()
        for sgn in (-1.0, 1.0):
            if rng.random() < 0.75:
                ns = _night_stand(rng)
                nx0, nx1, nz0, nz1, nh = ns.bounds()
                s_ns = s + sgn * ((x1 - x0) / 2 + 0.06 + (nx1 - nx0) / 2)
                got = L.against_wall(ns, walls=[k], s=s_ns, tries=1)
                if got:
                    L.add_surface((nx0, nx1, nz0, nz1), got[0], got[1], got[2], nh)
                    if rng.random() < 0.6:
                        L.on_surface(_lamp(rng, False), surfaces=[L.surfaces[-1]])
    if rng.random() < 0.75:
        dr = _dresser(rng)
        got = L.against_wall(dr, reserve_front=0.5)
        if got:
            x0, x1, z0, z1, h = dr.bounds()
            L.add_surface((x0, x1, z0, z1), got[0], got[1], got[2], h)
            if rng.random() < 0.5:
                _mirror(L, over=(got[3], got[4], h))
    if rng.random() < 0.5:
        _add_cabinet(L, tall=True)
    if rng.random() < 0.4:
        _desk_corner(L)
    if rng.random() < 0.5:
        _rug(L)
    if rng.random() < 0.3:
        _add_shelves(L)
    if rng.random() < 0.2:
        _mirror(L)


def _add_cabinet(L: _Layout, tall: bool | None = None) -> None:
    rng = L.rng
    h = None if tall is None else (float(rng.uniform(1.7, 2.1)) if tall
                                   else float(rng.uniform(0.7, 1.0)))
    cab = _cabinet(rng, h=min(h, L.sy - 0.3) if h else None)
    got = L.against_wall(cab, reserve_front=0.5)
    if got:
        x0, x1, z0, z1, hh = cab.bounds()
        if hh < 1.3:
            L.add_surface((x0, x1, z0, z1), got[0], got[1], got[2], hh)


def _desk_corner(L: _Layout) -> None:
    rng = L.rng
    desk = _desk(rng)
    got = L.against_wall(desk, reserve_front=0.7)
    if not got:
        return
    x0, x1, z0, z1, h = desk.bounds()
    L.add_surface((x0, x1, z0, z1), got[0], got[1], got[2], h)
    surf = L.surfaces[-1]
    L.on_surface(_monitor(rng), surfaces=[surf], turn=False)
    chair = _chair(rng)
    cx, cz = L.to_world(got[0], got[1], got[2], float(rng.uniform(-0.2, 0.2)),
                        z1 + float(rng.uniform(0.2, 0.45)))
    desk_rect = L.floor_rects.pop()  # the chair may stand in the desk's reserved front
    _place_at(L, chair, cx, cz, got[2] + math.pi + float(rng.uniform(-0.5, 0.5)))
    L.floor_rects.append(desk_rect)
    if rng.random() < 0.5:
        L.on_surface(_lamp(rng, False), surfaces=[surf])


def _place_at(L: _Layout, g: _Group, x: float, z: float, yaw: float) -> bool:
    x0, x1, z0, z1, _ = g.bounds()
    fp = L.footprint((x0, x1, z0, z1), x, z, yaw)
    if not L.floor_free(fp, 0.0):
        return False
    L.emit(g, x, z, yaw)
    L.floor_rects.append(fp)
    return True


def _rug(L: _Layout, region: tuple | None = None) -> None:
    rng = L.rng
    w, d = float(rng.uniform(1.2, 2.8)), float(rng.uniform(0.8, 2.0))
    if region is not None:
        cx, cz = 0.5 * (region[0] + region[1]), 0.5 * (region[2] + region[3])
        w, d = region[1] - region[0] + 0.6, region[3] - region[2] + 0.6
    else:
        cx = float(rng.uniform(w / 2 + 0.2, max(w / 2 + 0.21, L.sx - w / 2 - 0.2)))
        cz = float(rng.uniform(d / 2 + 0.2, max(d / 2 + 0.21, L.sz - d / 2 - 0.2)))
    fp = (cx - w / 2, cx + w / 2, cz - d / 2, cz + d / 2)
    if not L.inside(fp, 0.1) or any(_overlap(fp, r) for r in L.mat_rects):
        return
    mat = Material(_colour(rng, "rug"), "rug", _colour(rng, "rug"),
                   float(rng.uniform(0.05, 0.2)))
    L.boxes.append(Box((cx, 0.006, cz), (w / 2, 0.006, d / 2), 0.0, 20, mat, False,
                       int(rng.integers(2**31))))
    L.mat_rects.append(fp)


def _add_shelves(L: _Layout) -> None:
    g, top = _wall_shelves(L.rng, float(L.rng.uniform(1.1, 1.5)))
    L.on_wall(g, 1.0, min(top, L.sy - 0.1))


def _furnish_living(L: _Layout) -> None:
    rng = L.rng
    sofa = _sofa(rng)
    got = L.against_wall(sofa, reserve_front=1.0)
    if got:
        x, z, yaw, k, _ = got
        ctab = _table(rng, coffee=True)
        cz_off = sofa.bounds()[3] + float(rng.uniform(0.35, 0.5)) - ctab.bounds()[2]
        cx, cz = L.to_world(x, z, yaw, 0.0, cz_off)
        L.floor_rects.pop()
        L.floor_rects.append(L.footprint(sofa.bounds()[:4], x, z, yaw))
        if _place_at(L, ctab, cx, cz, yaw):
            b = ctab.bounds()
            L.add_surface(b[:4], cx, cz, yaw, b[4])
            for _ in range(int(rng.integers(0, 4))):
                L.on_surface(_prop(rng), surfaces=[L.surfaces[-1]])
            if rng.random() < 0.6:
                fp = L.footprint(b[:4], cx, cz, yaw)
                _rug(L, fp)
        _tv(L, (k + 2) % 4)
    for _ in range(int(rng.integers(0, 3))):
        arm = _sofa(rng, armchair=True)
        L.against_wall(arm, reserve_front=0.4) if rng.random() < 0.5 else \
            L.free_standing(arm, jitter=0.4)
    if rng.random() < 0.5:
        shelf = _bookshelf(rng)
        L.against_wall(shelf, reserve_front=0.4)
    if rng.random() < 0.6:
        L.against_wall(_lamp(rng, True), gap=0.2)
    for _ in range(int(rng.integers(0, 3))):
        side = _table(rng, side=True)
        got = L.against_wall(side) if rng.random() < 0.6 else L.free_standing(side)
        if got:
            b = side.bounds()
            L.add_surface(b[:4], got[0], got[1], got[2], b[4])
    if rng.random() < 0.4:
        _add_cabinet(L)


def _tv(L: _Layout, wall: int) -> None:
    """A TV on a low stand (cabinet / otherfurniture) facing the sofa, else on the wall."""
    rng = L.rng
    tv = _monitor(rng, tv=True)
    tv_w = tv.bounds()[1] - tv.bounds()[0]
    stand = _Group()
    w, d, h = tv_w + float(rng.uniform(0.1, 0.6)), float(rng.uniform(0.38, 0.5)), \
        float(rng.uniform(0.4, 0.6))
    mat = replace(_furniture_mat(rng, "doors"), alt=_colour(rng, "metal"), scale=2.0)
    stand.add(-w / 2, w / 2, 0.0, h, -d / 2, d / 2, 3 if rng.random() < 0.6 else 39, mat)
    for walls in ([wall], None):
        got = L.against_wall(stand, walls=walls, reserve_front=0.3, tries=20)
        if got:
            L.add_surface((-w / 2, w / 2, -d / 2, d / 2), got[0], got[1], got[2], h, 0.0)
            L.on_surface(tv, surfaces=[L.surfaces[-1]], turn=False, tries=20)
            return
    y0 = float(rng.uniform(0.9, 1.2))
    screen = _Group()
    for part in tv.parts[-1:]:
        (x0, x1, _, _, _, _), _, mat, _ = part
        screen.add(x0, x1, y0, y0 + 0.58 * (x1 - x0), 0.0, 0.05, 25, mat)
    L.on_wall(screen, y0, y0 + 0.58 * tv_w, walls=[wall])


def _furnish_office(L: _Layout) -> None:
    rng = L.rng
    for _ in range(int(rng.integers(1, 4))):
        _desk_corner(L)
    if rng.random() < 0.5:
        desk = _desk(rng)
        got = L.free_standing(desk)
        if got:
            b = desk.bounds()
            L.add_surface(b[:4], got[0], got[1], got[2], b[4])
            L.on_surface(_monitor(rng), surfaces=[L.surfaces[-1]], turn=False)
    for _ in range(int(rng.integers(0, 3))):
        _add_cabinet(L)
    if rng.random() < 0.6:
        L.against_wall(_bookshelf(rng, 10 if rng.random() < 0.6 else 15), reserve_front=0.4)
    if rng.random() < 0.6:
        w = float(rng.uniform(1.0, 2.0))
        y0 = float(rng.uniform(0.85, 1.0))
        y1 = min(L.sy - 0.3, y0 + float(rng.uniform(0.8, 1.2)))
        mat = Material(_colour(rng, "paper"), "whiteboard", _colour(rng, "metal"), 0.03,
                       specular=0.35)
        L.on_wall(_wall_flat(w, y0, y1, 0.025, 30, mat), y0, y1)
    if rng.random() < 0.3:
        _add_shelves(L)


def _counter_run(L: _Layout, k: int, run: float, base_mat: Material, top_mat: Material,
                 sink: bool) -> bool:
    """Base units + worktop (+ sink) along wall ``k``, wall units above; True if placed."""
    rng = L.rng
    g = _Group()
    d, h = 0.6, 0.9
    g.add(-run / 2, run / 2, 0.0, 0.08, 0.0, d - 0.06, 3,
          Material(tuple(0.3 * c for c in base_mat.rgb), "plain", scale=0.3))
    units = max(1, int(run / 0.6))
    uw = run / units
    for i in range(units):
        g.add(-run / 2 + i * uw + 0.002, -run / 2 + (i + 1) * uw - 0.002, 0.08, h - 0.04,
              0.0, d - 0.02, 3, base_mat)
    g.add(-run / 2, run / 2, h - 0.04, h, 0.0, d + 0.02, 12, top_mat)
    if sink:
        sx = float(rng.uniform(-run / 2 + 0.35, run / 2 - 0.35))
        metal = _mat(rng, "metal", "metal", specular=0.5)
        g.add(sx - 0.28, sx + 0.28, h, h + 0.012, 0.1, 0.5, 34, metal)
        g.add(sx - 0.02, sx + 0.02, h, h + 0.3, 0.04, 0.08, 34, metal)
        g.add(sx - 0.02, sx + 0.02, h + 0.26, h + 0.3, 0.08, 0.25, 34, metal)
    got = L.against_wall(g, walls=[k], tries=8, reserve_front=0.6, wall_height=h)
    if not got:
        return False
    x, z, yaw, _, s = got
    L.add_surface((-run / 2, run / 2, 0.05, d - 0.02), x, z, yaw, h)
    if rng.random() < 0.8:
        upper = _Group()
        uy0 = float(rng.uniform(1.45, 1.55))
        uy1 = min(L.sy - 0.05, uy0 + float(rng.uniform(0.6, 0.8)))
        for i in range(units):
            upper.add(-run / 2 + i * uw + 0.002, -run / 2 + (i + 1) * uw - 0.002, uy0, uy1,
                      0.0, 0.35, 3, base_mat)
        L.on_wall(upper, uy0, uy1, k=k, s=s, pad=0.0)
    return True


def _furnish_kitchen(L: _Layout) -> None:
    rng = L.rng
    base_mat = replace(_furniture_mat(rng, "doors"), alt=_colour(rng, "metal"), scale=2.0)
    top_mat = _mat(rng, "stone", "stone", scale=0.02, specular=0.25)
    walls = [int(k) for k in rng.permutation(4)]
    placed = 0
    for k in walls:
        length = L.wall_len(k)
        run = min(float(rng.uniform(1.2, max(1.3, length - 0.6))), length - 0.1)
        while run >= 0.9 and not _counter_run(L, k, run, base_mat, top_mat, placed == 0):
            run *= 0.7
        placed += run >= 0.9
        if placed >= 2 or (placed == 1 and rng.random() < 0.5):
            break
    fridge = _Group()
    fw = float(rng.uniform(0.6, 0.9))
    body = _colour(rng, "metal") if rng.random() < 0.5 else _colour(rng, "paper")
    fridge.add(-fw / 2, fw / 2, 0.0, float(rng.uniform(1.6, 1.9)), 0.0, 0.68, 24,
               Material(body, "fridge", _colour(rng, "metal"), 1.0, specular=0.4))
    L.against_wall(fridge, reserve_front=0.6)
    for _ in range(int(rng.integers(2, 8))):
        L.on_surface(_prop(rng))
    if rng.random() < 0.5 and min(L.sx, L.sz) > 3.2:
        _dining_set(L, small=True)
    if rng.random() < 0.4:
        _add_shelves(L)


def _dining_set(L: _Layout, small: bool = False) -> None:
    rng = L.rng
    table = _table(rng)
    if small:
        table = _table(rng, side=rng.random() < 0.3)
    x0, x1, z0, z1, h = table.bounds()
    got = L.free_standing(table, margin=1.0 if not small else 0.8)
    if not got:
        return
    tx, tz, tyaw = got
    L.add_surface((x0, x1, z0, z1), tx, tz, tyaw, h)
    surf = L.surfaces[-1]
    for _ in range(int(rng.integers(0, 5))):
        L.on_surface(_prop(rng), surfaces=[surf])
    chair = _chair(rng)
    w = x1 - x0
    n_side = max(1, int(w / 0.6))
    spots = []
    for i in range(n_side):
        lx = x0 + (i + 0.5) * w / n_side
        spots.append((lx, z1 + 0.12, math.pi))
        spots.append((lx, z0 - 0.12, 0.0))
    if rng.random() < 0.5:
        spots.append((x1 + 0.15, 0.0, -math.pi / 2))
        spots.append((x0 - 0.15, 0.0, math.pi / 2))
    table_rect = L.floor_rects.pop()  # chairs tuck under the table edge
    for lx, lz, yaw in spots:  # yaw turns a chair's front towards the table
        if rng.random() < 0.15:
            continue
        pull = float(rng.uniform(0.0, 0.25))
        dirx, dirz = math.sin(yaw), math.cos(yaw)
        wx, wz = L.to_world(tx, tz, tyaw, lx - dirx * pull, lz - dirz * pull)
        _place_at(L, chair, wx, wz, tyaw + yaw + float(rng.uniform(-0.2, 0.2)))
    L.floor_rects.append(table_rect)


def _furnish_dining(L: _Layout) -> None:
    rng = L.rng
    if rng.random() < 0.4:
        _rug(L)
    _dining_set(L)
    if rng.random() < 0.7:
        sb = _cabinet(rng, h=float(rng.uniform(0.8, 1.0)))
        got = L.against_wall(sb, reserve_front=0.5)
        if got:
            b = sb.bounds()
            L.add_surface(b[:4], got[0], got[1], got[2], b[4])
            for _ in range(int(rng.integers(0, 4))):
                L.on_surface(_prop(rng), surfaces=[L.surfaces[-1]])
    if rng.random() < 0.4:
        _add_cabinet(L, tall=True)
    if rng.random() < 0.4:
        L.against_wall(_lamp(rng, True), gap=0.2)


def _furnish_study(L: _Layout) -> None:
    rng = L.rng
    for _ in range(int(rng.integers(2, 5))):
        L.against_wall(_bookshelf(rng, 10 if rng.random() < 0.7 else 15), reserve_front=0.4)
    if rng.random() < 0.6:
        _desk_corner(L)
    else:
        _dining_set(L, small=True)
    if rng.random() < 0.5:
        L.free_standing(_sofa(rng, armchair=True), jitter=0.5)
    if rng.random() < 0.5:
        _rug(L)
    if rng.random() < 0.5:
        L.against_wall(_lamp(rng, True), gap=0.2)


def _fill(L: _Layout, room_type: str) -> None:
    """Extra furniture along the walls, more in big rooms, so rooms look lived in."""
    rng = L.rng
    perimeter = 2.0 * (L.sx + L.sz)
    for _ in range(int(perimeter / 5.0) + int(rng.integers(0, 3))):
        r = rng.random()
        if r < 0.25:
            _add_cabinet(L)
        elif r < 0.4:
            L.against_wall(_bookshelf(rng, 10 if rng.random() < 0.6 else 15),
                           reserve_front=0.4)
        elif r < 0.5 and room_type != "kitchen":
            got = L.against_wall(_dresser(rng), reserve_front=0.4)
            if got:
                L.add_surface(_dresser_top(L), got[0], got[1], got[2], L.boxes[-1].center[1] +
                              L.boxes[-1].half[1])
        elif r < 0.62:
            chair = _chair(rng) if rng.random() < 0.6 else _sofa(rng, armchair=True)
            if rng.random() < 0.5:
                L.against_wall(chair, gap=float(rng.uniform(0.02, 0.3)))
            else:
                L.free_standing(chair, jitter=0.6)
        elif r < 0.72:
            side = _table(rng, side=True)
            got = L.against_wall(side)
            if got:
                b = side.bounds()
                L.add_surface(b[:4], got[0], got[1], got[2], b[4])
        elif r < 0.8:
            _add_shelves(L)
        else:
            thing = _floor_thing(rng)
            L.against_wall(thing, gap=float(rng.uniform(0.01, 0.2)), block_wall=False)


def _dresser_top(L: _Layout) -> tuple[float, float, float, float]:
    """Local top rectangle of the box just emitted (a drawer unit's body)."""
    b = L.boxes[-1]
    return (-b.half[0], b.half[0], -b.half[2], b.half[2])


_FURNISH = {
    "bedroom": _furnish_bedroom,
    "living_room": _furnish_living,
    "office": _furnish_office,
    "kitchen": _furnish_kitchen,
    "dining_room": _furnish_dining,
    "study": _furnish_study,
}


# --------------------------------------------------------------------------------------------
# Scene generation
