"""Live perception without ROS: the asynchronous latent-cache pipeline and its ApproximateTime
baseline (``pipeline``, ``sync``), camera and lidar objects (``objects``, ``lidar_objects``),
grounding commands to objects (``grounding``) and the operator-command rules (``commands``).
Imports the base and the model."""
