"""Multimodal datasets: synchronised samples from the sim (directly or from an MCAP recording),
written as compressed shards plus a manifest."""
