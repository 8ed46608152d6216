"""Simulated sensors. Each takes its config and a seeded generator, and ``read`` returns numpy."""
