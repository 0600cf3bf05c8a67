"""The scene description: boxes, the room, its camera and light (no pixels yet); the
NYU40 ids the generator emits and the room types it knows.
"""

from __future__ import annotations

from dataclasses import dataclass

from .materials import Material

#: Every NYU40 id the generator can emit, with the object(s) that produce it.
CLASS_IDS_USED: dict[int, str] = {
    1: "wall: the four room walls (with a skirting board)",
    2: "floor: the room floor (planks, tiles or carpet)",
    3: "cabinet: cupboards, wardrobes, kitchen base / wall units, TV stands",
    4: "bed: bed frame, mattress, duvet and headboard",
    5: "chair: seat + back + legs (dining / desk chairs, office chairs, armless stools)",
    6: "sofa: sofas and armchairs (base, back, arms, seat cushions)",
    7: "table: dining tables, coffee tables and side tables (top + legs)",
    8: "door: door leaf, frame trim and handle",
    9: "window: glazed window with frame bars and sill",
    10: "bookshelf: free-standing bookcase frame (sides, back, boards)",
    11: "picture: framed pictures / posters on the walls",
    12: "counter: kitchen worktops",
    13: "blinds: slatted blinds over windows",
    14: "desk: desks (top, drawer pedestal, side panel)",
    15: "shelves: wall-mounted shelf boards and open shelf racks",
    16: "curtain: curtain panels beside windows",
    17: "dresser: chests of drawers",
    18: "pillow: pillows on beds, cushions on sofas",
    19: "mirror: wall mirrors (often above dressers)",
    20: "floor mat: rugs and mats on the floor",
    21: "clothes: piles of clothes on beds and chairs",
    22: "ceiling: the room ceiling",
    23: "books: rows and stacks of books on shelves, desks and tables",
    24: "refridgerator: kitchen fridges",
    25: "television: TV screens on stands or walls",
    26: "paper: sheets and stacks of paper on desks and tables",
    29: "box: cardboard / storage boxes on floors, shelves and furniture",
    30: "whiteboard: whiteboards on walls (offices, studies)",
    32: "night stand: bedside tables",
    34: "sink: kitchen sink basin and tap",
    35: "lamp: ceiling light fixture, floor lamps and table lamps",
    37: "bag: bags and backpacks on the floor",
    39: "otherfurniture: stools, ottomans, carts, side units",
    40: "otherprop: bottles, vases, plants, monitors, keyboards, bins, mugs and other clutter",
}

ROOM_TYPES = ("bedroom", "living_room", "office", "kitchen", "dining_room", "study")


@dataclass(frozen=True)
class HomeStyle:
    """What every room of a home shares: the paint of walls (with skirting) and ceilings."""

    wall: Material
    ceiling: Material


@dataclass
class Box:
    """One solid box: world centre and half sizes (metres, y up), yaw about +y (radians)."""

    center: tuple[float, float, float]
    half: tuple[float, float, float]
    yaw: float
    label: int
    material: Material
    shadow: bool = True
    seed: int = 0


@dataclass
class Scene:
    """A whole room: geometry, materials, camera and light; independent of the image size.

    World frame: x along the first wall, y up (floor at 0), z into the room; the room spans
    [0, size_m[0]] x [0, size_m[1]] x [0, size_m[2]].
    """

    seed: int
    room_type: str
    size_m: tuple[float, float, float]
    wall: Material
    floor: Material
    ceiling: Material
    boxes: list[Box]
    cam_pos: tuple[float, float, float]
    cam_yaw: float
    cam_pitch: float
    cam_roll: float
    light_pos: tuple[float, float, float]
    light_rgb: tuple[float, float, float]
    ambient: float
    exposure: float
    vignette: float
