"""Camera and lidar geometry are inputs: CameraInfo of any resolution (crop + resize, intrinsics
scaled alike), mounting poses as parameters, per-sample geometry in datasets. Real renders from
the sim where a camera is needed."""

import numpy as np
import pytest

from omni_ros.core.camera import (CameraIntrinsics, check_pose, optical_to_pose, pose_matrix,
                                  pose_to_optical)
from omni_ros.core.config import ConfigError, from_flat_dict
from omni_ros.core.errors import InputError
from omni_ros.core.geometry import CameraGeometry
from omni_ros.core.model.modalities import REGISTRY
from omni_ros.core.model.modalities.camera import camera_geometry
from omni_ros.core.model.model_config import ModelConfig
from omni_ros.core.perception.pipeline import SIM_CAMERA_POSE
from omni_ros_sim.config import SimConfig

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("pose", [[1.05, 0.0, 0.62, 0.0, 0.8, np.pi], [0.1, -0.3, 1.2, 0.2, -0.4, 1.0],
                                  [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
def test_a_mounting_pose_is_the_body_frame_and_round_trips(pose):
    position, rot = pose_to_optical(pose)
    # REP 103: the optical z axis is the body's x (forward), optical x its -y (right)
    body = pose_matrix(pose)[:3, :3]
    assert np.allclose(rot[:, 2], body[:, 0]) and np.allclose(rot[:, 0], -body[:, 1])
    assert np.allclose(pose_to_optical(optical_to_pose(position, rot))[1], rot)
    assert np.allclose(optical_to_pose(position, rot)[:3], pose[:3])


def test_the_sim_cameras_default_mount_is_its_view():
    view = CameraGeometry.from_config(SimConfig().camera)
    assert np.allclose(view.pose, SIM_CAMERA_POSE, atol=1e-5)
    # the nominal camera looks down at the table: optical z points to -x and down
    assert view.rotation[0, 2] < 0 and view.rotation[2, 2] < 0


@pytest.mark.parametrize("bad, match", [([1, 2, 3], "6 finite numbers"),
                                        ([0, 0, np.nan, 0, 0, 0], "6 finite numbers"),
                                        ([500, 0, 0, 0, 0, 0], "within"),
                                        ([0, 0, 0, 0, 0, 90], "radians")])
def test_a_wrong_pose_is_a_clear_error_at_configure(bad, match):
    with pytest.raises(ValueError, match=match):
        check_pose(bad)
    from omni_ros.nodes.perception import PerceptionConfig

    with pytest.raises(ConfigError, match="camera.pose"):
        from_flat_dict(PerceptionConfig, {"camera.pose": [float(v) for v in bad]})


def test_fit_crops_to_the_aspect_and_scales_the_intrinsics():
    k = CameraIntrinsics(640, 480, 600.0, 610.0, 320.5, 240.25)
    box, fitted = k.fit(96, 96)
    assert box == (80, 0, 480, 480)
    s = 96 / 480
    assert np.isclose(fitted.fx, 600 * s) and np.isclose(fitted.fy, 610 * s)
    assert np.isclose(fitted.cx, (320.5 - 80 + 0.5) * s - 0.5)
    # a 3-D point lands on the same spot of the scene in both images
    p = np.array([0.05, -0.03, 0.8])
    u_full = k.fx * p[0] / p[2] + k.cx
    u_model = fitted.fx * p[0] / p[2] + fitted.cx
    assert np.isclose((u_full - 80 + 0.5) * s - 0.5, u_model)


def _render(width, height, fov):
    from omni_ros_sim.scene import random_scene
    from omni_ros_sim.world import World

    cfg = SimConfig()
    cfg.camera.width, cfg.camera.height, cfg.camera.fov_deg = width, height, fov
    cfg.camera.depth_noise_m = cfg.camera.color_noise = 0.0
    with World(random_scene(3), cfg, 3) as world:
        color, depth = world.camera.read()
        return color, depth, world.camera.intrinsics


def test_any_resolution_gives_the_model_the_same_view_and_geometry():
    """A 640x480 render (cropped + resized) and a 96x96 render of the same scene through the
    same vertical FOV: the same picture and the same back-projected points."""
    cfg = ModelConfig().camera
    big_c, big_d, big_k = _render(640, 480, cfg.fov_deg)
    small_c, small_d, _ = _render(96, 96, cfg.fov_deg)
    w = REGISTRY["camera"].window(cfg)
    w.set_pose(CameraGeometry.from_config(cfg).pose)
    w.push("camera_info", 0, big_k)
    w.push("color", 1, big_c)
    assert w.push("depth", 1, big_d)
    arrays = w.read()
    assert arrays["color"].shape == (96, 96, 3) and arrays["depth"].shape == (96, 96)
    assert np.mean(np.abs(arrays["color"].astype(int) - small_c.astype(int))) < 12  # levels
    geo = camera_geometry(arrays, cfg)
    assert np.allclose(geo.intrinsics.K, CameraGeometry.from_config(cfg).intrinsics.K, atol=1e-6)
    both = np.isfinite(arrays["depth"]) & np.isfinite(small_d)
    here = geo.points_base(arrays["depth"])[both]
    there = CameraGeometry.from_config(cfg).points_base(small_d)[both]
    assert np.median(np.linalg.norm(here - there, axis=1)) < 0.005  # [m]


@pytest.mark.parametrize("fov", [45.0, 75.0])
def test_another_lens_is_resampled_to_the_training_focal_length(fov):
    """A narrower or wider lens: the model sees objects at the size in pixels it learned (the
    wider image cropped and enlarged, the narrower one shrunk and padded with no data)."""
    cfg = ModelConfig().camera
    other_c, other_d, other_k = _render(96, 96, fov)
    nominal_c, nominal_d, _ = _render(96, 96, cfg.fov_deg)
    w = REGISTRY["camera"].window(cfg)
    w.push("camera_info", 0, other_k)
    w.push("color", 1, other_c)
    w.push("depth", 1, other_d)
    arrays = w.read()
    nominal = CameraGeometry.from_config(cfg).intrinsics  # focal within 2 % (whole pixels)
    assert np.allclose(arrays["camera_K"][[0, 1], [0, 1]], nominal.fx, rtol=0.02)
    assert np.allclose(arrays["camera_K"][[0, 1], [2, 2]], nominal.cx, atol=0.05)
    seen = np.isfinite(arrays["depth"]) & np.isfinite(nominal_d)
    assert seen.mean() > 0.5
    assert np.median(np.abs(arrays["depth"][seen] - nominal_d[seen])) < 0.01       # [m]
    assert np.median(np.abs(arrays["color"][seen].astype(int) - nominal_c[seen])) < 10
    if fov < cfg.fov_deg:  # the border the narrower lens does not see reads no return
        assert np.isnan(arrays["depth"][:, :5]).all() and (arrays["color"][:, :5] == 0).all()


WORKSPACE = [0.38, 0.64, -0.24, 0.24, 0.0, 0.08]  # the sim's object spawn box [m]


def _shoulder_view(width=640, height=480):
    from omni_ros_sim.scene import random_scene
    from omni_ros_sim.world import World

    cfg = SimConfig()
    cfg.camera.width, cfg.camera.height = width, height
    cfg.camera.eye, cfg.camera.target = [-0.15, 0.40, 0.90], [0.5, 0.0, 0.0]
    cfg.camera.depth_noise_m = cfg.camera.color_noise = 0.0
    with World(random_scene(7), cfg, 7) as world:
        color, depth = world.camera.read()
        return color, depth, CameraGeometry.from_config(cfg.camera)


def _window(cfg, geometry, color, depth, pose=True):
    w = REGISTRY["camera"].window(cfg)
    if pose:
        w.set_pose(geometry.pose)
    w.push("camera_info", 0, geometry.intrinsics)
    w.push("color", 1, color)
    assert w.push("depth", 1, depth)
    return w.read()


def test_the_workspace_crop_zooms_on_the_box_and_keeps_the_geometry():
    """An over-the-shoulder 640x480 camera: with ``workspace_crop_m`` the model's image is the
    box's projection (plus the margin) at a longer focal length than the training camera's,
    and its depth still back-projects to the scene where it is."""
    cfg = ModelConfig().camera
    cfg.workspace_crop_m = WORKSPACE
    color, depth, full = _shoulder_view()
    arrays = _window(cfg, full, color, depth)
    geo = camera_geometry(arrays, cfg)
    nominal = CameraGeometry.from_config(cfg).intrinsics.fy
    assert geo.intrinsics.fy > 1.3 * nominal  # zoomed: far objects get more pixels
    corners = np.array([(x, y, z) for x in WORKSPACE[:2] for y in WORKSPACE[2:4]
                        for z in WORKSPACE[4:]])
    uv, _ = geo.project(corners)
    assert uv.min() >= 0 and uv.max() <= 95  # the whole box is in the image...
    span = uv.max(axis=0) - uv.min(axis=0)
    assert span.max() > 0.75 * 96  # ... and fills it (the margin aside)
    # every seen pixel lands where the full image saw the scene
    pts = geo.points_base(arrays["depth"]).reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(axis=1)]
    assert len(pts) > 0.5 * 96 * 96
    uv, z = full.project(pts)
    u, v = np.rint(uv).astype(int).T
    inside = (u >= 0) & (u < 640) & (v >= 0) & (v < 480)
    err = np.abs(depth[v[inside], u[inside]] - z[inside])
    assert np.nanmedian(err) < 0.002  # [m]
    # without the pose the window cannot place the box: the training camera's focal length
    plain = camera_geometry(_window(cfg, full, color, depth, pose=False), cfg)
    assert np.isclose(plain.intrinsics.fy, nominal, rtol=0.02)


def test_the_workspace_crop_zooms_no_more_than_max_zoom():
    cfg = ModelConfig().camera
    cfg.workspace_crop_m, cfg.max_zoom = [0.50, 0.52, -0.01, 0.01, 0.0, 0.02], 2.0
    color, depth, full = _shoulder_view(160, 120)
    geo = camera_geometry(_window(cfg, full, color, depth), cfg)
    nominal = CameraGeometry.from_config(cfg).intrinsics.fy
    assert np.isclose(geo.intrinsics.fy, 2.0 * nominal, rtol=0.02)


def test_the_cells_bench_keeps_each_camera_windows_data_apart():
    from omni_ros.benchmarks.cells import window_folder

    cfg = ModelConfig().camera
    assert window_folder(cfg) == ""  # the folders every checkpoint before crops used
    cfg.workspace_crop_m = WORKSPACE
    tag = window_folder(cfg)
    cfg.max_zoom = 2.0
    assert tag.startswith("window-") and window_folder(cfg) not in ("", tag)


def test_the_cells_bench_runs_chosen_cells_with_cameras_of_another_size(tmp_path):
    """`bench --suite cells --cell A;B --size WxH`: only those cells, their cameras made that
    size (recorded in each dataset's sim config), in folders of their own; an unknown cell is
    refused with the list."""
    import json

    from omni_ros.benchmarks import cells

    r = cells.run(1, checkpoint="omni_small.pt", out_dir=tmp_path, only=("moved 12 cm",),
                  size=(160, 120))
    assert list(r["cells"]) == ["moved 12 cm"] and r["size"] == [160, 120]
    made = json.loads((tmp_path / "moved_12_cm_160x120" / "manifest.json").read_text())["sim_config"]
    assert (made["camera.width"], made["camera.height"]) == (160, 120)
    assert made["camera.eye"] == cells.CELLS["moved 12 cm"][1]["eye"]
    assert r["cells"]["moved 12 cm"]["samples"] > 0
    with pytest.raises(ValueError, match="moved 12 cm"):
        cells.run(1, out_dir=tmp_path, only=("moved 13 cm",))


def test_the_workspace_roi_reads_a_part_of_a_large_frame_and_zooms_in():
    """The ROI bench's accounting (bench --suite roi): from over the shoulder at 640 x 480 the
    workspace crop reads under a third of the frame, at more than 1.5x the training focal
    length; the whole-frame window reads its centred box at 1x; bytes are 7 per pixel read."""
    from omni_ros.benchmarks.roi import frame, window_cost

    f = frame("over the shoulder", (640, 480))
    whole = window_cost(ModelConfig().camera, f, repeat=1)
    roi_cfg = ModelConfig().camera
    roi_cfg.workspace_crop_m = WORKSPACE
    roi = window_cost(roi_cfg, f, repeat=1)
    assert whole["zoom"] == pytest.approx(1.0) and roi["zoom"] > 1.5
    assert roi["pixels_read"] < whole["frame_bytes"] / 7 / 3 < whole["pixels_read"]
    for r in (whole, roi):
        assert r["bytes_read"] == 7 * r["pixels_read"] and r["frame_bytes"] == 7 * 640 * 480


@pytest.mark.parametrize("box", [[0.4, 0.6, -0.2, 0.2], [0.6, 0.4, -0.2, 0.2, 0.0, 0.1]])
def test_a_wrong_workspace_crop_is_a_clear_error(box):
    with pytest.raises(ConfigError, match="workspace_crop_m.*x_min, x_max"):
        from_flat_dict(ModelConfig, {"camera.workspace_crop_m": box})


def test_images_that_disagree_with_their_camera_info_are_refused():
    w = REGISTRY["camera"].window(ModelConfig().camera)
    w.push("camera_info", 0, CameraIntrinsics.from_fov(640, 480, 58))
    with pytest.raises(InputError, match="640x480"):
        w.push("color", 1, np.zeros((96, 96, 3), np.uint8))
    with pytest.raises(InputError, match="camera_info"):
        w.push("camera_info", 2, CameraIntrinsics(640, 480, 0.0, 0.0, 320, 240))


def test_a_moved_camera_is_placed_where_it_is():
    """Depth rendered from a camera 12 cm to the side and 4 cm up: with its pose as input the
    table comes out at z = 0 where it is seen; with the model's baked-in view it does not."""
    from omni_ros_sim.scene import random_scene
    from omni_ros_sim.world import World

    cfg = SimConfig()
    cfg.camera.eye, cfg.camera.target = [1.0, 0.12, 0.66], [0.45, 0.02, 0.0]
    cfg.camera.depth_noise_m = 0.0
    with World(random_scene(5), cfg, 5) as world:
        _, depth = world.camera.read()
    mcfg = ModelConfig().camera
    arrays = {"depth": depth, "camera_K": world.camera.intrinsics.K,
              "camera_pose": CameraGeometry.from_config(cfg.camera).pose}
    table = lambda g: g.points_base(depth)[70:90, 10:30].reshape(-1, 3)  # a patch of table top
    assert np.abs(np.nanmedian(table(camera_geometry(arrays, mcfg))[:, 2])) < 0.003
    assert np.abs(np.nanmedian(table(CameraGeometry.from_config(mcfg))[:, 2])) > 0.01


def test_a_lidar_mounted_elsewhere_reaches_the_base_frame_where_it_is():
    cfg = ModelConfig().lidar
    w = REGISTRY["lidar"].window(cfg)
    pose = [0.2, 0.4, 0.8, 0.0, 0.3, -1.2]
    w.set_pose(pose)
    pts_base = RNG.uniform(-1, 1, (cfg.rings, cfg.columns, 3))
    m = pose_matrix(pose)
    in_lidar = (pts_base - m[:3, 3]) @ m[:3, :3]
    cloud = np.concatenate([in_lidar, np.ones((*in_lidar.shape[:2], 1))], -1).astype(np.float32)
    w.push("lidar", 0, cloud)
    got = w.read()["lidar"][..., :3] + np.asarray(cfg.lidar_position)
    assert np.allclose(got, pts_base, atol=1e-5)
    nominal = REGISTRY["lidar"].window(cfg)
    nominal.set_pose([*cfg.lidar_position, 0, 0, 0])
    assert nominal.transform is None                 # the sim's lidar: untouched, bit for bit
    with pytest.raises(ValueError, match="no mounting pose"):
        REGISTRY["force"].window(ModelConfig().force).set_pose(pose)


@pytest.mark.ros
def test_the_perception_node_stops_with_the_reason_for_a_wrong_camera_pose():
    from _util import run_py

    out = run_py("-m", "omni_ros.nodes.perception", "--ros-args", "-p",
                 "camera.pose:=[1.0, 0.0, 0.6]", timeout=120)
    assert out.returncode == 2, out.stderr[-2000:]
    assert "camera.pose" in out.stderr and "6 finite numbers" in out.stderr
