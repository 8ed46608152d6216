"""Live demo over real ROS 2: a publisher process streams every sensor message type (with a few
malformed messages mixed in) and this process receives, validates and tabulates them.

Exit code 0 when every topic delivered valid messages and every malformed one was rejected.
"""

from __future__ import annotations

HELP = "run the live demo (publish/subscribe of every sensor type between two processes)"


def add_arguments(parser) -> None:
    parser.add_argument("--duration", type=float, default=3.0, help="streaming time [s]")
    parser.add_argument("--garbage-every", type=int, default=20,
                        help="make every N-th message malformed (0 = never)")
    parser.add_argument("--seed", type=int, default=0)


def run(args) -> int:
    from ..nodes.sensor_monitor import watch_talker

    print(f"demo: a second process streams every sensor type for {args.duration:.1f} s; every "
          f"{args.garbage_every}th message is malformed on purpose")
    monitor, talker_code = watch_talker({"duration_s": float(args.duration),
                                         "garbage_every": int(args.garbage_every),
                                         "seed": int(args.seed)})
    print()
    print(monitor.report())
    print()
    health = monitor.guard.health.inputs
    silent = [k for k, s in health.items() if s.accepted == 0]
    unrejected = [k for k, s in health.items() if args.garbage_every and s.rejected_total == 0]
    if talker_code != 0:
        print(f"demo: FAILED: the publisher exited with {talker_code}")
        return 1
    if silent or unrejected:
        print(f"demo: FAILED: no valid data on {silent}; no rejection seen on {unrejected}")
        return 1
    print("demo: OK - every topic delivered valid data, every malformed message was rejected "
          "and counted, and the receiver kept running")
    return 0
