"""Serve the running node graph to a browser (the rerun web viewer) and to the Foxglove app
(Foxglove WebSocket protocol), without a ROS install: starts the ``viz`` node (see
omni_ros/nodes/viz.py), which subscribes to the graph's camera, depth, thermal and lidar topics,
/omni/scene (objects, target, gate weights and leave-one-out contributions per modality),
/omni/teleop (heard commands) and /omni/task_status. Open the URL it prints; in the Foxglove app
open a connection to ws://127.0.0.1:8765. `omni-ros up --sim --viz` starts it with the graph.

Bandwidth per stream is capped by the node's parameters (max_rate_hz.color|depth|thermal|lidar|
scene, image_downscale, lidar_max_points): set them with --params FILE (section "/viz:") or -p
name=value. --screenshot FILE waits for the stream, saves a headless-Chromium screenshot of the
web viewer and exits (needs Debian's chromium package).
"""

from __future__ import annotations

import sys
import time

HELP = "live viewer: stream the running graph to the rerun web viewer and Foxglove"


def add_arguments(parser) -> None:
    parser.add_argument("--web-port", type=int, default=9090, help="web viewer page (default 9090)")
    parser.add_argument("--grpc-port", type=int, default=9876,
                        help="rerun stream the page reads (default 9876)")
    parser.add_argument("--foxglove-port", type=int, default=8765,
                        help="Foxglove WebSocket port (default 8765)")
    parser.add_argument("--foxglove-host", default="127.0.0.1",
                        help="address the Foxglove server binds (0.0.0.0 = every interface)")
    parser.add_argument("--no-rerun", action="store_true", help="serve Foxglove only")
    parser.add_argument("--no-foxglove", action="store_true", help="serve the rerun viewer only")
    parser.add_argument("--params", metavar="FILE",
                        help="ROS parameter file with a /viz: section (rate caps, ...)")
    parser.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                        help="one viz parameter, e.g. -p max_rate_hz.color=5 (repeatable)")
    parser.add_argument("--sim-time", action="store_true",
                        help="use /clock (the graph runs with --sim)")
    parser.add_argument("--screenshot", metavar="FILE",
                        help="save a screenshot of the web viewer once the stream arrived, "
                             "then exit")
    parser.add_argument("--wait", type=float, default=20.0, metavar="S",
                        help="--screenshot: seconds of stream to collect first (default 20)")
    parser.add_argument("--settle", type=float, default=5.0, metavar="S",
                        help="--screenshot: seconds the page gets to draw once the stream "
                             "reaches it (default 5; a software-rendering browser ingests a "
                             "long backlog slowly)")


def viz_spec():
    """The viewer as a process of the launcher's graph (no package parameter file: its
    defaults are the VizConfig dataclass)."""
    from ..launcher import NodeSpec

    return NodeSpec("viz", "viz", "omni_ros.nodes.viz", None)


def overrides(args) -> dict:
    import yaml

    out = {"web_port": args.web_port, "grpc_port": args.grpc_port,
           "foxglove_port": args.foxglove_port, "foxglove_host": args.foxglove_host,
           "rerun": not args.no_rerun, "foxglove": not args.no_foxglove}
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"-p {item!r}: expected NAME=VALUE")
        out[name.strip()] = yaml.safe_load(value)
    return out


def run(args) -> int:
    from ..launcher import Graph, LaunchError

    try:
        g = Graph([viz_spec()], params_file=args.params, sim_time=args.sim_time,
                  overrides={"viz": overrides(args)}, tag="viz", capture=bool(args.screenshot))
    except (LaunchError, ValueError) as err:
        print(f"omni-ros viz: error: {err}", file=sys.stderr)
        return 2
    if not args.screenshot:
        return g.run_until_exit()
    return _screenshot(g, args)


def _screenshot(g, args) -> int:
    import importlib.util

    if importlib.util.find_spec("rerun") is None:
        print("omni-ros viz: error: --screenshot shows the rerun web viewer: rerun-sdk is not "
              f"installed (its wheels need Python >= 3.11; this is {sys.version.split()[0]})",
              file=sys.stderr)
        return 1
    from ..viz.browser import BrowserError, screenshot
    from ..viz.rerun_out import viewer_url

    with g:
        g.start()
        end = time.monotonic() + 120
        while time.monotonic() < end and not any("rerun web viewer:" in ln
                                                 for ln in g.lines("viz")):
            if g.poll().get("viz") is not None:
                print("omni-ros viz: the viewer node exited:\n" + "\n".join(g.lines("viz")),
                      file=sys.stderr)
                return 1
            time.sleep(0.2)
        time.sleep(args.wait)
        try:
            load = screenshot(viewer_url(args.web_port, args.grpc_port), args.screenshot,
                              wait_origin=f"http://127.0.0.1:{args.grpc_port}", min_bytes=1,
                              settle_s=args.settle)
        except BrowserError as err:
            print(f"omni-ros viz: error: {err}", file=sys.stderr)
            return 1
    got = load.bytes_by_origin.get(f"http://127.0.0.1:{args.grpc_port}", 0)
    print(f"omni-ros viz: screenshot {args.screenshot} ({got} bytes of stream reached the page)")
    return 0 if got > 0 else 1
