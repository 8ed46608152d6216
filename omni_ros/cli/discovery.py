"""Run a Fast DDS discovery server: one process every node of a multi-host graph finds its peers
through, instead of multicast (networks that block it, Wi-Fi, many robots).

This is Fast DDS's own ``fastdds discovery`` tool, shipped in the ros-fastdds wheel: on a pip
install its wrapper runs the system's python3 and cannot find the wheel's libraries, so this
command runs it with this environment's Python and library path (on a ROS install ``fastdds
discovery`` works as is). Then, on every host of the graph:

    export ROS_DISCOVERY_SERVER=<server address>:<port>

and start the nodes (``omni-ros up --tier ...``). Ctrl-C stops the server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

HELP = "run a Fast DDS discovery server for a graph across hosts (ROS_DISCOVERY_SERVER)"


def add_arguments(parser) -> None:
    parser.add_argument("--address", default="0.0.0.0", metavar="IP",
                        help="address to listen on (default: every interface)")
    parser.add_argument("--port", type=int, default=11811,
                        help="UDP port (default 11811, Fast DDS's)")
    parser.add_argument("--id", type=int, default=0, metavar="N",
                        help="server id 0-255: the N-th address in ROS_DISCOVERY_SERVER's list")


def command(address: str, port: int, server_id: int) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that run the wheel's discovery server here. Raises
    FileNotFoundError when neither the wheel's tool nor ``fastdds`` on PATH exists."""
    tool = Path(sys.prefix) / "tools" / "fastdds" / "fastdds.py"
    args = ["discovery", "-i", str(server_id), "-l", address, "-p", str(port)]
    if not tool.is_file():
        from shutil import which

        if which("fastdds") is None:
            raise FileNotFoundError("no Fast DDS discovery tool: neither the ros-fastdds wheel's "
                                    f"{tool} nor 'fastdds' on PATH (a ROS 2 install has it)")
        return ["fastdds", *args], dict(os.environ)
    libs = [Path(sys.prefix) / "lib",
            *Path(sysconfig.get_paths()["purelib"]).glob("ros_fastdds*.libs")]
    path = os.pathsep.join([str(p) for p in libs] + [os.environ.get("LD_LIBRARY_PATH", "")])
    return [sys.executable, str(tool), *args], {**os.environ, "LD_LIBRARY_PATH": path.rstrip(os.pathsep)}


def run(args) -> int:
    if not 0 <= args.id <= 255 or not 0 < args.port < 65536:
        print("omni-ros discovery: error: --id must be 0-255 and --port 1-65535", file=sys.stderr)
        return 2
    try:
        cmd, env = command(args.address, args.port, args.id)
    except FileNotFoundError as err:
        print(f"omni-ros discovery: error: {err}", file=sys.stderr)
        return 2
    print(f"discovery server on {args.address}:{args.port}; on every host: export "
          f"ROS_DISCOVERY_SERVER=<this host's address>:{args.port}", flush=True)
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 0
