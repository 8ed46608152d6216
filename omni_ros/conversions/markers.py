"""``visualization_msgs/MarkerArray`` of a fused scene for RViz: one solid marker per object in
its perceived colour and shape (size = extents [m]), a text label above it, and the operator's
target (the grounded object outlined, the clicked point as a small sphere)."""

from __future__ import annotations

from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from ..core.types import SceneState
from .time import make_header

RGB = {"red": (0.9, 0.1, 0.1), "green": (0.1, 0.8, 0.2), "blue": (0.1, 0.3, 0.9),
       "yellow": (0.95, 0.85, 0.1), "purple": (0.6, 0.2, 0.8), "orange": (1.0, 0.55, 0.0)}
SHAPE_TYPE = {"cube": Marker.CUBE, "cylinder": Marker.CYLINDER, "sphere": Marker.SPHERE}
LIFETIME_NS = 500_000_000  # markers vanish if perception stops publishing


def _colour(name: str, alpha: float = 1.0) -> ColorRGBA:
    r, g, b = RGB.get(name, (0.6, 0.6, 0.6))
    return ColorRGBA(r=r, g=g, b=b, a=alpha)


def scene_markers(scene: SceneState, namespace: str = "omni") -> MarkerArray:
    header = make_header(scene.frame_id, scene.stamp_ns)
    out = [Marker(header=header, ns=namespace, action=Marker.DELETEALL)]
    for i, o in enumerate(scene.objects):
        p = Point(x=float(o.position[0]), y=float(o.position[1]), z=float(o.position[2]))
        q = Quaternion(x=float(o.orientation[0]), y=float(o.orientation[1]),
                       z=float(o.orientation[2]), w=float(o.orientation[3]))
        size = Vector3(x=max(float(o.size[0]), 1e-3), y=max(float(o.size[1]), 1e-3),
                       z=max(float(o.size[2]), 1e-3))
        target = o.id == scene.target_object_id
        body = Marker(header=header, ns=f"{namespace}/objects", id=i, action=Marker.ADD,
                      type=SHAPE_TYPE.get(o.shape, Marker.CUBE), pose=Pose(position=p, orientation=q),
                      scale=size, color=_colour(o.color, 1.0 if o.shape else 0.5))
        label = Marker(header=header, ns=f"{namespace}/labels", id=i, action=Marker.ADD,
                       type=Marker.TEXT_VIEW_FACING,
                       pose=Pose(position=Point(x=p.x, y=p.y, z=p.z + size.z / 2 + 0.03)),
                       scale=Vector3(z=0.02), color=_colour("", 1.0),
                       text=f"{'> ' if target else ''}{o.id} {o.confidence:.2f}")
        out += [body, label]
    if scene.target_point is not None:
        t = scene.target_point
        out.append(Marker(header=header, ns=f"{namespace}/target", id=0, action=Marker.ADD,
                          type=Marker.SPHERE,
                          pose=Pose(position=Point(x=float(t[0]), y=float(t[1]), z=float(t[2]))),
                          scale=Vector3(x=0.015, y=0.015, z=0.015),
                          color=ColorRGBA(r=1.0, g=1.0, b=1.0, a=0.9)))
    for m in out[1:]:
        m.lifetime.nanosec = LIFETIME_NS
    return MarkerArray(markers=out)
