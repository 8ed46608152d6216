"""Training and evaluation of the omni model on dataset shards (``omni-ros train`` / ``eval``)."""
