"""Thin rclpy nodes: callbacks convert (omni_ros.conversions) and hand off to omni_ros.core."""

import signal as _signal
import sys as _sys

# A node started as `python -m omni_ros.nodes.<name>` (the launcher's way; argv[0] is "-m" while
# runpy imports this package): until spin_node installs its own handlers, a Ctrl-C ends the
# process at once (exit -SIGINT, a clean stop for the launcher) instead of raising
# KeyboardInterrupt inside some extension's import (seen: numpy's, as an ImportError, exit 1).
if _sys.argv[:1] == ["-m"]:
    _signal.signal(_signal.SIGINT, _signal.SIG_DFL)
