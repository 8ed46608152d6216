"""Run the cloud tier: a Zenoh router that keeps the fleet's object memory from the scenes every
robot's ``cloud_gateway`` sends up, grounds the typed commands robots cannot map themselves with
the heavier language model (the MiniLM sentence embedding of the optional 'sentence' extra,
loaded in the background at start; see its state in the ``status`` answer) and answers their
questions (see omni_ros/cloud). Robots reach it at one of its --listen endpoints (their gateway's
``connect`` parameter; `omni-ros up --tier region --cloud ENDPOINT`). Ctrl-C stops it (exit code
0). No ROS graph: messages arrive as CDR bytes over Zenoh. `omni-ros up --tier cloud` runs it
under the launcher (prefixed output, --respawn).
"""

from __future__ import annotations

import logging
import sys

from ..cloud.link import DEFAULT_LISTEN

HELP = "run the cloud tier (Zenoh router, fleet object memory, command language model)"


def add_arguments(parser) -> None:
    parser.add_argument("--listen", action="append", metavar="ENDPOINT",
                        help=f"Zenoh endpoint to listen on, repeatable (default {DEFAULT_LISTEN})")
    parser.add_argument("--no-lexicon", action="store_true",
                        help="do not load the language model (questions 'command' are refused)")
    parser.add_argument("--lexicon-threads", type=int, default=1, metavar="N",
                        help="CPU threads of the language model (default 1: a sentence at a "
                             "time gains nothing from more; 0 = torch's default)")


def run(args) -> int:
    logging.basicConfig(level=logging.INFO, format="cloud: %(message)s")
    from ..cloud.link import check_endpoint
    from ..cloud.server import serve

    listen = args.listen or [DEFAULT_LISTEN]
    try:
        for endpoint in listen:
            check_endpoint(endpoint)
        serve(listen, lexicon=not args.no_lexicon, lexicon_threads=args.lexicon_threads,
              ready=lambda: print(f"cloud: listening on {', '.join(listen)}", flush=True))
    except Exception as err:  # e.g. the port is taken
        print(f"omni-ros cloud: error: {err}", file=sys.stderr)
        return 2
    return 0
