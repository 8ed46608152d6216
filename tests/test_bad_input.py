"""Every malformed input raises ConversionError naming the field - never anything else."""

import numpy as np
import pytest
from sensor_msgs.msg import PointField

from omni_ros import conversions as cv
from omni_ros.samples import SampleSizes, output_sample, sensor_sample

SIZES = SampleSizes(image_width=8, image_height=6, cloud_points=10)


def sample(key):
    return sensor_sample(key, 0, 0, 1, SIZES)


def edit(key, change):
    """A sample message of stream/output ``key`` after ``change(msg)``."""
    msg = sample(key) if key in ("color", "depth", "camera_info", "lidar", "audio", "tactile",
                                 "wrench") else output_sample(key, 0, 1)
    change(msg)
    return msg


def setattrs(**kw):
    def change(msg):
        for path, value in kw.items():
            obj = msg
            *parents, leaf = path.split("__")
            for p in parents:
                obj = obj[int(p)] if p.isdigit() else getattr(obj, p)
            setattr(obj, leaf, value)
    return change


def add_field(name, offset, datatype=PointField.FLOAT32, count=1):
    def change(msg):
        msg.fields = list(msg.fields) + [PointField(name=name, offset=offset, datatype=datatype,
                                                    count=count)]
    return change


def drop_field(name):
    def change(msg):
        msg.fields = [f for f in msg.fields if f.name != name]
    return change


# (case id, decoder, message, field named in the error)
CASES = [
    # Image
    ("image unknown encoding", cv.image_to_numpy, edit("color", setattrs(encoding="yuv422_bogus")), "encoding"),
    ("image data shorter than height*step", cv.image_to_numpy,
     edit("color", lambda m: setattr(m, "data", m.data[:-1])), "data"),
    ("image data longer than height*step", cv.image_to_numpy,
     edit("color", lambda m: setattr(m, "data", m.data + m.data[:3])), "data"),
    ("image step < width*bpp", cv.image_to_numpy, edit("color", setattrs(step=8 * 3 - 1)), "step"),
    ("image big-endian depth", cv.image_to_numpy, edit("depth", setattrs(is_bigendian=1)), "is_bigendian"),
    ("image zero width", cv.image_to_numpy, edit("color", setattrs(width=0)), "height/width"),
    ("depth with a colour encoding", cv.depth_to_metres, edit("color", lambda m: None), "encoding"),
    # CameraInfo
    ("camera_info zero focal length", cv.camera_info_to_intrinsics,
     edit("camera_info", lambda m: m.k.__setitem__(0, 0.0)), "k"),
    ("camera_info NaN in K", cv.camera_info_to_intrinsics,
     edit("camera_info", lambda m: m.k.__setitem__(2, np.nan)), "k"),
    ("camera_info zero size", cv.camera_info_to_intrinsics, edit("camera_info", setattrs(width=0)),
     "width/height"),
    # PointCloud2
    ("cloud missing z", cv.pointcloud2_to_array, edit("lidar", drop_field("z")), "fields"),
    ("cloud overlapping fields", cv.pointcloud2_to_array, edit("lidar", add_field("ring", 6)), "fields"),
    ("cloud field past point_step", cv.pointcloud2_to_array, edit("lidar", add_field("t", 14)),
     "fields[4] ('t')"),
    ("cloud unknown datatype", cv.pointcloud2_to_array, edit("lidar", add_field("q", 0, datatype=9)),
     "fields[4] ('q')"),
    ("cloud duplicate field", cv.pointcloud2_to_array, edit("lidar", add_field("x", 0)), "fields[4] ('x')"),
    ("cloud point_step 0", cv.pointcloud2_to_array, edit("lidar", setattrs(point_step=0)), "point_step"),
    ("cloud row_step < width*point_step", cv.pointcloud2_to_array,
     edit("lidar", setattrs(row_step=10)), "row_step"),
    ("cloud truncated data", cv.pointcloud2_to_array,
     edit("lidar", lambda m: setattr(m, "data", m.data[:-3])), "data"),
    ("cloud data too long", cv.pointcloud2_to_array,
     edit("lidar", lambda m: setattr(m, "data", m.data + m.data[:16])), "data"),
    ("cloud big-endian", cv.pointcloud2_to_array, edit("lidar", setattrs(is_bigendian=True)), "is_bigendian"),
    # WrenchStamped
    ("wrench NaN force", cv.wrench_to_numpy, edit("wrench", setattrs(wrench__force__x=np.nan)), "wrench"),
    ("wrench inf torque", cv.wrench_to_numpy, edit("wrench", setattrs(wrench__torque__z=np.inf)), "wrench"),
    # AudioChunk
    ("audio empty", cv.audio_chunk_to_numpy, edit("audio", lambda m: setattr(m, "data", b"")), "data"),
    ("audio odd length for S16LE", cv.audio_chunk_to_numpy,
     edit("audio", lambda m: setattr(m, "data", m.data[:-1])), "data"),
    ("audio length not a multiple of channels", cv.audio_chunk_to_numpy,
     edit("audio", lambda m: (setattr(m, "channels", 3), setattr(m, "data", m.data[:8]))), "data"),
    ("audio F32LE length not a multiple of 4", cv.audio_chunk_to_numpy,
     edit("audio", lambda m: (setattr(m, "encoding", "F32LE"), setattr(m, "data", m.data[:6]))), "data"),
    ("audio NaN float samples", cv.audio_chunk_to_numpy,
     edit("audio", lambda m: (setattr(m, "encoding", "F32LE"),
                              setattr(m, "data", np.array([np.nan, 0], "<f4").tobytes()))), "data"),
    ("audio sample_rate 0", cv.audio_chunk_to_numpy, edit("audio", setattrs(sample_rate=0)), "sample_rate"),
    ("audio channels 0", cv.audio_chunk_to_numpy, edit("audio", setattrs(channels=0)), "channels"),
    ("audio unknown encoding", cv.audio_chunk_to_numpy, edit("audio", setattrs(encoding="MP3")), "encoding"),
    # TactileArray
    ("tactile size != rows*cols", cv.tactile_to_dict,
     edit("tactile", lambda m: setattr(m.pads[0], "forces", m.pads[0].forces[:-1])), "pads[0].forces"),
    ("tactile zero rows", cv.tactile_to_dict, edit("tactile", setattrs(pads__1__rows=0)), "pads[1].rows/cols"),
    ("tactile NaN force", cv.tactile_to_dict,
     edit("tactile", lambda m: m.pads[0].forces.__setitem__(3, np.nan)), "pads[0].forces"),
    ("tactile negative pitch", cv.tactile_to_dict, edit("tactile", setattrs(pads__0__taxel_pitch=-0.01)),
     "pads[0].taxel_pitch"),
    ("tactile duplicate pad", cv.tactile_to_dict,
     edit("tactile", setattrs(pads__1__frame_id="panda_leftfinger_pad")), "pads[1].frame_id"),
    # Output messages
    ("object negative size", cv.msg_to_scene, edit("scene", setattrs(objects__0__size__y=-0.01)),
     "objects[0].size"),
    ("object zero quaternion", cv.msg_to_scene,
     edit("scene", setattrs(objects__1__pose__orientation__w=0.0, objects__1__pose__orientation__z=0.0)),
     "objects[1].pose.orientation"),
    ("scene gate array length mismatch", cv.msg_to_scene,
     edit("scene", lambda m: setattr(m, "gate_weights", m.gate_weights[:-1])), "gate_weights"),
    ("scene gate weight > 1", cv.msg_to_scene,
     edit("scene", lambda m: m.gate_weights.__setitem__(0, 1.5)), "gate_weights"),
    ("scene unknown event kind", cv.msg_to_scene, edit("scene", setattrs(events__0__kind="boom")),
     "events[0].kind"),
    ("latent empty", cv.msg_to_latent, edit("latent", lambda m: setattr(m, "latent", [])), "latent"),
    ("latent NaN", cv.msg_to_latent, edit("latent", lambda m: m.latent.__setitem__(0, np.nan)), "latent"),
    ("teleop unknown intent", cv.msg_to_command, edit("teleop", setattrs(intent="dance")), "intent"),
    ("teleop confidence > 1", cv.msg_to_command, edit("teleop", setattrs(confidence=1.2)), "confidence"),
    ("teleop NaN point", cv.msg_to_command, edit("teleop", setattrs(point__point__x=np.nan)), "point"),
    ("action unknown primitive", cv.msg_to_primitive, edit("action", setattrs(primitive="jump")), "primitive"),
    ("action negative gripper width", cv.msg_to_primitive, edit("action", setattrs(gripper_width=-0.01)),
     "gripper_width"),
    ("action NaN pose", cv.msg_to_primitive, edit("action", setattrs(ee_pose__position__z=np.nan)),
     "ee_pose.position"),
]


@pytest.mark.parametrize("decode,msg,field", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_message_raises_conversion_error_naming_the_field(decode, msg, field):
    with pytest.raises(cv.ConversionError) as info:
        decode(msg)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ") and len(info.value.reason) > 5


BUILDER_CASES = [
    ("image wrong channels", lambda: cv.numpy_to_image(np.zeros((2, 2), np.uint8), "rgb8"), "pixels"),
    ("image wrong dtype", lambda: cv.numpy_to_image(np.zeros((2, 2, 3), np.float32), "rgb8"), "pixels"),
    ("image step too small", lambda: cv.numpy_to_image(np.zeros((2, 2), np.uint8), "mono8", step=1), "step"),
    ("cloud wrong columns", lambda: cv.array_to_pointcloud2(np.zeros((4, 5))), "points"),
    ("wrench wrong shape", lambda: cv.numpy_to_wrench(np.zeros(5)), "wrench"),
    ("wrench NaN", lambda: cv.numpy_to_wrench([0, 0, np.nan, 0, 0, 0]), "wrench"),
    ("audio empty", lambda: cv.numpy_to_audio_chunk(np.zeros(0, np.int16), 16000), "samples"),
    ("audio sample_rate 0", lambda: cv.numpy_to_audio_chunk(np.zeros(4, np.int16), 0), "sample_rate"),
    ("audio negative sample_rate", lambda: cv.numpy_to_audio_chunk(np.zeros(4, np.int16), -16000),
     "sample_rate"),
    ("tactile negative pitch", lambda: cv.dict_to_tactile({"p": np.ones((2, 2))}, -0.001), "taxel_pitch"),
    ("tactile empty pad", lambda: cv.dict_to_tactile({"p": np.ones((0, 2))}), "pads['p']"),
]


@pytest.mark.parametrize("build,field", [c[1:] for c in BUILDER_CASES], ids=[c[0] for c in BUILDER_CASES])
def test_bad_builder_input_raises_conversion_error(build, field):
    with pytest.raises(cv.ConversionError) as info:
        build()
    assert info.value.field == field
