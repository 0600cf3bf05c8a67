"""Materials: sRGB palettes and the random draws of surface colours and textures."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Materials and colour palettes
# --------------------------------------------------------------------------------------------

#: sRGB palettes (0-255) that materials draw their base colours from.
_PALETTES: dict[str, list[tuple[int, int, int]]] = {
    "wall": [(236, 231, 220), (226, 214, 192), (204, 207, 208), (214, 224, 212),
             (236, 224, 196), (212, 200, 186), (196, 205, 216), (242, 241, 234),
             (222, 204, 186), (188, 196, 178), (230, 222, 210)],
    "ceiling": [(244, 243, 238), (236, 236, 230), (240, 238, 230)],
    "wood_light": [(205, 166, 118), (192, 152, 104), (216, 184, 140), (186, 150, 112)],
    "wood_mid": [(152, 102, 62), (162, 114, 72), (134, 88, 52), (142, 100, 66)],
    "wood_dark": [(92, 62, 42), (72, 48, 32), (102, 72, 52), (84, 58, 44)],
    "painted": [(236, 236, 232), (226, 218, 196), (128, 128, 126), (42, 42, 44),
                (196, 204, 208), (110, 130, 150), (156, 170, 150)],
    "fabric": [(122, 122, 128), (72, 82, 112), (152, 62, 56), (92, 112, 82), (202, 188, 162),
               (112, 86, 72), (62, 62, 68), (182, 172, 192), (72, 122, 132), (176, 142, 92)],
    "bedding": [(242, 242, 240), (212, 222, 236), (232, 212, 202), (182, 192, 204),
                (202, 206, 182), (232, 226, 206), (156, 176, 196)],
    "carpet": [(152, 142, 126), (112, 112, 118), (132, 102, 92), (92, 102, 122),
               (162, 152, 142), (122, 132, 112), (170, 120, 90)],
    "rug": [(162, 62, 52), (62, 82, 122), (192, 172, 142), (122, 112, 102), (92, 122, 102),
            (202, 192, 182), (152, 102, 62)],
    "metal": [(172, 172, 176), (112, 112, 118), (62, 62, 66), (196, 192, 186)],
    "plastic": [(232, 232, 230), (32, 32, 34), (202, 62, 52), (52, 92, 162), (232, 192, 62),
                (82, 152, 92), (142, 142, 146), (222, 122, 42)],
    "cardboard": [(182, 142, 96), (166, 126, 86), (196, 160, 112)],
    "books": [(162, 42, 42), (42, 62, 122), (32, 92, 62), (202, 172, 62), (222, 222, 212),
              (32, 32, 36), (122, 62, 112), (212, 112, 42), (92, 132, 172), (142, 32, 52),
              (72, 72, 72), (182, 162, 132)],
    "stone": [(212, 206, 198), (62, 62, 64), (152, 142, 132), (232, 230, 226), (112, 96, 82)],
    "tile": [(226, 226, 220), (196, 192, 184), (172, 164, 150), (212, 204, 192), (86, 86, 90)],
    "paper": [(246, 246, 242), (240, 238, 226)],
    "foliage": [(62, 112, 52), (82, 132, 62), (52, 92, 42)],
    "sky": [(232, 240, 252), (246, 246, 246), (222, 232, 244), (250, 246, 236)],
    "art": [(202, 72, 52), (52, 92, 162), (232, 192, 72), (62, 142, 112), (32, 32, 42),
            (232, 222, 202), (142, 72, 122), (92, 162, 202), (212, 132, 92)],
}


def _srgb_to_linear(c: np.ndarray) -> np.ndarray:
    return np.square(np.clip(c, 0.0, 1.0))  # gamma 2, undone by the sqrt at the end


@dataclass(frozen=True)
class Material:
    """How a box surface looks: a linear-RGB base colour, a texture kind and its parameters.

    ``alt`` is the secondary colour (frame, grout, seams, handles); ``scale`` a texture length
    in metres; ``specular`` the Blinn-Phong weight; ``emission`` self-illumination (relative
    to the main light); ``dropout`` the share of the surface where the Kinect sees nothing;
    ``grain`` the strength of wood grain on boards (0 = painted / plain).
    """

    rgb: tuple[float, float, float]
    kind: str = "plain"
    alt: tuple[float, float, float] = (0.05, 0.05, 0.05)
    scale: float = 1.0
    specular: float = 0.0
    emission: float = 0.0
    dropout: float = 0.0
    grain: float = 0.0


def _colour(rng: np.random.Generator, palette: str, jitter: float = 0.06) -> tuple:
    """A linear-RGB colour from ``palette`` with a small random brightness / hue jitter."""
    choices = _PALETTES[palette]
    base = np.array(choices[int(rng.integers(len(choices)))], dtype=np.float64) / 255.0
    base = base * (1.0 + rng.uniform(-jitter, jitter)) + rng.uniform(-jitter, jitter, 3) * 0.3
    return tuple(float(x) for x in _srgb_to_linear(base))


def _mat(rng: np.random.Generator, kind: str, palette: str, alt: str | None = None,
         **kwargs) -> Material:
    """A material of texture ``kind`` coloured from ``palette`` (and ``alt`` palette)."""
    alt_rgb = _colour(rng, alt) if alt else (0.04, 0.04, 0.04)
    return Material(_colour(rng, palette), kind, alt_rgb, **kwargs)


def _wood(rng: np.random.Generator, tone: str | None = None, kind: str = "wood") -> Material:
    tone = tone or ("wood_light", "wood_mid", "wood_dark")[int(rng.integers(3))]
    return _mat(rng, kind, tone, "metal", scale=float(rng.uniform(0.012, 0.03)),
                specular=0.05, grain=float(rng.uniform(0.12, 0.25)))


def _furniture_mat(rng: np.random.Generator, kind: str = "wood") -> Material:
    """Wood most of the time, otherwise painted / laminated boards."""
    if rng.random() < 0.65:
        return _wood(rng, kind=kind)
    return _mat(rng, "paint" if kind == "wood" else kind, "painted", "metal", scale=0.5,
                specular=0.08)


# --------------------------------------------------------------------------------------------
# Scene description
