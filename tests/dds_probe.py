"""A stand-alone /omni/action publisher or listener for tests/test_dds_env.py, run as its own
process (often inside a network namespace) with whatever DDS environment the test gives it.

  python tests/dds_probe.py pub MARK          publish PrimitiveCommand(target_id=MARK) at 10 Hz
                                              until killed
  python tests/dds_probe.py listen N DEADLINE_S MARK...
        count received commands per target_id; exit once every MARK was heard N times (or at
        DEADLINE_S); print "HEARD {json}" with every target_id heard
"""

import json
import sys
import time
from collections import Counter

import rclpy
from omni_ros_msgs.msg import PrimitiveCommand
from rclpy.qos import QoSProfile

TOPIC = "/omni/action"


def main() -> int:
    rclpy.init(args=[])
    node = rclpy.create_node("dds_probe")
    qos = QoSProfile(depth=10)
    if sys.argv[1] == "pub":
        pub = node.create_publisher(PrimitiveCommand, TOPIC, qos)
        msg = PrimitiveCommand(primitive="stop", target_id=sys.argv[2])
        while True:
            msg.sequence_id += 1
            pub.publish(msg)
            rclpy.spin_once(node, timeout_sec=0.1)
    n, deadline_s, marks = int(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
    heard = Counter()
    node.create_subscription(PrimitiveCommand, TOPIC, lambda m: heard.update([m.target_id]), qos)
    end = time.monotonic() + deadline_s
    while time.monotonic() < end and not all(heard[m] >= n for m in marks):
        rclpy.spin_once(node, timeout_sec=0.1)
    print("HEARD " + json.dumps(dict(heard)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
