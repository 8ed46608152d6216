"""The Flower App that ``omni-ros federate --superlink`` submits to a Flower deployment: a
SuperLink (the server host) and one SuperNode per site, each on its own machine, no Ray.

* ``client``: a site's ClientApp. Its SuperNode names the site's shards and index in its node
  config, which never leaves the site: ``flower-supernode --node-config "data='/d/cell_a
  /d/cell_b' partition-id=0" ...``. Each round it trains the global weights exactly as in
  simulation (:func:`.federated.site_reply`) and replies with weights and a sample count.
* ``server``: the ServerApp, run by the SuperLink's host: :func:`.federated.run_rounds` over
  the run config's ``sites`` sites, then writes the global checkpoint to ``out`` (a path on the
  SuperLink's host) with the Flower run id in its info, which is how the submitting CLI knows
  that *this* run finished (Flower may mark a finished run failed when a heartbeat was missed).

The run config carries the whole config tree (``config``: the flat OmniConfig as JSON), so the
sites train with the same model, losses and rounds as the server; the FAB holds only a
pyproject.toml naming these two objects (:func:`app_files`) and every host needs omni_ros
installed (``make setup``), as every host of a ROS graph does.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..core.config import from_flat_dict, to_flat_dict
from ..core.model.model_config import OmniConfig

APP_NAME = "omni-ros-federate"
NODE_KEYS = ("data", "partition-id")  # what each SuperNode's --node-config must give


def run_config(cfg: OmniConfig, sites: int, out: Path) -> dict:
    """The Flower run config of one federated run (TOML scalars only)."""
    return {"config": json.dumps(to_flat_dict(cfg)), "sites": int(sites),
            "out": str(Path(out).resolve())}


def config_of(run_cfg) -> OmniConfig:
    return from_flat_dict(OmniConfig, json.loads(str(run_cfg["config"])))


def site_of(node_config) -> tuple[int, list[str]]:
    """(site index, dataset folders) from a SuperNode's node config; ValueError saying what to
    give when they are missing."""
    missing = [k for k in NODE_KEYS if k not in node_config]
    if missing:
        raise ValueError(f"this SuperNode's --node-config lacks {', '.join(missing)}: start it "
                         "with --node-config \"data='/path/to/shards [more]' partition-id=N\"")
    dirs = str(node_config["data"]).split()
    if not dirs:
        raise ValueError("--node-config data='' names no dataset folder")
    return int(node_config["partition-id"]), dirs


def toml_value(v) -> str:
    """A TOML literal of a str / int / float (JSON string escapes are TOML basic-string ones)."""
    return json.dumps(v) if isinstance(v, str) else repr(v)


def app_files(run_cfg: dict) -> dict[str, bytes]:
    """The files of the Flower App (FAB): a pyproject.toml naming this module's server and
    client and carrying the run config as the app's defaults."""
    conf = "\n".join(f"{k} = {toml_value(v)}" for k, v in run_cfg.items())
    return {"pyproject.toml": (
        f'[project]\nname = "{APP_NAME}"\nversion = "1.0.0"\n'
        'description = "omni_ros federated training (omni-ros federate)"\n'
        'license = "Apache-2.0"\ndependencies = []\n\n'
        '[tool.flwr.app]\npublisher = "omni_ros"\n\n'
        '[tool.flwr.app.components]\n'
        f'serverapp = "{__name__}:server"\nclientapp = "{__name__}:client"\n\n'
        f'[tool.flwr.app.config]\n{conf}\n').encode()}


def _apps():
    from flwr.clientapp import ClientApp
    from flwr.serverapp import ServerApp

    from .federated import Outcome, run_rounds, save_global, site_mods, site_reply

    def protocol(msg, context, call_next):
        """The mod this run needs (SecAgg+, or differential privacy's clipping), chosen from
        the run config: the SuperNode serves whatever run the SuperLink submits."""
        mods = site_mods(config_of(context.run_config))
        return mods[0](msg, context, call_next) if mods else call_next(msg, context)

    client_app = ClientApp()

    @client_app.train(mods=[protocol])
    def train(msg, context):
        site, dirs = site_of(context.node_config)
        return site_reply(msg, config_of(context.run_config), site, dirs)

    server_app = ServerApp()

    @server_app.main()
    def main(grid, context) -> None:
        t0 = time.monotonic()
        cfg = config_of(context.run_config)
        n = int(context.run_config["sites"])
        outcome = Outcome()
        run_rounds(grid, context, cfg, n, outcome)
        # the server knows each site by its index only: its folders stay with it
        save_global(outcome, cfg, Path(str(context.run_config["out"])),
                    [f"site {i}" for i in range(n)], t0, flower_run=int(context.run_id))

    return server_app, client_app


try:
    server, client = _apps()
except ImportError:  # no flwr (Python 3.10): omni-ros federate says so before coming here
    server = client = None
