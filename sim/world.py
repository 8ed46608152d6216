"""The PyBullet world: table, Panda, objects, distractors, every sensor, the primitive executor,
ground truth.

Usage:
    world = World(random_scene(seed=3), SimConfig(), seed=3)
    world.command(Primitive(...))
    for reading in world.step():   # one physics step (1/physics_hz s)
        ...

``step`` returns the sensor readings due at that step, each stamped with sim time in integer
nanoseconds, in a fixed order (so streams are reproducible): the same seed gives bit-identical
streams. Frames follow REP 103 with the robot base ``panda_link0`` as the world frame.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pybullet as pb

from omni_ros.core.types import ObjectEstimate, Primitive, PrimitiveStatus, SceneEventData

from .bodies import add_distractor, add_object, add_table
from .config import SimConfig
from .controller import Executor
from .robot import LEFT_FINGER, RIGHT_FINGER, Panda
from .impacts import Disturbance, start_pose
from .scene import MATERIALS, ObjectSpec, SceneSpec
from .sensors.audio import Microphone
from .sensors.camera import Camera
from .sensors.lidar import Lidar
from .sensors.tactile import TactileSensor
from .sensors.thermal import ThermalCamera
from .sensors.wrench import WrenchSensor

NS_PER_S = 1_000_000_000
# Order of readings within one step; "color" last so a camera frame sees the other streams
# of its own instant first.
STREAM_ORDER = ("joints", "wrench", "tactile", "audio", "lidar", "ground_truth", "thermal",
                "depth", "color", "action_status")
IMPACT_MIN_IMPULSE = 0.002    # [N*s] smaller contact onsets make no sound
SLAP_MIN_DV = 0.2            # [m/s] upward velocity change in one step of a body in contact
SCRAPE_MIN_SPEED = 0.03      # [m/s] slower sliding is silent
SCRAPE_GAIN = 0.5            # scrape (and push) loudness relative to an impact of equal momentum
IMPACT_DEBOUNCE_STEPS = 6     # a contact must be absent this long to count as a new impact


@dataclass
class Reading:
    key: str          # stream name, see STREAM_ORDER
    stamp_ns: int     # sim time of the sample
    data: Any


@dataclass
class GroundTruth:
    """What is really there, for labels and for the scripted expert. ``distractors``: the bodies
    that are no objects (kind as ``shape``, no ``color``), for sim-side users only: the
    /sim/ground_truth message has no place for them."""

    stamp_ns: int
    objects: list[ObjectEstimate]
    tcp_position: np.ndarray
    tcp_orientation: np.ndarray
    gripper_width: float
    in_contact: bool
    grasping: bool
    held_object_id: str
    events: list[SceneEventData] = field(default_factory=list)
    distractors: list[ObjectEstimate] = field(default_factory=list)


class World:
    def __init__(self, scene: SceneSpec, cfg: SimConfig | None = None, seed: int = 0):
        self.cfg = cfg or SimConfig()
        self.seed = seed
        self.scene = scene
        self.cid = pb.connect(pb.DIRECT)
        pb.setGravity(0, 0, -9.81, physicsClientId=self.cid)
        pb.setPhysicsEngineParameter(fixedTimeStep=1.0 / self.cfg.physics_hz, numSolverIterations=50,
                                     deterministicOverlappingPairs=1, physicsClientId=self.cid)
        self.table = add_table(self.cid)
        self.robot = Panda(self.cid)
        self.bodies: dict[str, int] = {}
        self.specs_by_body: dict[int, ObjectSpec] = {}
        self.temperature_of_body: dict[int, float] = {}   # object body -> surface [deg C]
        for spec in scene.objects:
            self._add(spec)
        self.distractor_bodies = {add_distractor(self.cid, d): d for d in scene.distractors}
        self.step_index = 0
        self.executor = Executor(self.robot, self.cfg.physics_hz)
        c = self.cfg
        self.camera = Camera(c.camera, self._rng("camera"), self.cid)
        self.thermal: ThermalCamera | None = None
        if c.thermal.enabled:
            self.thermal = ThermalCamera(c.thermal, self._rng("thermal"), self.cid,
                                         self.temperature_of_body, self.table, self.robot.id)
        self.lidar = Lidar(c.lidar, self._rng("lidar"), self.cid, self._brightness)
        self.wrench = WrenchSensor(c.wrench, self._rng("wrench"), self.robot)
        self.tactile = TactileSensor(c.tactile, self._rng("tactile"), self.cid, self.robot.id,
                                     self._shape_of)
        self.mic = Microphone(c.audio, self._rng("audio"))
        self._every = {k: round(c.physics_hz / r) for k, r in (
            ("joints", c.joint_rate_hz), ("wrench", c.wrench.rate_hz), ("tactile", c.tactile.rate_hz),
            ("lidar", c.lidar.rate_hz), ("camera", c.camera.rate_hz), ("thermal", c.thermal.rate_hz))}
        self._contacts: dict[tuple[int, int], int] = {}   # pair -> last step in contact
        self._velocity: dict[int, np.ndarray] = {}
        self._events: list[SceneEventData] = []
        self._last_impact: dict[int, int] = {}             # body -> step of its last impact
        self._status: list[PrimitiveStatus] = []
        for _ in range(int(0.25 * c.physics_hz)):  # let objects settle before time starts
            self.robot.control()
            pb.stepSimulation(physicsClientId=self.cid)
        self._contacts = {pair: 0 for pair in self._touching_pairs()}

    # --- set-up helpers ------------------------------------------------------------------------
    def _rng(self, name: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, zlib.crc32(name.encode())])

    def _add(self, spec: ObjectSpec) -> int:
        if spec.id in self.bodies:
            raise ValueError(f"object id {spec.id!r} already exists")
        body = add_object(self.cid, spec)
        if spec.shade is not None:
            pb.changeVisualShape(body, -1, rgbaColor=(*spec.shade, 1.0), physicsClientId=self.cid)
        self.bodies[spec.id] = body
        self.specs_by_body[body] = spec
        self.temperature_of_body[body] = spec.temperature_c
        return body

    def spawn(self, spec: ObjectSpec) -> None:
        """Add an object to the running world (it drops onto the table)."""
        self._add(spec)
        self.scene.objects.append(spec)

    def _brightness(self, body: int) -> float:
        """Mean RGB [0, 1] of ``body``'s surface (drives lidar intensity)."""
        spec = self.specs_by_body.get(body) or self.distractor_bodies.get(body)
        if spec is not None:
            return float(np.mean(spec.rgb))
        return 0.55 if body == self.table else 0.8

    def _shape_of(self, body: int):
        spec = self.specs_by_body.get(body)
        return None if spec is None else (spec.shape, spec.extents)

    def close(self) -> None:
        if self.cid is not None and pb.isConnected(self.cid):
            pb.disconnect(self.cid)
        self.cid = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- time ----------------------------------------------------------------------------------
    @property
    def t_ns(self) -> int:
        return self.step_index * NS_PER_S // self.cfg.physics_hz

    # --- commands ------------------------------------------------------------------------------
    def command(self, primitive: Primitive) -> list[PrimitiveStatus]:
        """Start ``primitive`` now (preempting the running one); returns its first statuses."""
        st = self.executor.command(primitive, self.t_ns)
        self._status += st
        return st

    @property
    def busy(self) -> bool:
        return self.executor.current is not None

    def inject_audio(self, samples: np.ndarray, sample_rate: int) -> None:
        """Play ``samples`` (float, full scale 1) into the microphone starting now."""
        self.mic.inject(self.t_ns, samples, sample_rate)

    # --- stepping ------------------------------------------------------------------------------
    def step(self) -> list[Reading]:
        self._status += self.executor.update(self.t_ns)
        self.robot.control()
        self._remember_velocities()
        pb.stepSimulation(physicsClientId=self.cid)
        self.step_index += 1
        self._detect_impacts()
        self._scrape()
        return self._readings()

    def _readings(self) -> list[Reading]:
        i, t = self.step_index, self.t_ns
        ev = self._every
        out = []
        if i % ev["joints"] == 0:
            out.append(Reading("joints", t, {"position": self.robot.joint_positions(),
                                             "velocity": self.robot.joint_velocities()}))
        if i % ev["wrench"] == 0:
            out.append(Reading("wrench", t, self.wrench.read()))
        if i % ev["tactile"] == 0:
            out.append(Reading("tactile", t, self.tactile.read()))
        out += [Reading("audio", stamp, pcm) for stamp, pcm in self.mic.read(t)]
        if i % ev["lidar"] == 0:
            out.append(Reading("lidar", t, self.lidar.read()))
        if i % ev["camera"] == 0:
            out.append(Reading("ground_truth", t, self.ground_truth(take_events=True)))
        if self.thermal is not None and i % ev["thermal"] == 0:
            out.append(Reading("thermal", t, self.thermal.read()))
        if i % ev["camera"] == 0:
            rgb, depth = self.camera.read()
            out.append(Reading("depth", t, depth))
            out.append(Reading("color", t, rgb))
        if self._status:
            out += [Reading("action_status", t, s) for s in self._status]
            self._status = []
        return out

    # --- contacts, impacts, ground truth -------------------------------------------------------
    def _touching_pairs(self) -> set[tuple[int, int]]:
        pairs = set()
        for body in self.specs_by_body:
            for c in pb.getContactPoints(bodyA=body, physicsClientId=self.cid):
                if c[2] != self.robot.id:
                    pairs.add((min(body, c[2]), max(body, c[2])))
        return pairs

    def _remember_velocities(self) -> None:
        for body in self.specs_by_body:
            self._velocity[body] = np.array(pb.getBaseVelocity(body, physicsClientId=self.cid)[0])

    def _detect_impacts(self) -> None:
        """A contact that begins between an object and the table or another object is an impact
        with impulse = effective mass x approach speed along the contact normal. A body already
        resting on an edge or corner slaps down when it tips over: a contact that persists but
        stops its fall (upward velocity change >= SLAP_MIN_DV in one step, robot not touching it)
        is an impact of impulse mass x that change."""
        now = self.step_index
        for body, spec in self.specs_by_body.items():
            contacts = pb.getContactPoints(bodyA=body, physicsClientId=self.cid)
            heard = False
            for c in contacts:
                other = c[2]
                if other == self.robot.id:
                    continue
                pair = (min(body, other), max(body, other))
                last = self._contacts.get(pair)
                self._contacts[pair] = now
                if last is not None and now - last <= IMPACT_DEBOUNCE_STEPS:
                    continue
                normal = np.array(c[7])  # from B (other) to A (body)
                v_rel = self._velocity.get(body, np.zeros(3)) - self._velocity.get(other, np.zeros(3))
                speed = max(0.0, -float(v_rel @ normal))
                m = spec.mass
                if other in self.specs_by_body:
                    mo = self.specs_by_body[other].mass
                    m = m * mo / (m + mo)
                heard |= self._impact(body, spec, m * speed)
            if heard or not contacts or any(c[2] == self.robot.id for c in contacts) \
                    or now - self._last_impact.get(body, -10**9) <= IMPACT_DEBOUNCE_STEPS:
                continue
            v = pb.getBaseVelocity(body, physicsClientId=self.cid)[0]
            dv = v[2] - self._velocity.get(body, np.zeros(3))[2]
            if dv >= SLAP_MIN_DV:
                self._impact(body, spec, spec.mass * dv)

    def _impact(self, body: int, spec: ObjectSpec, impulse: float) -> bool:
        """Sound and record an impact of ``impulse`` [N*s] on ``body`` if it is audible."""
        if impulse < IMPACT_MIN_IMPULSE:
            return False
        self._last_impact[body] = self.step_index
        self.mic.add_impact(self.t_ns, MATERIALS[spec.material], impulse)
        self._events.append(SceneEventData(self.t_ns, "impact", spec.id, impulse, 1.0))
        return True

    def _scrape(self) -> None:
        """An object sliding on the table (horizontal speed above SCRAPE_MIN_SPEED, in contact)
        scrapes for this physics step, as loud as an impact of its sliding momentum."""
        dt = 1.0 / self.cfg.physics_hz
        for body, spec in self.specs_by_body.items():
            v = self._velocity.get(body)
            if v is None or np.hypot(v[0], v[1]) < SCRAPE_MIN_SPEED:
                continue
            if pb.getContactPoints(bodyA=body, bodyB=self.table, physicsClientId=self.cid):
                amp = SCRAPE_GAIN * self.cfg.audio.impact_gain * spec.mass * float(np.hypot(v[0], v[1]))
                self.mic.add_scrape(self.t_ns, MATERIALS[spec.material], amp, dt)

    def disturb(self, d: Disturbance) -> None:
        """Start staged event ``d`` (omni_ros_sim.impacts) now: move the object to its start pose
        and set its velocity; a slide also makes the push's own impact."""
        body = self.bodies[d.object_id]
        spec = self.specs_by_body[body]
        pos, orn = pb.getBasePositionAndOrientation(body, physicsClientId=self.cid)
        new_pos, q = start_pose(d.kind, pos, spec.size, d.height_m, d.heading_rad)
        pb.resetBasePositionAndOrientation(body, new_pos.tolist(), q or orn, physicsClientId=self.cid)
        heading = np.array([np.cos(d.heading_rad), np.sin(d.heading_rad), 0.0])
        v = {"set_down": np.array([0.0, 0.0, -d.speed_m_s]),
             "slide": heading * d.speed_m_s}.get(d.kind, np.zeros(3))
        pb.resetBaseVelocity(body, v.tolist(), [0.0, 0.0, 0.0], physicsClientId=self.cid)
        if d.kind == "slide":
            impulse = spec.mass * d.speed_m_s
            self.mic.add_impact(self.t_ns, MATERIALS[spec.material], SCRAPE_GAIN * impulse)
            self._events.append(SceneEventData(self.t_ns, "impact", spec.id, impulse, 1.0))

    def _finger_contacts(self, link: int) -> set[int]:
        return {c[2] for c in pb.getContactPoints(bodyA=self.robot.id, linkIndexA=link,
                                                  physicsClientId=self.cid)
                if c[2] != self.robot.id}

    def ground_truth(self, take_events: bool = False) -> GroundTruth:
        objects = []
        for spec in self.scene.objects:
            pos, orn = pb.getBasePositionAndOrientation(self.bodies[spec.id], physicsClientId=self.cid)
            objects.append(ObjectEstimate(id=spec.id, shape=spec.shape, color=spec.colour,
                                          material=spec.material, confidence=1.0,
                                          mass=spec.mass, position=pos, orientation=orn,
                                          size=spec.extents, temperature_c=spec.temperature_c))
        left, right = self._finger_contacts(LEFT_FINGER), self._finger_contacts(RIGHT_FINGER)
        held = [self.specs_by_body[b].id for b in left & right if b in self.specs_by_body]
        tcp_p, tcp_o = self.robot.tcp_pose()
        events = self._events if take_events else list(self._events)
        if take_events:
            self._events = []
        distractors = []
        for body, d in self.distractor_bodies.items():
            pos, orn = pb.getBasePositionAndOrientation(body, physicsClientId=self.cid)
            distractors.append(ObjectEstimate(id=d.id, shape=d.kind, color="", material=d.material,
                                              mass=d.mass, position=pos, orientation=orn,
                                              size=d.extents,
                                              temperature_c=self.cfg.thermal.ambient_c))
        return GroundTruth(self.t_ns, objects, tcp_p, tcp_o, self.robot.gripper_width(),
                           in_contact=bool(left or right), grasping=bool(held),
                           held_object_id=held[0] if held else "", events=events,
                           distractors=distractors)

    def intrinsics(self) -> dict:
        """Camera stream key -> intrinsics of the camera that produces it."""
        out = {"color": self.camera.intrinsics}
        if self.thermal is not None:
            out["thermal"] = self.thermal.intrinsics
        return out

    def object_position(self, object_id: str) -> np.ndarray:
        return np.array(pb.getBasePositionAndOrientation(self.bodies[object_id],
                                                         physicsClientId=self.cid)[0])
