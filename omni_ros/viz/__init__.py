"""The live viewer's logic, without ROS: what each stream becomes in rerun, per-stream rate caps
and image / cloud thinning, the Foxglove WebSocket server's channels, and headless Chromium for
screenshots. The ROS side (subscriptions, CDR) is :mod:`omni_ros.nodes.viz`."""
