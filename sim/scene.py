"""Scene specification: table, objects (shape x colour x material x temperature), poses - fixed
or random.

Frames (REP 103): the world frame is the robot base ``panda_link0``; x forward, y left, z up;
the table top is the plane z = 0. Units: metres, kilograms, radians, degrees Celsius.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import yaml

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
    ``temperature_c`` its surface temperature [deg C] (fixed; ambient by default)."""

    id: str
    shape: str
    colour: str
    material: str
    size: float
    position: tuple[float, float]
    yaw: float = 0.0
    height: float = 0.05
    temperature_c: float = AMBIENT_C

    def __post_init__(self):
        if self.shape not in SHAPES:
            raise ValueError(f"object {self.id}: shape {self.shape!r} not in {SHAPES}")
        if self.colour not in COLOURS:
            raise ValueError(f"object {self.id}: colour {self.colour!r} not in {list(COLOURS)}")
        if self.material not in MATERIALS:
            raise ValueError(f"object {self.id}: material {self.material!r} not in {list(MATERIALS)}")
        if not 0.02 <= self.size <= 0.07:
            raise ValueError(f"object {self.id}: size {self.size} m outside [0.02, 0.07] "
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


@dataclass
class SceneSpec:
    """Everything that defines a scene; ``random_scene`` draws one from a seed."""

    objects: list[ObjectSpec] = field(default_factory=list)

    def to_yaml(self) -> str:
        return yaml.safe_dump({"objects": [asdict(o) for o in self.objects]}, sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str) -> "SceneSpec":
        data = yaml.safe_load(text) or {}
        objs = []
        for o in data.get("objects", []):
            o = dict(o)
            o["position"] = tuple(o["position"])
            objs.append(ObjectSpec(**o))
        return cls(objs)

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
