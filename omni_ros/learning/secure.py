"""Secure aggregation for ``omni-ros federate`` (``federate.secure_aggregation``): Flower's
SecAgg+ protocol, so the server learns only the sample-weighted mean of the sites' updates,
never one site's.

Per round each site trains the global weights exactly as without it (:func:`.federated.
local_training`) and hands its *update* (trained minus global weights, per array) and its
sample count n to Flower's ``secaggplus_mod``, which scales the update by n / ``secagg_max_weight``,
clips it to +-``secagg_clip``, quantises it to 2**22 levels and masks it with pairwise and private
masks agreed with the other sites; the server's ``SecAggPlusWorkflow`` sums the masked vectors,
which cancels the masks, and divides by the summed weights. :class:`SecureMean` (a legacy
Flower strategy: SecAgg+ exists only for Flower's older strategy API) adds that mean update to
the global weights. Updates rather than weights travel because they are small: the clip range
then costs nothing and the quantisation step (2 * clip / 2**22 over the summed weights) is far
below a training step.

What the server sees per site and round: the masked vector (uniform noise on its own), the
sample count and the metrics (``site``, ``train-loss``, ``clipped``: entries of the update cut
at the clip range). With ``fedprox`` the sites add the proximal term as usual; differential
privacy (``dp_noise``) is refused with secure aggregation (Flower's DP wrappers act on the plain
per-site updates that SecAgg+ hides). With 2 sites each site can work out the other's update
from the mean and its own: secure aggregation protects sites from the server, and needs 3 or
more sites to protect them from each other.
"""

from __future__ import annotations

import re

import numpy as np
import torch

from ..core.config import ConfigError
from ..core.model.model_config import OmniConfig
from .train import new_model

QUANTIZATION_RANGE = 2 ** 22   # Flower's default: integer levels per clipped entry
MODULUS_RANGE = 2 ** 32        # Flower's default (the largest it allows)


def check(cfg: OmniConfig, n_sites: int) -> None:
    """ConfigError for settings that cannot go together with secure aggregation."""
    fc = cfg.federate
    if fc.secure_aggregation and n_sites < 2:
        raise ConfigError(f"federate.secure_aggregation needs at least 2 sites, got {n_sites}")
    if fc.secure_aggregation and fc.dp_noise > 0:
        raise ConfigError("federate.secure_aggregation and federate.dp_noise > 0 cannot be "
                          "combined: Flower's differential-privacy wrappers clip and noise the "
                          "per-site updates that secure aggregation hides; choose one")


def keys(cfg: OmniConfig) -> list[str]:
    """Names of the arrays that travel, in the order both sides use."""
    from .federated import weights

    return list(weights(new_model(cfg)))


def site_update(msg, cfg: OmniConfig, site: int, dirs: list[str]):
    """A site's reply to a SecAgg+ train message (legacy ``fitins`` content, handed on by
    ``secaggplus_mod``): its update to the global weights as a legacy FitRes, which the mod
    masks before anything leaves the site."""
    from flwr.app import Message
    from flwr.common import Code, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays
    from flwr.compat.common import recorddict_compat as compat

    from .federated import train_site

    fitins = compat.recorddict_to_fitins(msg.content, keep_input=True)
    names = keys(cfg)
    start = parameters_to_ndarrays(fitins.parameters)
    state = {k: torch.from_numpy(np.asarray(a)) for k, a in zip(names, start)}
    fc = cfg.federate

    def fits(n: int) -> None:  # before training: SecAgg+ would overflow
        if n > fc.secagg_max_weight:
            raise ValueError(f"site {site} has {n} samples, more than federate.secagg_max_weight "
                             f"({fc.secagg_max_weight}), which SecAgg+ weights by: raise it on "
                             "the server's config")

    model, n, loss = train_site(state, int(fitins.config["server-round"]),
                                float(fitins.config.get("proximal-mu", 0.0)), cfg, site, dirs,
                                check=fits)
    sd = model.state_dict()
    update = [sd[k].numpy().astype(np.float32) - a for k, a in zip(names, start)]
    scale = n / fc.secagg_max_weight
    clipped = int(sum(np.count_nonzero(np.abs(u) * scale > fc.secagg_clip) for u in update))
    res = FitRes(Status(Code.OK, ""), ndarrays_to_parameters(update), int(n),
                 {"site": int(site), "train-loss": float(loss), "clipped": clipped})
    return Message(content=compat.fitres_to_recorddict(res, keep_input=False), reply_to=msg)


def strategy_class():
    """:class:`SecureMean`, built on Flower's legacy FedAvg (imported only when used)."""
    from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays
    from flwr.server.strategy import FedAvg

    from .federated import FederateError, weights

    class SecureMean(FedAvg):
        """The global weights plus the mean update SecAgg+ reconstructed; fills ``outcome``
        (:class:`.federated.Outcome`) round by round."""

        def __init__(self, cfg: OmniConfig, n_sites: int, outcome, traffic: "Traffic"):
            fc = cfg.federate
            mu = fc.proximal_mu if fc.strategy == "fedprox" else 0.0
            torch.manual_seed(cfg.train.seed)
            init = weights(new_model(cfg))
            self.names = list(init)
            self.global_ = [init[k].numpy().astype(np.float32) for k in self.names]
            self.outcome, self.traffic = outcome, traffic
            super().__init__(fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=n_sites,
                             min_available_clients=n_sites, min_evaluate_clients=0,
                             initial_parameters=ndarrays_to_parameters(self.global_),
                             on_fit_config_fn=lambda r: {"server-round": r, "proximal-mu": mu})

        def aggregate_fit(self, server_round, results, failures):
            if failures:  # never a global model that silently lacks a site
                reasons = [reason(f) for f in failures]
                self.outcome.failures.extend(reasons)
                raise FederateError(f"round {server_round}: {len(failures)} site(s) failed: "
                                    + "; ".join(reasons))
            # every result carries the same reconstructed mean update; none a site's own
            mean = parameters_to_ndarrays(results[0][1].parameters)
            self.global_ = [(g + d).astype(np.float32) for g, d in zip(self.global_, mean)]
            n = sum(r.num_examples for _, r in results)
            loss = sum(float(r.metrics["train-loss"]) * r.num_examples for _, r in results)
            self.outcome.train_loss.append(loss / max(n, 1))
            for proxy, r in results:
                plain, masked = self.traffic.take(proxy.node_id)
                self.outcome.received.append({
                    "round": server_round, "records": ["masked update", "metrics"],
                    "metrics": sorted(r.metrics) + ["num-examples"],
                    "site": int(r.metrics["site"]), "samples": int(r.num_examples),
                    "clipped": int(r.metrics["clipped"]), "arrays": [], "bytes": plain,
                    "masked_bytes": masked})
            self.outcome.state = {k: torch.from_numpy(g.copy())
                                  for k, g in zip(self.names, self.global_)}
            return ndarrays_to_parameters(self.global_), {"train-loss": loss / max(n, 1)}

    return SecureMean


class Traffic:
    """What reached the server from each SuperNode this round, measured on Flower's grid:
    bytes of plain arrays (none under SecAgg+: its mod empties them) and of masked vectors."""

    def __init__(self):
        self.plain: dict[int, int] = {}
        self.masked: dict[int, int] = {}

    def grid(self, grid):
        """``grid`` with every reply counted."""
        traffic = self

        class Counted:
            def __getattr__(self, name):
                return getattr(grid, name)

            def send_and_receive(self, messages, *args, **kwargs):
                replies = list(grid.send_and_receive(messages, *args, **kwargs))
                for m in replies:
                    if m.has_content():
                        traffic.count(m.metadata.src_node_id, m.content)
                return replies

        return Counted()

    def count(self, node: int, content) -> None:
        from flwr.common.secure_aggregation.secaggplus_constants import Key

        plain = sum(a.numpy().nbytes for rec in content.array_records.values()
                    for a in rec.values())
        masked = sum(len(b) for rec in content.config_records.values()
                     for b in rec.get(Key.MASKED_PARAMETERS, []))
        self.plain[node] = self.plain.get(node, 0) + int(plain)
        self.masked[node] = self.masked.get(node, 0) + int(masked)

    def take(self, node: int) -> tuple[int, int]:
        """(plain, masked) bytes from ``node`` since the last take."""
        return self.plain.pop(node, 0), self.masked.pop(node, 0)


def reason(failure: Exception) -> str:
    """Why a site failed, from a failure SecAgg+ kept (an Exception around Flower's Error)."""
    from .federated import last_line

    err = failure.args[0] if failure.args else failure
    text = last_line(str(getattr(err, "reason", err)))
    return re.sub(r"^Exception \w+ occurred\. Message: ", "", text)


def run_rounds(grid, context, cfg: OmniConfig, n_sites: int, outcome) -> None:
    """The server's side of a secure run: Flower's DefaultWorkflow with SecAgg+ as its fit
    step, ``federate.rounds`` rounds over ``n_sites`` sites; fills ``outcome``. A round that
    SecAgg+ halted (a site failed or dropped below the reconstruction threshold) is a failure."""
    from flwr.server import LegacyContext, ServerConfig
    from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow

    fc = cfg.federate
    traffic = Traffic()
    strategy = strategy_class()(cfg, n_sites, outcome, traffic)
    failures: list[str] = []

    class Workflow(SecAggPlusWorkflow):
        """SecAgg+ that keeps why sites failed, which Flower only logs when it halts."""

        def _kept(self, stage, grid, context, state):
            seen = len(state.failures)
            ok = stage(grid, context, state)
            failures.extend(reason(f) for f in state.failures[seen:])
            return ok

        def setup_stage(self, grid, context, state):
            return self._kept(super().setup_stage, grid, context, state)

        def share_keys_stage(self, grid, context, state):
            return self._kept(super().share_keys_stage, grid, context, state)

        def collect_masked_vectors_stage(self, grid, context, state):
            return self._kept(super().collect_masked_vectors_stage, grid, context, state)

    legacy = LegacyContext(context=context, config=ServerConfig(num_rounds=fc.rounds),
                           strategy=strategy)
    workflow = Workflow(num_shares=1.0, reconstruction_threshold=fc.secagg_threshold,
                        max_weight=float(fc.secagg_max_weight), clipping_range=fc.secagg_clip,
                        quantization_range=QUANTIZATION_RANGE, modulus_range=MODULUS_RANGE)
    DefaultWorkflow(fit_workflow=workflow)(traffic.grid(grid), legacy)
    if len(outcome.train_loss) < fc.rounds and not outcome.failures:
        outcome.failures.append(
            f"secure aggregation halted after {len(outcome.train_loss)} of {fc.rounds} rounds: "
            + ("; ".join(dict.fromkeys(failures)) or "too few sites answered (see Flower's log)"))
