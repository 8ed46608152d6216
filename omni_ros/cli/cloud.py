"""Run the cloud tier: a Zenoh router that keeps the fleet's object memory from the scenes every
robot's ``cloud_gateway`` sends up and answers their questions (see omni_ros/cloud). Robots
reach it at one of its --listen endpoints (their gateway's ``connect`` parameter). Ctrl-C stops
it. No ROS graph: messages arrive as CDR bytes over Zenoh.
"""

from __future__ import annotations

import logging
import sys

HELP = "run the cloud tier (Zenoh router + fleet object memory) for the robots' cloud_gateway nodes"


def add_arguments(parser) -> None:
    parser.add_argument("--listen", action="append", metavar="ENDPOINT",
                        help="Zenoh endpoint to listen on, repeatable (default "
                             "tcp/0.0.0.0:7447)")


def run(args) -> int:
    logging.basicConfig(level=logging.INFO, format="cloud: %(message)s")
    from ..cloud.server import serve

    listen = args.listen or ["tcp/0.0.0.0:7447"]
    try:
        serve(listen, ready=lambda: print(f"cloud: listening on {', '.join(listen)}", flush=True))
    except Exception as err:  # e.g. the port is taken
        print(f"omni-ros cloud: error: {err}", file=sys.stderr)
        return 2
    return 0
