"""Manipulation without ROS: the task manager that turns commands and scenes into primitives
(``tasks``), pick/place plans (``plans``) and grasp/place targets (``targets``). Imports only
the base."""
