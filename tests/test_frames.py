"""The frames of the simulated robot (omni_ros_sim.frames): the static sensor transforms agree
with where a real PyBullet world has its sensors (camera view matrices, rendered depth against
ray casts, lidar rays, the wrist F/T reaction, the tactile taxels), the URDF handed to
robot_state_publisher puts every link where PyBullet has it, the committed parameter file is the
function's output, frames.launch.py starts what is installed (a real ament index) and logs what
is not, and the RViz config shows topics and frames the code publishes."""

import ast
import re
from pathlib import Path

import numpy as np
import pybullet as pb
import pytest
import yaml
from omni_ros_sim import random_scene
from omni_ros_sim.config import SimConfig
from omni_ros_sim.frames import (BASE_FRAME, Transform, cell_frames, frame_tree, frames_yaml,
                                 moving_joints, robot_description, sim_config_from_params,
                                 urdf_joints)
from omni_ros_sim.robot import HAND_JOINT, LEFT_FINGER, RIGHT_FINGER
from omni_ros_sim.sensors.camera import Camera
from omni_ros_sim.sensors.tactile import PADS
from omni_ros_sim.world import World
from scipy.spatial.transform import Rotation

from omni_ros.core.config import ConfigError, flatten_tree, from_flat_dict

from _util import ROOT, run_py

FRAMES_YAML = ROOT / "config" / "tf" / "frames.yaml"
RVIZ = ROOT / "rviz" / "omni_ros.rviz"
LAUNCH = ROOT / "launch" / "frames.launch.py"


def base_poses(transforms: list[Transform], links: dict[str, np.ndarray] | None = None
               ) -> dict[str, np.ndarray]:
    """Every frame's 4x4 pose in the base frame, composing the tree (``links``: poses of the
    robot's links, the parents that are not in the tree; frames below a link not given are
    left out)."""
    out = {BASE_FRAME: np.eye(4), **(links or {})}
    for t in transforms:  # parents first
        if t.parent in out:
            out[t.child] = out[t.parent] @ t.matrix()
    return out


def link_pose(body: int, link: int, cid: int) -> np.ndarray:
    """4x4 pose of a PyBullet link's URDF frame in the world (= base) frame."""
    s = pb.getLinkState(body, link, computeForwardKinematics=True, physicsClientId=cid)
    m = np.eye(4)
    m[:3, :3] = Rotation.from_quat(s[5]).as_matrix()
    m[:3, 3] = s[4]
    return m


def optical_from_view(view) -> np.ndarray:
    """4x4 pose in the world of the optical frame (z forward, x right, y down) of a PyBullet
    (OpenGL, column-major) view matrix, whose camera looks along -z with y up."""
    world_to_gl = np.asarray(view, float).reshape(4, 4).T
    gl_to_world = np.linalg.inv(world_to_gl)
    return gl_to_world @ np.diag([1.0, -1.0, -1.0, 1.0])


@pytest.fixture(scope="module")
def world():
    cfg = SimConfig()
    cfg.camera.depth_noise_m = cfg.camera.color_noise = 0.0
    cfg.lidar.range_noise_m = 0.0
    w = World(random_scene(2), cfg, seed=2)
    yield w
    w.close()


# -- the frame ids are the ones the bridge stamps; /joint_states names the URDF's joints ---------


def test_frame_ids_are_the_bridge_stamps_and_joint_states_name_the_urdf_joints():
    from omni_ros.streams import BY_KEY, JOINT_NAMES

    children = {t.child for t in frame_tree()}
    links = {j["child"] for j in urdf_joints()} | {j["parent"] for j in urdf_joints()}
    for key in ("color", "depth", "camera_info", "lidar", "audio", "wrench", "thermal",
                "thermal_info"):
        assert BY_KEY[key].frame_id in children, key
    assert BY_KEY["tactile"].frame_id in links          # the hand, a URDF link
    assert set(PADS) <= children                        # each pad's frame_id in the message
    assert BY_KEY["ground_truth"].frame_id == BASE_FRAME
    # robot_state_publisher needs every moving joint of the URDF in /joint_states
    assert JOINT_NAMES == moving_joints(robot_description())
    assert len({t.child for t in frame_tree()}) == len(frame_tree())


def test_perception_reading_the_mounts_from_tf_gets_its_defaults():
    """perception's camera.from_tf / lidar.from_tf look up panda_link0 -> the stream's frame and
    turn it into a mount pose (nodes/sensor_inputs.sensor_mount): from these transforms that is
    the sim cell's camera.pose / lidar.pose it uses without /tf."""
    from omni_ros.core.camera import optical_to_pose
    from omni_ros.core.perception.pipeline import SIM_CAMERA_POSE, SIM_LIDAR_POSE

    poses = base_poses(frame_tree())
    camera = poses["camera_color_optical_frame"]
    np.testing.assert_allclose(optical_to_pose(camera[:3, 3], camera[:3, :3]), SIM_CAMERA_POSE,
                               atol=1e-6)
    lidar = poses["lidar_link"]
    np.testing.assert_allclose([*lidar[:3, 3], *Rotation.from_matrix(lidar[:3, :3]).as_euler("xyz")],
                               SIM_LIDAR_POSE, atol=1e-12)


# -- the tree against the real PyBullet world --------------------------------------------------


def test_camera_frames_are_where_the_renderers_look(world):
    poses = base_poses(frame_tree(world.cfg))
    for camera, frame in ((world.camera, "camera_color_optical_frame"),
                          (world.thermal, "thermal_optical_frame")):
        np.testing.assert_allclose(poses[frame], optical_from_view(camera.view), atol=1e-6)
    # the body frame is REP 103's: x along the viewing direction, z up-ish (no roll)
    body = poses["camera_link"]
    eye, target = np.array(world.cfg.camera.eye), np.array(world.cfg.camera.target)
    np.testing.assert_allclose(body[:3, 0], (target - eye) / np.linalg.norm(target - eye),
                               atol=1e-9)
    assert abs(body[2, 1]) < 1e-9 and body[2, 2] > 0


def test_rendered_depth_placed_with_the_tree_lands_where_rays_hit(world):
    """Pixels of a rendered depth image, placed in the base frame with the tree's optical frame
    and the bridge's intrinsics (its CameraInfo), are the points where PyBullet's rays through
    those pixels hit: within millimetres (the renderer's pixel centres sit half a pixel lower
    than the CameraInfo's, 0.4 mm median with that shift), where a wrong frame is decimetres off."""
    _, depth = world.camera.read()
    k = world.camera.intrinsics
    optical = base_poses(frame_tree(world.cfg))["camera_color_optical_frame"]
    v, u = np.mgrid[4:k.height:8, 4:k.width:8]
    v, u, z = v.ravel(), u.ravel(), depth[v, u].ravel()
    keep = np.isfinite(z) & (z < world.cfg.camera.far - 1e-3)  # (background renders at far)
    assert keep.sum() > 50
    v, u, z = v[keep], u[keep], z[keep]
    local = np.stack([(u - k.cx) / k.fx * z, (v - k.cy) / k.fy * z, z, np.ones_like(z)], 1)
    points = (local @ optical.T)[:, :3]
    origin = optical[:3, 3]
    ends = origin + (points - origin) * 1.5
    hits = pb.rayTestBatch([origin.tolist()] * len(points), ends.tolist(),
                           physicsClientId=world.cid)
    assert all(h[0] >= 0 for h in hits)
    err = np.linalg.norm(np.array([h[3] for h in hits]) - points, axis=1)
    assert np.median(err) < 0.005 and np.percentile(err, 90) < 0.02, np.percentile(err, [50, 90])


def test_lidar_points_through_the_tree_lie_on_the_table_and_bodies(world):
    scan = world.lidar.read()
    lidar = base_poses(frame_tree(world.cfg))["lidar_link"]
    np.testing.assert_allclose(lidar[:3, :3], np.eye(3))       # axes parallel to the base
    pts = scan[..., :3].reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(1)]
    base = pts @ lidar[:3, :3].T + lidar[:3, 3]
    # every return is on a body: a ray from the lidar's origin towards it hits right there
    hits = pb.rayTestBatch([lidar[:3, 3].tolist()] * len(base),
                           (lidar[:3, 3] + (base - lidar[:3, 3]) * 1.01).tolist(),
                           physicsClientId=world.cid)
    np.testing.assert_allclose(np.array([h[3] for h in hits]), base, atol=1e-4)
    assert abs(np.percentile(base[:, 2], 5)) < 0.002   # the table top is z = 0 in the base


def test_wrist_wrench_is_reported_in_the_ft_frame(world):
    """PyBullet's reaction at the hand joint, with the arm held still in a tilted pose, is the
    hand's weight: along gravity expressed in panda_hand_ft (and not in panda_link8, 45 degrees
    off about z, where the sensor's docstring places it)."""
    robot = world.robot
    q = np.array([0.3, -0.5, 0.2, -2.0, 0.8, 1.2, 0.0])
    for j, v in enumerate(q):
        pb.resetJointState(robot.id, j, v, physicsClientId=world.cid)
    robot.set_arm_target(q)
    for _ in range(240):
        world.step()
    force = robot.wrist_wrench()[:3]
    joints = urdf_joints()
    names = {j["child"]: i for i, j in enumerate(joints)}
    ft = base_poses(frame_tree(world.cfg), {"panda_hand": link_pose(
        robot.id, names["panda_hand"], world.cid)})["panda_hand_ft"]
    gravity_in_ft = ft[:3, :3].T @ np.array([0.0, 0.0, -1.0])
    cos = float(-force @ gravity_in_ft / np.linalg.norm(force))
    assert cos > 0.999, (force, gravity_in_ft)
    link8 = link_pose(robot.id, names["panda_link8"], world.cid)[:3, :3]
    assert float(-force @ (link8.T @ [0.0, 0.0, -1.0]) / np.linalg.norm(force)) < 0.99
    assert joints[HAND_JOINT]["name"] == "panda_hand_joint"


def test_tactile_pad_frames_hold_the_taxel_grids_as_the_message_says(world):
    """In its pad frame each pad's taxels lie in the plane z = 0, row 0 (nearest the fingertip)
    at the largest x, column 0 at the largest y; +z of each pad points at the other pad."""
    cfg = world.cfg.tactile
    joints = urdf_joints()
    fingers = {LEFT_FINGER: joints[LEFT_FINGER]["child"], RIGHT_FINGER: joints[RIGHT_FINGER]["child"]}
    links = {name: link_pose(world.robot.id, i, world.cid) for i, name in fingers.items()}
    poses = base_poses(frame_tree(world.cfg), links)
    tree = {t.child: t for t in frame_tree(world.cfg)}
    for pad, link in PADS.items():
        assert tree[pad].parent == fingers[link]
        local = world.tactile.taxels_local[link]                         # finger link frame
        m = np.linalg.inv(tree[pad].matrix())
        grid = (local @ m[:3, :3].T + m[:3, 3]).reshape(cfg.rows, cfg.cols, 3)
        np.testing.assert_allclose(grid[..., 2], 0.0, atol=1e-12)
        assert np.all(np.diff(grid[..., 0], axis=0) < 0)               # row 0: largest x
        assert np.all(np.diff(grid[..., 1], axis=1) < 0)               # column 0: largest y
        other = poses[next(p for p in PADS if p != pad)][:3, 3] - poses[pad][:3, 3]
        assert float(poses[pad][:3, 2] @ other) > 0                     # +z faces the other pad
        # +x towards the fingertip: the finger link's +z (away from the hand)
        np.testing.assert_allclose(poses[pad][:3, 0], links[fingers[link]][:3, 2], atol=1e-9)


def urdf_fk(urdf: str, positions: dict[str, float]) -> dict[str, np.ndarray]:
    """Every link's pose in the root link from the URDF's joints (what robot_state_publisher
    computes): origin (xyz, rpy) then the joint's motion about / along its axis."""
    out = {}
    joints = urdf_joints(urdf)
    roots = {j["parent"] for j in joints} - {j["child"] for j in joints}
    out.update({r: np.eye(4) for r in roots})
    pending = list(joints)
    while pending:
        j = next(j for j in pending if j["parent"] in out)
        pending.remove(j)
        origin = np.eye(4)
        origin[:3, :3] = Rotation.from_euler("xyz", j["rpy"]).as_matrix()
        origin[:3, 3] = j["xyz"]
        motion = np.eye(4)
        q = positions.get(j["name"], 0.0)
        if j["type"] in ("revolute", "continuous"):
            motion[:3, :3] = Rotation.from_rotvec(np.array(j["axis"]) * q).as_matrix()
        elif j["type"] == "prismatic":
            motion[:3, 3] = np.array(j["axis"]) * q
        out[j["child"]] = out[j["parent"]] @ origin @ motion
    return out


def test_robot_description_places_every_link_where_pybullet_has_it(world):
    """robot_state_publisher's view (the URDF it is given + /joint_states as the bridge names
    them) against PyBullet's link frames, in a pose away from home."""
    from omni_ros.streams import JOINT_NAMES

    robot = world.robot
    q = [0.4, -0.2, -0.3, -1.8, 0.5, 1.5, -0.6]
    for j, v in enumerate(q):
        pb.resetJointState(robot.id, j, v, physicsClientId=world.cid)
    for j in (9, 10):
        pb.resetJointState(robot.id, j, 0.03, physicsClientId=world.cid)
    positions = dict(zip(JOINT_NAMES, robot.joint_positions()))  # what /joint_states says
    urdf = robot_description()
    fk = urdf_fk(urdf, positions)
    assert len(fk) == pb.getNumJoints(robot.id, physicsClientId=world.cid) + 1
    for i in range(pb.getNumJoints(robot.id, physicsClientId=world.cid)):
        name = pb.getJointInfo(robot.id, i, physicsClientId=world.cid)[12].decode()
        np.testing.assert_allclose(fk[name], link_pose(robot.id, i, world.cid), atol=1e-6,
                                   err_msg=name)
    meshes = re.findall(r'filename="([^"]+)"', urdf)
    assert meshes and all(m.startswith("file:///") and Path(m[7:]).is_file() for m in meshes)


def test_a_randomised_cell_moves_the_camera_frames_with_its_drawn_mount():
    from omni_ros_sim.tasks import random_cell

    cfg = from_flat_dict(SimConfig, flatten_tree(yaml.safe_load(
        (ROOT / "config" / "randomize.yaml").read_text())))
    cid = pb.connect(pb.DIRECT)
    try:
        for seed in (1, 5):
            camera = Camera(random_cell(seed, cfg).cfg.camera, np.random.default_rng(0), cid)
            poses = base_poses(cell_frames(seed, cfg))
            np.testing.assert_allclose(poses["camera_color_optical_frame"],
                                       optical_from_view(camera.view), atol=1e-6)
            assert poses["microphone_link"][:3, 3].tolist() == poses["camera_link"][:3, 3].tolist()
        assert not np.allclose(base_poses(cell_frames(1, cfg))["camera_link"],
                               base_poses(frame_tree(cfg))["camera_link"])
    finally:
        pb.disconnect(cid)


# -- the parameter file (pip path) and the CLI ---------------------------------------------------


def test_committed_parameter_file_is_the_functions_output():
    text = FRAMES_YAML.read_text()
    assert text == frames_yaml(frame_tree(SimConfig()), "omni-ros frames"), \
        "config/tf/frames.yaml is stale: run `omni-ros frames --out config/tf/frames.yaml`"
    doc = yaml.safe_load(text)
    assert doc["base_frame"] == BASE_FRAME
    for entry, t in zip(doc["transforms"], frame_tree(SimConfig()), strict=True):
        assert (entry["parent"], entry["child"]) == (t.parent, t.child)
        np.testing.assert_allclose(entry["xyz"], t.xyz, atol=1e-9)
        # quaternion and rpy name the same rotation
        a = Rotation.from_quat(entry["quaternion_xyzw"]).as_matrix()
        b = Rotation.from_euler("xyz", entry["rpy"]).as_matrix()
        np.testing.assert_allclose(a, b, atol=1e-8)
        np.testing.assert_allclose(a, t.matrix()[:3, :3], atol=1e-8)
    # the bridge's own parameter file gives the default frames
    bridge = sim_config_from_params([ROOT / "config" / "sim_bridge.yaml"])
    assert frame_tree(bridge) == frame_tree(SimConfig())


def test_sim_config_from_params_reads_the_bridge_sections_in_order(tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text("/**:\n  ros__parameters:\n    sim:\n      lidar: {position: [0.1, 0.2, 0.3]}\n"
                    "/sim_bridge:\n  ros__parameters:\n    seed: 4\n"
                    "    sim.camera.eye: [1.2, 0.1, 0.7]\n"
                    "/perception:\n  ros__parameters:\n    sim: {lidar: {position: [9, 9, 9]}}\n")
    cfg = sim_config_from_params([ROOT / "config" / "sim_bridge.yaml", mine])
    poses = base_poses(frame_tree(cfg))
    np.testing.assert_allclose(poses["lidar_link"][:3, 3], [0.1, 0.2, 0.3])
    np.testing.assert_allclose(poses["camera_link"][:3, 3], [1.2, 0.1, 0.7])
    bad = tmp_path / "bad.yaml"
    bad.write_text("/sim_bridge:\n  ros__parameters:\n    sim: {lidar: {rings: 0}}\n")
    with pytest.raises(ConfigError, match="lidar.rings"):
        sim_config_from_params([bad])


def test_cli_writes_the_committed_file_and_follows_the_params(tmp_path, capsys):
    from omni_ros.cli import main

    out = tmp_path / "frames.yaml"
    r = run_py("-m", "omni_ros.cli", "frames", "--out", str(out), timeout=180)  # the real CLI
    assert r.returncode == 0, r.stderr
    assert out.read_text() == FRAMES_YAML.read_text()
    mine = tmp_path / "mine.yaml"
    mine.write_text("/sim_bridge:\n  ros__parameters:\n    sim: {lidar: {position: [0.4, 0.5, 0.6]}}\n")
    assert main(["frames", "--params", str(mine), "--format", "table"]) == 0
    assert "| panda_link0 | lidar_link | 0.4000, 0.5000, 0.6000 | 0.0000, 0.0000, 0.0000 |" \
        in capsys.readouterr().out
    mine.write_text("/sim_bridge:\n  ros__parameters:\n    sim: {lidar: {bogus: 1}}\n")
    assert main(["frames", "--params", str(mine)]) == 2
    err = capsys.readouterr().err
    assert "omni-ros frames: error:" in err and "lidar.bogus" in err
    assert main(["frames", "--params", str(tmp_path / "nope.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    # the figure: the frames over a real sim scene (what RViz shows), a PNG
    png = tmp_path / "frames.png"
    assert main(["frames", "--out", str(tmp_path / "f.yaml"), "--figure", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


# -- frames.launch.py: what it starts with and without the ROS packages --------------------------


def launch_functions():
    """frames.launch.py's pure functions (installed, flag, frame_nodes), run without the launch
    packages (a pip install has none): only their definitions are executed."""
    tree = ast.parse(LAUNCH.read_text())
    defs = [f for f in tree.body if isinstance(f, ast.FunctionDef)
            and f.name in ("installed", "flag", "frame_nodes")]
    scope: dict = {}
    exec(compile(ast.Module(defs, []), str(LAUNCH), "exec"), scope)
    return scope


def ament_prefix(tmp_path: Path, packages) -> str:
    """An install prefix whose ament index lists ``packages`` (what colcon / apt install)."""
    index = tmp_path / "share" / "ament_index" / "resource_index" / "packages"
    index.mkdir(parents=True, exist_ok=True)
    for p in packages:
        (index / p).write_text("")
    return str(tmp_path)


@pytest.mark.parametrize("have", [("tf2_ros", "robot_state_publisher", "rviz2"), ()],
                         ids=["ros-desktop", "bare"])
def test_frames_launch_starts_what_is_installed_and_logs_the_rest(have, tmp_path, monkeypatch):
    fns = launch_functions()
    monkeypatch.setenv("AMENT_PREFIX_PATH", ament_prefix(tmp_path, have))
    files = [str(ROOT / "config" / "sim_bridge.yaml")]
    plan = fns["frame_nodes"](files, True, str(RVIZ), fns["installed"])
    nodes = {what["name"]: what for kind, what in plan if kind == "node"}
    logs = [what for kind, what in plan if kind == "log"]
    if not have:
        assert nodes == {}
        for package in ("tf2_ros", "robot_state_publisher", "rviz2"):
            assert any(f"{package} is not installed" in line for line in logs), logs
        return
    assert logs == []
    tree = frame_tree(SimConfig())
    for t in tree:
        node = nodes.pop(f"static_tf_{t.child}")
        assert (node["package"], node["executable"]) == ("tf2_ros", "static_transform_publisher")
        args = dict(zip(node["arguments"][::2], node["arguments"][1::2]))
        assert (args["--frame-id"], args["--child-frame-id"]) == (t.parent, t.child)
        got = [float(args[k]) for k in ("--x", "--y", "--z", "--qx", "--qy", "--qz", "--qw")]
        assert got == list(t.xyz + t.quat)
    rsp = nodes.pop("robot_state_publisher")
    assert (rsp["package"], rsp["executable"]) == ("robot_state_publisher", "robot_state_publisher")
    assert rsp["parameters"] == [{"robot_description": robot_description(), "use_sim_time": True}]
    rviz = nodes.pop("rviz2")
    assert (rviz["package"], rviz["executable"], rviz["arguments"]) == ("rviz2", "rviz2",
                                                                        ["-d", str(RVIZ)])
    assert rviz["parameters"] == [{"use_sim_time": True}]
    assert nodes == {}
    # rviz:=false: no RViz, nothing said about it
    plan = fns["frame_nodes"](files, False, str(RVIZ), fns["installed"])
    assert "rviz2" not in {what.get("name") for kind, what in plan if kind == "node"}


def test_launch_arguments_and_the_sim_demo_include():
    fns = launch_functions()
    assert [fns["flag"](v, "rviz") for v in ("true", " True", "1", "false", "", "no")] == \
        [True, True, True, False, False, False]
    with pytest.raises(ValueError, match="rviz:=maybe: must be true or false"):
        fns["flag"]("maybe", "rviz")
    text = LAUNCH.read_text()
    assert re.search(r'DeclareLaunchArgument\(\s*"rviz", default_value="false"', text)
    assert '"rviz", "omni_ros.rviz"' in text       # the installed config (setup.py data_files)
    # the URDF goes to robot_state_publisher as text, never read as YAML by launch_ros
    assert 'ParameterValue(v, value_type=str) if k == "robot_description"' in text
    setup = (ROOT / "setup.py").read_text()
    assert 'glob("rviz/*.rviz")' in setup and 'glob("config/tf/*.yaml")' in setup
    demo = (ROOT / "launch" / "sim_demo.launch.py").read_text()
    assert re.search(r'DeclareLaunchArgument\(\s*"rviz", default_value="false"', demo)
    include = next(c for c in ast.walk(ast.parse(demo)) if isinstance(c, ast.Call)
                   and getattr(c.func, "id", "") == "IncludeLaunchDescription")
    src = ast.unparse(include)
    assert "'frames.launch.py'" in src
    assert "'rviz': LaunchConfiguration('rviz')" in src
    assert "'params_file': LaunchConfiguration('params_file')" in src


# -- the RViz config ------------------------------------------------------------------------------


def test_rviz_config_shows_the_topics_and_frames_the_code_publishes():
    from omni_ros.streams import BY_KEY

    cfg = yaml.safe_load(RVIZ.read_text())
    manager = cfg["Visualization Manager"]
    assert manager["Global Options"]["Fixed Frame"] == BASE_FRAME
    displays = {d["Class"].split("/")[-1]: d for d in manager["Displays"]}
    assert {"RobotModel", "TF", "PointCloud2", "Image", "MarkerArray"} <= set(displays)
    assert all(d["Enabled"] for d in displays.values())
    model = displays["RobotModel"]
    assert model["Description Source"] == "Topic"
    assert model["Description Topic"]["Value"] == "/robot_description"
    assert model["Description Topic"]["Durability Policy"] == "Transient Local"  # latched
    # the sensor displays read the bridge's topics, best effort (its default qos: sensor_data)
    for cls, key in (("PointCloud2", "lidar"), ("Image", "color")):
        topic = displays[cls]["Topic"]
        assert topic["Value"] == BY_KEY[key].topic
        assert topic["Reliability Policy"] == "Best Effort"
    perception = (ROOT / "omni_ros" / "nodes" / "perception.py").read_text()
    markers = displays["MarkerArray"]["Topic"]["Value"]
    assert re.search(rf'create_lifecycle_publisher\(MarkerArray, "{markers}"', perception)
    point = next(t for t in manager["Tools"] if t["Class"].endswith("PublishPoint"))
    assert point["Topic"]["Value"] == "/clicked_point"
    teleop = (ROOT / "omni_ros" / "nodes" / "teleop.py").read_text()
    assert '"/clicked_point"' in teleop


# -- the live bridge: every frame it stamps is in the tree; /joint_states names the URDF joints --


@pytest.mark.ros
def test_every_frame_the_running_bridge_stamps_is_in_the_published_tree(rclpy_context):
    """A real sim bridge process over DDS: each sensor message's header frame (and each tactile
    pad's) is the base, a frame of frame_tree or a link robot_state_publisher places, and
    /joint_states names exactly the URDF's moving joints, in the bridge's order."""
    from omni_ros.nodes.common import RELIABLE_QOS
    from omni_ros.streams import SENSOR_STREAMS
    from test_sim_bridge import Harness

    known = {BASE_FRAME} | {t.child for t in frame_tree()} | {j["child"] for j in urdf_joints()}
    seen: dict[str, object] = {}
    h = Harness(rclpy_context, "real_time_factor:=0.0")
    try:
        for s in SENSOR_STREAMS:
            h.node.create_subscription(s.msg_type, s.topic,
                                       lambda m, key=s.key: seen.setdefault(key, m), RELIABLE_QOS)
        h.spin_until(lambda: len(seen) == len(SENSOR_STREAMS), 180, "every sensor stream")
    finally:
        out = h.close()
    assert "Traceback" not in out
    joints = seen.pop("joints")
    assert list(joints.name) == moving_joints(robot_description())
    assert len(joints.position) == len(joints.name)
    frames = {key: m.header.frame_id for key, m in seen.items()}
    frames.update({f"pad {p.frame_id}": p.frame_id for p in seen["tactile"].pads})
    assert all(f in known for f in frames.values()), {k: f for k, f in frames.items()
                                                      if f not in known}
