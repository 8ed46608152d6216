"""The ``diagnostics.*`` parameters of nodes that watch sensor streams: how /diagnostics judges
each input's rate (:class:`omni_ros.core.health.RateConfig`) and each stream's nominal rate
(``diagnostics.nominal_hz.<stream>``, default: the simulated robot's; set a real robot's here).
Every field is settable at run time (``ros2 param set``)."""

from __future__ import annotations

from dataclasses import dataclass, field, make_dataclass

from ..core.config import param
from ..core.health import RateConfig
from ..streams import BY_KEY

# omni_ros.streams.nominal_rates(SimConfig()), written out so that a node need not import the
# simulator (PyBullet) for its defaults; tests/test_runtime_params.py keeps the two equal.
SIM_NOMINAL_HZ = {"joints": 60.0, "wrench": 120.0, "tactile": 80.0, "audio": 50.0, "lidar": 10.0,
                  "ground_truth": 15.0, "camera_info": 15.0, "depth": 15.0, "color": 15.0,
                  "thermal": 8.0, "thermal_info": 8.0}

NominalRates = make_dataclass("NominalRates", [
    (key, float, param(float(hz), f"{BY_KEY[key].topic}: nominal rate [Hz]; a windowed rate "
                       "below diagnostics.rate_warn_below of it is a WARN (0: not checked)",
                       min=0.0, max=100000.0, runtime=True))
    for key, hz in SIM_NOMINAL_HZ.items()],
    namespace={"__module__": __name__,
               "__doc__": "Nominal rate of each sensor stream [Hz] (0: not rate-checked)."})


@dataclass
class DiagnosticsConfig(RateConfig):
    nominal_hz: NominalRates = field(default_factory=NominalRates)
