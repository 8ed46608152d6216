"""Start the omni_ros node graph without ROS 2's launch tools (pip installs): perception, teleop
and action, each as its own process with its parameter file from the package's config/ folder -
the same nodes and files as `ros2 launch omni_ros omni_ros.launch.py` on a ROS 2 install.
--sim adds the PyBullet sim bridge and sets use_sim_time on every node (as sim_demo.launch.py).
--tier edge|region|cloud (or several, comma-separated, on one host) starts the tiered graph
instead: the edge's encoder (sensor topics in, /omni/latent/<modality> out), the region's fusion
node (latents in, /omni/scene out) with teleop and action, and the cloud (`omni-ros cloud`: the
fleet's Zenoh router, object memory and command language model; no ROS) listening on
--cloud-listen (default tcp/0.0.0.0:7447). --cloud ENDPOINT gives the region a cloud elsewhere:
it then also runs cloud_gateway connecting there; with region and cloud on one host the gateway
connects to the local cloud. See README "Tiered graph" and "Cloud tier over Zenoh".
--arm-executor adds the arm_executor node (PrimitiveCommand on /omni/action -> JointTrajectory for
a joint_trajectory_controller, IK from the URDF); with --sim the bridge's arm then follows those
trajectories (arm_input joint_trajectory) instead of executing primitives itself. The executor's
dry_run stays true (plans are only logged and previewed) unless your --params file says
"/arm_executor: ros__parameters: {dry_run: false}" - in sim as on a real robot.
--params FILE adds your parameter file (sections per node: "/perception: ros__parameters: ...",
or "/**" for all) after the defaults. Every output line is prefixed with its node's name.

Ctrl-C stops every node (exit code 0 after a clean shutdown). If a node dies with an error, the
others are stopped and the exit code is non-zero; if one finishes by itself (e.g. the sim bridge
with duration_s), the graph is stopped with exit code 0. --respawn [NODES] restarts the nodes
named (all without a list) when they die instead, after a back-off that doubles from
--respawn-delay up to --respawn-max-delay; a node that died --respawn-limit times within 5 minutes
is given up and the graph stops as without respawn.
"""

from __future__ import annotations

import sys

HELP = ("start the node graph (perception, teleop, action [+ sim bridge]; or tiers: edge, "
        "region, cloud) as separate processes")


def add_arguments(parser) -> None:
    parser.add_argument("--sim", action="store_true",
                        help="also start the sim bridge; every node uses sim time (/clock)")
    parser.add_argument("--tier", default="", metavar="TIERS",
                        help="start tiers of the tiered graph instead of the one-host graph: "
                             "edge (the sensor host: an encoder node, with --sim the sim "
                             "bridge), region (fusion, teleop, action; with a cloud also "
                             "cloud_gateway), cloud (omni-ros cloud, no ROS), or several "
                             "on this host (edge,region or edge,region,cloud)")
    parser.add_argument("--cloud", action="append", default=[], metavar="ENDPOINT",
                        help="the region's cloud, elsewhere: also start cloud_gateway with "
                             "connect = ENDPOINT (e.g. tcp/10.0.0.5:7447), repeatable")
    parser.add_argument("--cloud-listen", action="append", default=[], metavar="ENDPOINT",
                        help="with --tier ...cloud: Zenoh endpoint the cloud listens on, "
                             "repeatable (default tcp/0.0.0.0:7447)")
    parser.add_argument("--params", metavar="FILE",
                        help="a ROS parameter file with sections per node, applied after the "
                             "package defaults")
    parser.add_argument("--seed", type=int, help="--sim: scene seed of the sim bridge")
    parser.add_argument("--real-time-factor", type=float, metavar="X",
                        help="--sim: sim seconds per wall second (0 = as fast as possible)")
    parser.add_argument("--stop-timeout", type=float, default=10.0, metavar="S",
                        help="seconds each node gets to exit after SIGINT before it is "
                             "terminated (default 10)")
    parser.add_argument("--respawn", nargs="?", const="all", default="", metavar="NODES",
                        help="restart nodes that die (exit code != 0) instead of stopping the "
                             "graph: every node, or a comma-separated list "
                             "(--respawn perception,teleop)")
    parser.add_argument("--respawn-delay", type=float, default=1.0, metavar="S",
                        help="seconds before the first restart; doubled for each quick death "
                             "in a row (default 1)")
    parser.add_argument("--respawn-max-delay", type=float, default=30.0, metavar="S",
                        help="the longest back-off before a restart [s] (default 30)")
    parser.add_argument("--viz", action="store_true",
                        help="also start the live viewer (the viz node: rerun web viewer on "
                             "http://127.0.0.1:9090, Foxglove on ws://127.0.0.1:8765; set its "
                             "ports and rate caps in --params under /viz, see omni-ros viz)")
    parser.add_argument("--arm-executor", action="store_true",
                        help="also start arm_executor (primitives -> JointTrajectory on a "
                             "joint_trajectory_controller); with --sim the bridge's arm follows "
                             "its trajectories. Dry run unless --params sets /arm_executor "
                             "dry_run: false")
    parser.add_argument("--respawn-limit", type=int, default=5, metavar="N",
                        help="give a node up after N restarts within 5 minutes (default 5)")


def run(args) -> int:
    from ..launcher import Graph, LaunchError, RespawnPolicy, plan, respawn_names

    bridge = {}
    if args.seed is not None:
        bridge["seed"] = args.seed
    if args.real_time_factor is not None:
        bridge["real_time_factor"] = float(args.real_time_factor)
    try:
        if bridge and not args.sim:
            raise LaunchError("--seed and --real-time-factor set the sim bridge: add --sim")
        specs, overrides = plan(args.sim, [t.strip() for t in args.tier.split(",") if t.strip()],
                                cloud=args.cloud, cloud_listen=args.cloud_listen,
                                arm_executor=args.arm_executor)
        if bridge:
            overrides.setdefault("sim_bridge", {}).update(bridge)
        if args.viz:
            from .viz import viz_spec

            specs = [*specs, viz_spec()]
        policy = RespawnPolicy(delay_s=args.respawn_delay, max_delay_s=args.respawn_max_delay,
                               max_restarts=args.respawn_limit)
        g = Graph(specs, params_file=args.params, sim_time=args.sim, overrides=overrides,
                  tag="up",
                  respawn=respawn_names(args.respawn, [s.name for s in specs]),
                  respawn_policy=policy)
        return g.run_until_exit(stop_timeout=args.stop_timeout)
    except LaunchError as err:
        print(f"omni-ros up: error: {err}", file=sys.stderr)
        return 2
