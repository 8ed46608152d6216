"""Write the static frames of the simulated robot (REP 103): parent, child, translation [m],
rotation as quaternion x, y, z, w and as roll, pitch, yaw [rad] of the camera, thermal camera,
lidar, microphone, wrist F/T and tactile pad frames, from the same SimConfig the sim bridge
runs with (omni_ros_sim.frames.frame_tree). The arm's links are not here: they move with the
joints (on a ROS install robot_state_publisher places them; sim_demo.launch.py starts it).

Pip installs have no tf2: this is where the transforms come from. config/tf/frames.yaml in the
package is this command's output for the default configuration.

    omni-ros frames                                   # YAML of the default sim bridge
    omni-ros frames --params mine.yaml --out f.yaml   # with your /sim_bridge sim.* parameters
    omni-ros frames --config config/randomize.yaml --seed 3   # a randomised dataset episode
    omni-ros frames --format table                    # a markdown table
    omni-ros frames --figure frames.png               # and a picture of them over the scene
"""

from __future__ import annotations

import sys
from pathlib import Path

HELP = "write the sensor frames (static transforms) of the simulated robot as YAML"


def add_arguments(parser) -> None:
    parser.add_argument("--params", type=Path, metavar="FILE",
                        help="ROS parameter file whose /sim_bridge sim.* parameters apply after "
                             "config/sim_bridge.yaml (as `omni-ros up --sim --params`)")
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="YAML of sim parameters instead (as `omni-ros dataset --config`: "
                             "nested or dotted, e.g. camera.eye: [1.0, 0.0, 0.6])")
    parser.add_argument("--seed", type=int, metavar="N",
                        help="the cell of episode N (with randomize.enabled: its camera mount)")
    parser.add_argument("--format", choices=("yaml", "table"), default="yaml",
                        help="yaml (the parameter file, default) or a markdown table")
    parser.add_argument("--out", type=Path, metavar="FILE", help="write here (default: stdout)")
    parser.add_argument("--figure", type=Path, metavar="PNG",
                        help="also draw the frames over a sim scene (arm, lidar scan, objects) "
                             "into this image: what RViz shows, without ROS")


def source_text(args) -> str:
    """How to make this output again (the file's ``source`` entry)."""
    parts = ["omni-ros frames"]
    for flag, value in (("--params", args.params), ("--config", args.config),
                        ("--seed", args.seed)):
        if value is not None:
            parts += [flag, str(value)]
    return " ".join(parts)


def run(args) -> int:
    import yaml

    from omni_ros_sim.config import SimConfig
    from omni_ros_sim.frames import (cell_frames, frame_tree, frames_table, frames_yaml,
                                     sim_config_from_params)

    from ..core.config import ConfigError, flatten_tree, from_flat_dict
    from ..launcher import LaunchError, resolve_config

    def fail(text: str) -> int:
        print(f"omni-ros frames: error: {text}", file=sys.stderr)
        return 2

    if args.params and args.config:
        return fail("give --params (a ROS parameter file) or --config (sim parameters), not both")
    for flag, path in (("--params", args.params), ("--config", args.config)):
        if path is not None and not path.is_file():
            return fail(f"{flag}: {path} does not exist")
    try:
        if args.config:
            cfg = from_flat_dict(SimConfig, flatten_tree(yaml.safe_load(args.config.read_text())
                                                         or {}))
        else:
            cfg = sim_config_from_params([resolve_config("sim_bridge.yaml")]
                                         + ([args.params] if args.params else []))
    except (ConfigError, LaunchError, yaml.YAMLError, AttributeError) as err:
        return fail(f"{args.params or args.config or 'sim_bridge.yaml'}: {err}")
    transforms = frame_tree(cfg) if args.seed is None else cell_frames(args.seed, cfg)
    text = (frames_yaml(transforms, source_text(args)) if args.format == "yaml"
            else frames_table(transforms))
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text)
        print(f"wrote {len(transforms)} transforms to {args.out}")
    if args.figure is not None:
        from .frames_figure import draw

        cell = cfg if args.seed is None else _cell_cfg(args.seed, cfg)
        print(f"wrote {draw(args.figure, cell, transforms, args.seed or 0)}", file=sys.stderr)
    return 0


def _cell_cfg(seed: int, cfg):
    from omni_ros_sim.tasks import random_cell

    return random_cell(seed, cfg).cfg
