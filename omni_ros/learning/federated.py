"""``omni-ros federate``: the omni model trained across sites with Flower (``flwr``); each site's
shards stay with it and only model weights travel.

A *site* is a robot cell's dataset folders. Per round the Flower server sends the global
weights to every site; the site's ClientApp trains them on its own samples for
``federate.local_epochs`` passes (the same losses, windows and dropout as ``omni-ros train``,
:func:`.train.step_losses`) and replies with its weights and its sample count, nothing else
(:func:`audited` records what arrives). The server aggregates them:

* ``fedavg``: the sample-weighted mean (McMahan et al. 2017);
* ``fedprox``: the same, with each site adding ``proximal_mu / 2 * |w - w_global|^2`` to its
  loss, which keeps sites with very different data from drifting apart (Li et al. 2018);
* with ``dp_noise`` > 0: differential privacy, client-side fixed clipping (each site clips its
  update to ``dp_clip`` in L2 norm, Flower's ``fixedclipping_mod``) and Gaussian noise of
  ``dp_noise * dp_clip / sites`` added by the server to the mean;
* with ``secure_aggregation``: Flower's SecAgg+, the server learns only the weighted mean of
  the sites' masked updates (:mod:`.secure`).

The learning rate decays over the rounds (cosine, from ``train.lr``); each round starts a
fresh optimiser at the site. Weights travel as float arrays; integer buffers (batch-norm step
counters) stay as initialised.

:func:`federate` runs on Flower's simulation runtime: one process holds the server and one
virtual SuperNode per site on Ray (``flwr[simulation]``), each site reading only its own
folders. Across hosts the same site and server code (:func:`site_reply`, :func:`run_rounds`,
:func:`save_global`) runs as a Flower App on the deployment runtime (:mod:`.flower_app`,
submitted by :mod:`.flower_deploy`). Flower 1.42 needs Python >= 3.11 (:func:`flower`)."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..core.model.checkpoint import save_checkpoint
from ..core.model.model_config import OmniConfig
from .objectives import Objective
from .train import Samples, batches, load_samples, new_model, optimiser, step_losses, update


class FederateError(RuntimeError):
    """Federated training cannot run here; the message says why."""


def flower():
    """The ``flwr`` package, or :class:`FederateError` saying how to get it."""
    try:
        import flwr
    except ImportError as err:
        import sys

        why = ("Flower 1.42 needs Python >= 3.11 (this is "
               f"{sys.version_info.major}.{sys.version_info.minor})"
               if sys.version_info < (3, 11) else f"flwr is not installed ({err}); run make setup")
        raise FederateError(f"omni-ros federate: {why}") from None
    return flwr


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state entries that travel: every floating-point parameter and buffer."""
    return {k: v for k, v in model.state_dict().items() if v.is_floating_point()}


def round_lr(cfg: OmniConfig, server_round: int) -> float:
    """Learning rate of round ``server_round`` (1-based): cosine from ``train.lr`` to 5 % of it
    over ``federate.rounds``."""
    t = (server_round - 1) / max(cfg.federate.rounds - 1, 1)
    return cfg.train.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))


def local_training(model, s: Samples, cfg: OmniConfig, server_round: int, site: int,
                   mu: float = 0.0) -> dict:
    """Train ``model`` (holding the global weights) on one site's samples ``s`` for
    ``federate.local_epochs`` passes at the round's learning rate; with ``mu`` > 0 the FedProx
    term ``mu / 2 * |w - w_global|^2`` joins the loss. Returns the mean loss and the steps."""
    tc = cfg.train
    seed = tc.seed + 1009 * server_round + site
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    anchor = [p.detach().clone() for p in model.parameters()] if mu > 0 else []
    objective = Objective(model, tc)
    opt = optimiser(model, tc)
    for group in opt.param_groups:
        group["lr"] = round_lr(cfg, server_round)
    model.train(tc.trainable == "all")
    total, steps = 0.0, 0
    n = max(1, round(cfg.federate.local_epochs * s.data.n))  # samples this round
    for idx in batches(rng, s.usable, n, tc.batch_size):
        losses = step_losses(model, objective, s, idx, cfg, gen)
        if losses and mu > 0:
            prox = sum(((p - a) ** 2).sum() for p, a in zip(model.parameters(), anchor))
            losses["total"] = losses["total"] + 0.5 * mu * prox
        update(model, opt, losses)
        if losses:
            total += float(losses["total"].detach())
            steps += 1
    model.eval()
    return {"loss": total / max(steps, 1), "steps": steps}


_SITE_SAMPLES: dict[tuple, Samples] = {}  # per site process: its samples, loaded once


def site_samples(dirs: list[str], cfg: OmniConfig) -> Samples:
    key = tuple(dirs)
    if key not in _SITE_SAMPLES:
        _SITE_SAMPLES[key] = load_samples([Path(d) for d in dirs], cfg, cfg.model, progress=False)
    return _SITE_SAMPLES[key]


def train_site(state: dict, server_round: int, mu: float, cfg: OmniConfig, site: int,
               dirs: list[str], check=None):
    """(model, samples, mean loss): the global weights ``state`` trained on the site's folders
    ``dirs`` for one round; ``check(samples)`` may refuse the site before it trains. Shared by
    the plain and the secure (:mod:`.secure`) replies."""
    torch.set_num_threads(cfg.train.threads)
    try:
        s = site_samples(dirs, cfg)
    except Exception as err:  # the server's error names the site and what broke
        raise RuntimeError(f"site {site} {dirs}: {type(err).__name__}: {err}") from None
    if check is not None:
        check(int(s.data.n))
    model = new_model(cfg)
    model.load_state_dict(state, strict=False)
    result = local_training(model, s, cfg, server_round, site, mu)
    return model, int(s.data.n), result["loss"]


def site_reply(msg, cfg: OmniConfig, site: int, dirs: list[str]):
    """A site's answer to the server's train message ``msg``: the global weights it carries,
    trained on the site's folders ``dirs``; the reply holds the weights and the sample count,
    nothing else. Shared by the simulation's and the deployed ClientApp. With
    ``federate.secure_aggregation`` the message is SecAgg+'s and :func:`.secure.site_update`
    answers instead (only a masked update leaves the site)."""
    from flwr.app import ArrayRecord, Message, MetricRecord, RecordDict

    if cfg.federate.secure_aggregation:
        from .secure import site_update

        return site_update(msg, cfg, site, dirs)
    conf = msg.content["config"]
    model, n, loss = train_site(msg.content["arrays"].to_torch_state_dict(),
                                int(conf["server-round"]), float(conf.get("proximal-mu", 0.0)),
                                cfg, site, dirs)
    reply = RecordDict({"arrays": ArrayRecord(weights(model)),
                        "metrics": MetricRecord({"num-examples": n, "site": site,
                                                 "train-loss": loss})})
    return Message(content=reply, reply_to=msg)


def site_mods(cfg: OmniConfig) -> list:
    """The ClientApp mods a run needs: SecAgg+'s protocol (secure aggregation), Flower's
    client-side clipping (differential privacy), or none."""
    if cfg.federate.secure_aggregation:
        from flwr.client.mod import secaggplus_mod

        return [secaggplus_mod]
    if cfg.federate.dp_noise > 0:
        from flwr.clientapp.mod import fixedclipping_mod

        return [fixedclipping_mod]
    return []


def client_app(sites: list[list[str]], cfg: OmniConfig):
    """The Flower ClientApp of every simulated site: the SuperNode with ``partition-id`` i
    trains on ``sites[i]`` only."""
    from flwr.clientapp import ClientApp

    app = ClientApp()

    @app.train(mods=site_mods(cfg))
    def train(msg, context):
        site = int(context.node_config["partition-id"])
        return site_reply(msg, cfg, site, sites[site])

    return app


def mean_loss(records, weight_key: str):
    """Flower's train-metrics aggregation: the sample-weighted mean site loss."""
    from flwr.app import MetricRecord

    m = [next(iter(r.metric_records.values())) for r in records]
    n = sum(float(x[weight_key]) for x in m)
    return MetricRecord({"train-loss": sum(float(x["train-loss"]) * float(x[weight_key])
                                           for x in m) / max(n, 1.0)})


def last_line(text: str) -> str:
    """The last line of a Flower error reason (it carries Ray's traceback before it)."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1].rstrip("'>") if lines else text


def audited(strategy_cls):
    """``strategy_cls`` (a Flower strategy) that also keeps, per round and site, what arrived
    from the site: the record names, the array names and the bytes."""

    class Audit(strategy_cls):
        received: list[dict]
        failures: list[str]

        def aggregate_train(self, server_round, replies):
            replies = list(replies)
            failed = [last_line(m.error.reason) for m in replies if m.has_error()]
            if failed:  # never a global model that silently lacks a site
                self.failures.extend(failed)
                raise FederateError(f"round {server_round}: {len(failed)} site(s) failed: "
                                    + "; ".join(failed))
            for m in replies:
                if m.has_content():
                    arrays = m.content["arrays"]
                    self.received.append({
                        "round": server_round, "records": sorted(m.content.keys()),
                        "metrics": sorted(m.content["metrics"].keys()),
                        "site": int(m.content["metrics"]["site"]),
                        "samples": int(m.content["metrics"]["num-examples"]),
                        "arrays": sorted(arrays.keys()),
                        "bytes": int(sum(a.numpy().nbytes for a in arrays.values()))})
            return super().aggregate_train(server_round, replies)

    Audit.__name__ = f"Audited{strategy_cls.__name__}"
    return Audit


@dataclass
class Outcome:
    """What a federated run did: the final global weights, the mean site loss per round and
    what arrived from the sites."""
    state: dict = field(default_factory=dict)
    train_loss: list[float] = field(default_factory=list)
    received: list[dict] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def run_rounds(grid, context, cfg: OmniConfig, n_sites: int, outcome: Outcome) -> None:
    """The server's side of a run: ``federate.rounds`` rounds of the configured strategy over
    ``n_sites`` sites on Flower's ``grid`` (``context``: the ServerApp's), starting from
    ``cfg``'s initial model; fills ``outcome``. Shared by the simulation's and the deployed
    ServerApp. With ``federate.secure_aggregation``: :func:`.secure.run_rounds`."""
    from flwr.app import ArrayRecord, ConfigRecord
    from flwr.serverapp.strategy import DifferentialPrivacyClientSideFixedClipping, FedAvg, FedProx

    fc = cfg.federate
    if fc.secure_aggregation:
        from . import secure

        return secure.run_rounds(grid, context, cfg, n_sites, outcome)
    torch.manual_seed(cfg.train.seed)
    every = dict(fraction_train=1.0, fraction_evaluate=0.0, min_train_nodes=n_sites,
                 min_available_nodes=n_sites, min_evaluate_nodes=0,
                 train_metrics_aggr_fn=mean_loss)
    if fc.strategy == "fedprox":
        strategy = audited(FedProx)(proximal_mu=fc.proximal_mu, **every)
    else:
        strategy = audited(FedAvg)(**every)
    strategy.received, strategy.failures = outcome.received, outcome.failures
    outer = strategy
    if fc.dp_noise > 0:
        outer = DifferentialPrivacyClientSideFixedClipping(strategy, fc.dp_noise, fc.dp_clip,
                                                           n_sites)
    result = outer.start(grid, ArrayRecord(weights(new_model(cfg))), num_rounds=fc.rounds,
                         train_config=ConfigRecord({}))
    outcome.state = result.arrays.to_torch_state_dict()
    outcome.train_loss = [float(result.train_metrics_clientapp[r]["train-loss"])
                          for r in sorted(result.train_metrics_clientapp)]


def server_app(n_sites: int, cfg: OmniConfig, outcome: Outcome):
    """The simulation's Flower ServerApp: :func:`run_rounds`, filling ``outcome``."""
    from flwr.serverapp import ServerApp

    app = ServerApp()

    @app.main()
    def main(grid, context) -> None:
        run_rounds(grid, context, cfg, n_sites, outcome)

    return app


def save_global(outcome: Outcome, cfg: OmniConfig, out_path: Path, sites: list,
                t0: float, **extra) -> dict:
    """Write the run's global model as a checkpoint and return its info; FederateError if a
    site failed or rounds are missing (then nothing is written). ``sites``: what the server may
    name of each site (its folders in simulation, its index when deployed)."""
    if outcome.failures:
        raise FederateError("a site failed, so no global model was written: "
                            + "; ".join(outcome.failures))
    if len(outcome.train_loss) != cfg.federate.rounds or not outcome.state:
        raise FederateError(f"the federated run finished {len(outcome.train_loss)} of "
                            f"{cfg.federate.rounds} rounds (see Flower's log above)")
    model = new_model(cfg)
    model.load_state_dict(outcome.state, strict=False)
    model.eval()
    samples = {r["site"]: r["samples"] for r in outcome.received}
    per_site = [{"data": d, "samples": samples[i]} for i, d in enumerate(sites)]
    info = {"federated": True, "sites": per_site, "rounds": cfg.federate.rounds,
            "strategy": cfg.federate.strategy, "dp_noise": cfg.federate.dp_noise,
            "secure_aggregation": cfg.federate.secure_aggregation,
            "train_samples": sum(p["samples"] for p in per_site),
            "history": [{"total": v} for v in outcome.train_loss],
            "received": outcome.received, "train_time_s": time.monotonic() - t0, **extra}
    # the checkpoint keeps how many arrays each reply held, not their ~250 names per reply
    save_checkpoint(out_path, model, cfg,
                    {**info, "received": [{**r, "arrays": len(r["arrays"])}
                                          for r in outcome.received]})
    return info


def federate(sites: list[list[Path]], out_path: Path, cfg: OmniConfig) -> dict:
    """Train ``cfg.model`` across ``sites`` (each a list of dataset folders) with Flower
    (``cfg.federate``) and save the global model as a checkpoint. Returns its info."""
    flower()
    from flwr.simulation import run_simulation

    from .secure import check

    if len(sites) < 2:
        raise FederateError(f"omni-ros federate needs at least 2 sites, got {len(sites)}")
    check(cfg, len(sites))
    t0 = time.monotonic()
    names = [[str(Path(d).resolve()) for d in s] for s in sites]
    outcome = Outcome()
    # Ray starts its workers at niceness 15: next to any busy process they starve.
    os.environ.setdefault("RAY_worker_niceness", "0")
    # sites training at once: as many as the CPUs give train.threads each
    concurrent = max(1, min(len(sites), (os.cpu_count() or 1) // cfg.train.threads))
    pythonpath = os.environ.get("PYTHONPATH")  # Flower's Ray backend rewrites it for good
    try:
        run_simulation(server_app=server_app(len(sites), cfg, outcome),
                       client_app=client_app(names, cfg), num_supernodes=len(sites),
                       backend_config={"client_resources": {"num_cpus": cfg.train.threads,
                                                            "num_gpus": 0.0},
                                       "init_args": {"num_cpus": concurrent * cfg.train.threads,
                                                     "include_dashboard": False,
                                                     "log_to_driver": False}})
    finally:
        if pythonpath is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = pythonpath
    return save_global(outcome, cfg, out_path, names, t0)
