"""PyBullet bodies for the table and the scene's objects."""

from __future__ import annotations

import numpy as np
import pybullet as pb

from .scene import COLOURS, MATERIALS, DistractorSpec, ObjectSpec

TABLE_SIZE = (1.2, 1.4, 0.05)   # [m]; top face at z = 0
TABLE_CENTRE = (0.45, 0.0)
TABLE_RGBA = (0.62, 0.55, 0.45, 1.0)


def add_table(cid: int) -> int:
    half = [s / 2 for s in TABLE_SIZE]
    col = pb.createCollisionShape(pb.GEOM_BOX, halfExtents=half, physicsClientId=cid)
    vis = pb.createVisualShape(pb.GEOM_BOX, halfExtents=half, rgbaColor=TABLE_RGBA,
                               physicsClientId=cid)
    body = pb.createMultiBody(0, col, vis, [TABLE_CENTRE[0], TABLE_CENTRE[1], -half[2]],
                              physicsClientId=cid)
    pb.changeDynamics(body, -1, lateralFriction=0.8, restitution=0.2, physicsClientId=cid)
    return body


def add_object(cid: int, spec: ObjectSpec) -> int:
    """A dynamic body for ``spec``, resting on the table at its position and yaw."""
    rgba = COLOURS[spec.colour]
    ext = spec.extents
    if spec.shape == "cube":
        kw = dict(shapeType=pb.GEOM_BOX, halfExtents=(ext / 2).tolist())
        col = pb.createCollisionShape(**kw, physicsClientId=cid)
        vis = pb.createVisualShape(**kw, rgbaColor=rgba, physicsClientId=cid)
    elif spec.shape == "sphere":
        col = pb.createCollisionShape(pb.GEOM_SPHERE, radius=spec.size / 2, physicsClientId=cid)
        vis = pb.createVisualShape(pb.GEOM_SPHERE, radius=spec.size / 2, rgbaColor=rgba,
                                   physicsClientId=cid)
    else:
        col = pb.createCollisionShape(pb.GEOM_CYLINDER, radius=spec.size / 2, height=spec.height,
                                      physicsClientId=cid)
        vis = pb.createVisualShape(pb.GEOM_CYLINDER, radius=spec.size / 2, length=spec.height,
                                   rgbaColor=rgba, physicsClientId=cid)
    z = ext[2] / 2
    orn = pb.getQuaternionFromEuler((0.0, 0.0, spec.yaw))
    body = pb.createMultiBody(spec.mass, col, vis, [spec.position[0], spec.position[1], z], orn,
                              physicsClientId=cid)
    mat = MATERIALS[spec.material]
    pb.changeDynamics(body, -1, lateralFriction=mat.friction, restitution=mat.restitution,
                      rollingFriction=0.001 if spec.shape == "sphere" else 0.0,
                      spinningFriction=0.001, physicsClientId=cid)
    return body


def add_distractor(cid: int, spec: DistractorSpec) -> int:
    """A dynamic body for ``spec``, resting on the table at its position and yaw (a capsule lies
    with its axis along its x axis)."""
    x, y, z = spec.extents
    if spec.kind == "capsule":
        shape = dict(shapeType=pb.GEOM_CAPSULE, radius=y / 2)
        col = pb.createCollisionShape(**shape, height=x - y, physicsClientId=cid)
        vis = pb.createVisualShape(**shape, length=x - y, rgbaColor=(*spec.rgb, 1.0),
                                   physicsClientId=cid)
        orn = pb.getQuaternionFromEuler((0.0, np.pi / 2, spec.yaw))  # shape's z axis -> x
    elif spec.kind == "disc":
        shape = dict(shapeType=pb.GEOM_CYLINDER, radius=x / 2)
        col = pb.createCollisionShape(**shape, height=z, physicsClientId=cid)
        vis = pb.createVisualShape(**shape, length=z, rgbaColor=(*spec.rgb, 1.0),
                                   physicsClientId=cid)
        orn = pb.getQuaternionFromEuler((0.0, 0.0, spec.yaw))
    else:
        shape = dict(shapeType=pb.GEOM_BOX, halfExtents=[x / 2, y / 2, z / 2])
        col = pb.createCollisionShape(**shape, physicsClientId=cid)
        vis = pb.createVisualShape(**shape, rgbaColor=(*spec.rgb, 1.0), physicsClientId=cid)
        orn = pb.getQuaternionFromEuler((0.0, 0.0, spec.yaw))
    body = pb.createMultiBody(spec.mass, col, vis, [spec.position[0], spec.position[1], z / 2], orn,
                              physicsClientId=cid)
    mat = MATERIALS[spec.material]
    pb.changeDynamics(body, -1, lateralFriction=mat.friction, restitution=mat.restitution,
                      rollingFriction=0.001, spinningFriction=0.001, physicsClientId=cid)
    return body
