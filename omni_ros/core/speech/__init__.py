"""Speech without ROS: audio utilities and voice-activity detection (``audio``), the command
language and its grammar (``commands``), pronunciation variants (``pronunciations``) and the
grammar-constrained recogniser (``recognizer``). Imports only the base."""
