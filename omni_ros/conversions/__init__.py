"""ROS message <-> numpy and core dataclasses. No Node lives here.

Every function raises :class:`ConversionError` (naming the field and what was wrong) for
malformed input, and nothing else for bad data.
"""

from .audio import audio_chunk_to_numpy, numpy_to_audio_chunk
from .camera_info import camera_info_to_intrinsics, intrinsics_to_camera_info
from .diagnostics import health_to_diagnostics
from .errors import ConversionError
from .image import depth_to_metres, image_to_numpy, metres_to_depth_image, numpy_to_image
from .limits import InputLimits, checker, latent_checker
from .joints import arrays_to_joint_state, joint_state_to_arrays
from .markers import scene_markers
from .outputs import (command_to_msg, latent_to_msg, msg_to_command, msg_to_latent,
                      msg_to_object, msg_to_primitive, msg_to_scene, msg_to_status, object_to_msg,
                      primitive_to_msg, scene_to_msg, status_to_msg)
from .pointcloud import (array_to_pointcloud2, pointcloud2_to_array, pointcloud2_to_structured,
                         structured_to_pointcloud2)
from .tactile import dict_to_tactile, tactile_to_dict
from .time import make_header, ns_to_stamp, stamp_to_ns
from .wrench import numpy_to_wrench, wrench_to_numpy

