"""fusion: the region tier of the tiered graph - the perception node with every modality's
latent taken from the edge encoder nodes (/omni/latent/<modality>) instead of sensor topics.

It runs the router and the heads on the freshest latents, keeps the object memory (the
camera's objects and the lidar's clusters arrive with their latents), grounds operator commands
and publishes /omni/scene for the action node: the same node, parameters and outputs as
``perception`` (see :mod:`omni_ros.nodes.perception`) with ``latent_inputs: [all]``. A
modality can stay local (its sensor on this host): list the others in ``latent_inputs``. The
thermal camera, which only annotates objects, is read from its topic here.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from ..core.config import param
from .common import spin_node
from .perception import LATENT_CHOICES, PerceptionConfig, PerceptionNode


@dataclass
class FusionConfig(PerceptionConfig):
    latent_inputs: list[str] = param(["all"], "modalities whose latents come from edge encoder "
                                     "nodes on /omni/latent/<modality> instead of their sensor "
                                     "topics; 'all' = every modality the checkpoint fuses",
                                     choices=LATENT_CHOICES)


class FusionNode(PerceptionNode):
    NAME, CONFIG = "fusion", FusionConfig


def main(args=None) -> int:
    return spin_node(FusionNode, args)


if __name__ == "__main__":
    sys.exit(main())
