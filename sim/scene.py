"""Scene specification: table, objects (shape x colour x material x temperature), poses - fixed
or random - and, in randomised cells, distractor bodies that are no objects.

Frames (REP 103): the world frame is the robot base ``panda_link0``; x forward, y left, z up;
the table top is the plane z = 0. Units: metres, kilograms, radians, degrees Celsius.
"""

from __future__ import annotations

import colorsys
import zlib
from dataclasses import asdict, dataclass, field

import numpy as np
import yaml

from .config import RandomizeConfig

SHAPES = ("cube", "cylinder", "sphere")
COLOURS = {  # name -> RGBA
    "red": (0.85, 0.12, 0.10, 1.0),
    "green": (0.15, 0.70, 0.20, 1.0),
    "blue": (0.12, 0.25, 0.85, 1.0),
    "yellow": (0.92, 0.82, 0.10, 1.0),
    "purple": (0.55, 0.20, 0.70, 1.0),
    "orange": (0.95, 0.50, 0.08, 1.0),
}


@dataclass(frozen=True)
class Material:
    """Physical and acoustic properties. ``modes``: (frequency [Hz], relative amplitude) of the
    impact sound; ``decay``: amplitude decay rate [1/s]."""

    density: float          # kg/m^3
    friction: float         # lateral friction coefficient
    restitution: float
    modes: tuple[tuple[float, float], ...]
    decay: float


MATERIALS = {
    "wood": Material(650.0, 1.0, 0.30, ((820.0, 1.0), (2150.0, 0.45)), 38.0),
    "plastic": Material(1050.0, 1.0, 0.40, ((1450.0, 1.0), (3300.0, 0.35)), 55.0),
    "metal": Material(2700.0, 1.0, 0.25, ((3100.0, 1.0), (5200.0, 0.6), (7400.0, 0.3)), 9.0),
    "rubber": Material(1150.0, 1.0, 0.60, ((260.0, 1.0), (610.0, 0.3)), 95.0),
}

# Workspace on the table where objects are placed [m] (x range, y range).
SPAWN_X = (0.38, 0.64)
SPAWN_Y = (-0.24, 0.24)
MIN_SEPARATION = 0.11  # between object centres [m], leaves room for the fingers
# Randomised cells: between the footprint circles of any two bodies [m], room for an open finger.
FINGER_CLEARANCE = 0.05
GRASP_MAX_SIZE = 0.07  # widest object the gripper (opening 0.08 m) picks up reliably [m]
PLACE_TRIES = 1000     # random positions tried for one body before it is left out
CELL_STREAM = 0xCE11   # seed stream of the randomised cell (cell_rng)

# Distractors of randomised cells: kind -> full extents ranges [m] as it rests (see DistractorSpec).
DISTRACTOR_KINDS = ("capsule", "disc", "book")
CAPSULE_DIAMETER, CAPSULE_SHAFT = (0.02, 0.04), (0.03, 0.08)   # shaft: length between the caps
DISC_DIAMETER, DISC_THICKNESS = (0.05, 0.10), (0.004, 0.012)
BOOK_LENGTH, BOOK_WIDTH_RATIO, BOOK_THICKNESS = (0.06, 0.12), (0.3, 0.7), (0.01, 0.03)

# Surface temperatures of random scenes [deg C]: per scene, with probability HOT_P one object is
# hot, independently with probability COLD_P one other object is cold; the rest are ambient
# (AMBIENT_C +- AMBIENT_JITTER_C).
AMBIENT_C = 22.0
AMBIENT_JITTER_C = 1.0
HOT_P, HOT_RANGE_C = 0.6, (45.0, 90.0)
COLD_P, COLD_RANGE_C = 0.35, (0.0, 8.0)


@dataclass
class ObjectSpec:
    """One object. ``size``: cube edge, sphere diameter, or cylinder diameter (its height is
    ``height``). ``position`` is the centre [m] (z is set so it rests on the table), ``yaw`` [rad],
    ``temperature_c`` its surface temperature [deg C] (fixed; ambient by default), ``shade`` its
    RGB in [0, 1] (None: the nominal RGB of its colour name)."""

    id: str
    shape: str
    colour: str
    material: str
    size: float
    position: tuple[float, float]
    yaw: float = 0.0
    height: float = 0.05
    temperature_c: float = AMBIENT_C
    shade: tuple[float, float, float] | None = None

    def __post_init__(self):
        if self.shape not in SHAPES:
            raise ValueError(f"object {self.id}: shape {self.shape!r} not in {SHAPES}")
        if self.colour not in COLOURS:
            raise ValueError(f"object {self.id}: colour {self.colour!r} not in {list(COLOURS)}")
        if self.material not in MATERIALS:
            raise ValueError(f"object {self.id}: material {self.material!r} not in {list(MATERIALS)}")
        if not 0.02 <= self.size <= 0.08:
            raise ValueError(f"object {self.id}: size {self.size} m outside [0.02, 0.08] "
                             "(the gripper opens 0.08 m)")
        if not -273.15 < self.temperature_c < 1000.0:
            raise ValueError(f"object {self.id}: temperature {self.temperature_c} deg C outside "
                             "(-273.15, 1000)")

    @property
    def extents(self) -> np.ndarray:
        """Full extents along the object's x, y, z [m]."""
        if self.shape == "cube":
            return np.full(3, self.size)
        if self.shape == "sphere":
            return np.full(3, self.size)
        return np.array([self.size, self.size, self.height])

    @property
    def volume(self) -> float:
        if self.shape == "cube":
            return self.size ** 3
        if self.shape == "sphere":
            return np.pi / 6 * self.size ** 3
        return np.pi * (self.size / 2) ** 2 * self.height

    @property
    def mass(self) -> float:
        """[kg], from the material density."""
        return float(MATERIALS[self.material].density * self.volume)

    @property
    def label(self) -> str:
        return f"{self.colour} {self.shape}"

    @property
    def rgb(self) -> tuple[float, float, float]:
        """Surface colour in [0, 1]: ``shade``, else the colour name's nominal RGB."""
        return self.shade if self.shade is not None else COLOURS[self.colour][:3]

    @property
    def footprint_radius(self) -> float:
        """Radius of the circle that holds the object's footprint on the table at any yaw [m]."""
        return self.size / np.sqrt(2.0) if self.shape == "cube" else self.size / 2


@dataclass
class DistractorSpec:
    """A body that is no object: of none of SHAPES, without a colour name, never a task target
    and not among the ground truth's objects; at ambient temperature. ``kind``: a ``capsule``
    lying along its x axis (``extents`` = (total length, diameter, diameter)), a flat ``disc``
    (a cylinder; (diameter, diameter, thickness)) or a flat ``book`` (a box; (length, width,
    thickness)); ``extents`` [m] are full sizes along its x, y, z as it rests. ``rgb`` in [0, 1];
    ``position``: centre x, y [m] (it rests on the table); ``yaw`` [rad]."""

    id: str
    kind: str
    extents: tuple[float, float, float]
    rgb: tuple[float, float, float]
    material: str
    position: tuple[float, float]
    yaw: float = 0.0

    def __post_init__(self):
        if self.kind not in DISTRACTOR_KINDS:
            raise ValueError(f"distractor {self.id}: kind {self.kind!r} not in {DISTRACTOR_KINDS}")
        if self.material not in MATERIALS:
            raise ValueError(f"distractor {self.id}: material {self.material!r} not in "
                             f"{list(MATERIALS)}")
        if not all(0.002 <= e <= 0.3 for e in self.extents):
            raise ValueError(f"distractor {self.id}: extents {self.extents} m outside [0.002, 0.3]")

    @property
    def footprint_radius(self) -> float:
        """Radius of the circle that holds its footprint on the table at any yaw [m]."""
        return float(np.hypot(self.extents[0], self.extents[1]) / 2)

    @property
    def volume(self) -> float:
        """[m^3]"""
        x, y, z = self.extents
        if self.kind == "capsule":
            r = y / 2
            return np.pi * r ** 2 * (x - 2 * r) + 4 / 3 * np.pi * r ** 3
        if self.kind == "disc":
            return np.pi * (x / 2) ** 2 * z
        return x * y * z

    @property
    def mass(self) -> float:
        """[kg], from the material density."""
        return float(MATERIALS[self.material].density * self.volume)


@dataclass
class SceneSpec:
    """Everything that defines a scene; ``random_scene`` draws one from a seed, and
    ``random_cell_scene`` one of a randomised cell (with distractors)."""

    objects: list[ObjectSpec] = field(default_factory=list)
    distractors: list[DistractorSpec] = field(default_factory=list)

    def to_yaml(self) -> str:
        return yaml.safe_dump({"objects": [asdict(o) for o in self.objects],
                               "distractors": [asdict(d) for d in self.distractors]},
                              sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str) -> "SceneSpec":
        data = yaml.safe_load(text) or {}
        objs = []
        for o in data.get("objects", []):
            o = dict(o)
            o["position"] = tuple(o["position"])
            if o.get("shade") is not None:
                o["shade"] = tuple(o["shade"])
            objs.append(ObjectSpec(**o))
        distractors = []
        for d in data.get("distractors") or []:
            d = dict(d)
            for k in ("extents", "rgb", "position"):
                d[k] = tuple(d[k])
            distractors.append(DistractorSpec(**d))
        return cls(objs, distractors)

    def by_id(self, object_id: str) -> ObjectSpec:
        for o in self.objects:
            if o.id == object_id:
                return o
        raise KeyError(object_id)


def random_scene(seed: int, n_objects: tuple[int, int] = (3, 6),
                 shapes=SHAPES, materials=tuple(MATERIALS)) -> SceneSpec:
    """A random scene: n objects with distinct (colour, shape) pairs, separated on the table,
    at temperatures by the HOT_P / COLD_P rule."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(n_objects[0], n_objects[1], endpoint=True))
    combos = [(c, s) for c in COLOURS for s in shapes]
    picks = rng.choice(len(combos), size=n, replace=False)
    positions: list[np.ndarray] = []
    objects = []
    for i, k in enumerate(picks):
        colour, shape = combos[k]
        for _ in range(1000):
            p = np.array([rng.uniform(*SPAWN_X), rng.uniform(*SPAWN_Y)])
            if all(np.linalg.norm(p - q) >= MIN_SEPARATION for q in positions):
                break
        else:
            raise RuntimeError(f"seed {seed}: could not place {n} objects apart")
        positions.append(p)
        objects.append(ObjectSpec(
            id=f"obj_{i}", shape=shape, colour=colour,
            material=str(rng.choice(materials)), size=float(round(rng.uniform(0.04, 0.055), 4)),
            position=(float(p[0]), float(p[1])), yaw=float(rng.uniform(-np.pi / 4, np.pi / 4)),
            height=0.05))
    _draw_temperatures(objects, seed)
    return SceneSpec(objects)


def cell_rng(seed: int, part: str) -> np.random.Generator:
    """The generator of one ``part`` of episode ``seed``'s randomised cell (camera, light, scene,
    task): streams of their own, so none shifts another's or the nominal scene's draws."""
    return np.random.default_rng([seed, CELL_STREAM, zlib.crc32(part.encode())])


def clear_of(xy, radius: float, bodies) -> bool:
    """Whether a footprint circle of ``radius`` at ``xy`` [m] keeps FINGER_CLEARANCE from that of
    every one of ``bodies`` (objects or distractors)."""
    return all(np.hypot(xy[0] - b.position[0], xy[1] - b.position[1])
               >= radius + b.footprint_radius + FINGER_CLEARANCE for b in bodies)


def _free_spot(rng: np.random.Generator, radius: float, bodies) -> tuple[float, float] | None:
    """A random point of the workspace clear of ``bodies`` (clear_of), or None after PLACE_TRIES."""
    for _ in range(PLACE_TRIES):
        p = (float(rng.uniform(*SPAWN_X)), float(rng.uniform(*SPAWN_Y)))
        if clear_of(p, radius, bodies):
            return p
    return None


def hue_deg(rgb) -> float:
    """HSV hue of an RGB colour in [0, 1] [deg, 0-360]."""
    return 360.0 * colorsys.rgb_to_hsv(*rgb[:3])[0]


def hue_distance(a_deg: float, b_deg: float) -> float:
    """Distance between two hues around the colour circle [deg, 0-180]."""
    d = abs(a_deg - b_deg) % 360.0
    return min(d, 360.0 - d)


def random_shade(colour: str, rng: np.random.Generator,
                 r: RandomizeConfig) -> tuple[float, float, float]:
    """An RGB shade [0, 1] of colour name ``colour``: its hue turned towards a neighbouring name's
    by up to ``r.hue_fraction`` of half the way (so it stays nearest its own name), its
    saturation and value scaled by ``r.saturation_scale`` and ``r.value_scale`` (clipped to 1)."""
    h, s, v = colorsys.rgb_to_hsv(*COLOURS[colour][:3])
    hues = [(hue_deg(c) - 360.0 * h + 180.0) % 360.0 - 180.0  # the others' relative to h
            for name, c in COLOURS.items() if name != colour]
    below, above = max(d for d in hues if d < 0), min(d for d in hues if d > 0)
    turn = rng.uniform(below, above) * r.hue_fraction / 2
    rgb = colorsys.hsv_to_rgb((h + turn / 360.0) % 1.0,
                              min(1.0, s * rng.uniform(*r.saturation_scale)),
                              min(1.0, v * rng.uniform(*r.value_scale)))
    return tuple(round(float(c), 4) for c in rgb)


def random_cell_scene(seed: int, r: RandomizeConfig) -> SceneSpec:
    """The scene of episode ``seed``'s randomised cell: ``r.object_count`` objects with distinct
    (colour, shape) pairs in random shades (random_shade) and sizes ``r.object_size_m`` (a
    cylinder's height too; the first object at most GRASP_MAX_SIZE, so one can be picked up),
    then ``r.distractor_count`` distractors of random kind, size and colour. Every footprint
    keeps FINGER_CLEARANCE from every other (clear_of); a body that finds no such place is left
    out. Temperatures by the HOT_P / COLD_P rule."""
    rng = cell_rng(seed, "scene")
    n = int(rng.integers(r.object_count[0], r.object_count[1], endpoint=True))
    combos = [(c, s) for c in COLOURS for s in SHAPES]
    objects: list[ObjectSpec] = []
    for k in rng.choice(len(combos), size=min(n, len(combos)), replace=False):
        colour, shape = combos[k]
        sizes = r.object_size_m if objects else np.minimum(r.object_size_m, GRASP_MAX_SIZE)
        size = round(float(rng.uniform(*sizes)), 4)
        height = round(float(rng.uniform(*r.object_size_m)), 4) if shape == "cylinder" else 0.05
        spec = ObjectSpec(id=f"obj_{len(objects)}", shape=shape, colour=colour,
                          material=str(rng.choice(list(MATERIALS))), size=size, position=(0.0, 0.0),
                          yaw=float(rng.uniform(-np.pi / 4, np.pi / 4)), height=height,
                          shade=random_shade(colour, rng, r))
        spot = _free_spot(rng, spec.footprint_radius, objects)
        if spot is not None:
            spec.position = spot
            objects.append(spec)
    _draw_temperatures(objects, seed)
    distractors: list[DistractorSpec] = []
    for _ in range(int(rng.integers(r.distractor_count[0], r.distractor_count[1], endpoint=True))):
        d = _random_distractor(rng, f"distractor_{len(distractors)}")
        spot = _free_spot(rng, d.footprint_radius, objects + distractors)
        if spot is not None:
            d.position = spot
            distractors.append(d)
    return SceneSpec(objects, distractors)


def _random_distractor(rng: np.random.Generator, distractor_id: str) -> DistractorSpec:
    """A distractor of random kind, size (the ranges above), colour, material and yaw, at the
    origin (the caller places it)."""
    kind = str(rng.choice(DISTRACTOR_KINDS))
    if kind == "capsule":
        d = rng.uniform(*CAPSULE_DIAMETER)
        extents = (d + rng.uniform(*CAPSULE_SHAFT), d, d)
    elif kind == "disc":
        d = rng.uniform(*DISC_DIAMETER)
        extents = (d, d, rng.uniform(*DISC_THICKNESS))
    else:
        length = rng.uniform(*BOOK_LENGTH)
        extents = (length, length * rng.uniform(*BOOK_WIDTH_RATIO), rng.uniform(*BOOK_THICKNESS))
    rgb = colorsys.hsv_to_rgb(rng.random(), rng.random(), rng.uniform(0.25, 1.0))
    return DistractorSpec(distractor_id, kind, tuple(round(float(e), 4) for e in extents),
                          tuple(round(float(c), 4) for c in rgb), str(rng.choice(list(MATERIALS))),
                          (0.0, 0.0), float(rng.uniform(-np.pi, np.pi)))


def _draw_temperatures(objects: list[ObjectSpec], seed: int) -> None:
    """Set ``temperature_c`` of ``objects`` (see HOT_P, COLD_P). Its own generator, so the rest
    of a seed's scene is the same as before objects had temperatures."""
    rng = np.random.default_rng([seed, 0x7E])
    hot = rng.random() < HOT_P
    cold = rng.random() < COLD_P
    order = rng.permutation(len(objects))
    for o in objects:
        o.temperature_c = float(AMBIENT_C + rng.uniform(-AMBIENT_JITTER_C, AMBIENT_JITTER_C))
    if hot:
        objects[order[0]].temperature_c = float(rng.uniform(*HOT_RANGE_C))
    if cold and len(objects) > int(hot):
        objects[order[int(hot)]].temperature_c = float(rng.uniform(*COLD_RANGE_C))
