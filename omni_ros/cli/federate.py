"""Train the omni model across sites with Flower: each site (one --site, its dataset folders)
trains the global model on its own shards and sends back only its weights; the server averages
them (FedAvg, or FedProx for sites whose data differ) for --rounds rounds and writes the global
model as an ordinary checkpoint. --dp-noise adds differential privacy (each site clips its
update to --dp-clip, the server adds Gaussian noise); --secure adds secure aggregation (Flower's
SecAgg+: the server learns only the weighted mean of the sites' masked updates). Needs
Python >= 3.11.

On this machine (Flower's simulation runtime on Ray: the server and one SuperNode per site):

  omni-ros federate --site build/fed/site_a --site build/fed/site_b --site build/fed/site_c \\
      --rounds 10 --strategy fedprox --out omni_fleet.pt

Across hosts (Flower's deployment runtime: a SuperLink on the server host, a SuperNode on each
site's host naming its own shards; README "Federated training"):

  omni-ros federate --superlink 10.0.0.5:8000 --sites 3 --rounds 10 --out /srv/omni_fleet.pt
"""

from __future__ import annotations

from pathlib import Path

from . import not_datasets

HELP = "train the model across sites with Flower (only weights leave a site)"


def add_arguments(parser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--site", type=Path, nargs="+", action="append", metavar="DIR",
                       help="one site's dataset folder(s); repeat per site (at least 2); "
                            "all sites on this machine")
    where.add_argument("--superlink", metavar="HOST:PORT",
                       help="submit the run to a Flower SuperLink (its Control API) whose "
                            "SuperNodes hold the sites' shards")
    parser.add_argument("--sites", type=int, default=2, metavar="N",
                        help="--superlink: SuperNodes that take part (default 2)")
    parser.add_argument("--root-certificates", type=Path, metavar="PEM",
                        help="--superlink: CA certificate of a TLS SuperLink (without it the "
                             "connection is insecure, as flower-superlink --insecure)")
    parser.add_argument("--timeout", type=float, default=7200.0, metavar="S",
                        help="--superlink: give up (and stop the run) after S seconds "
                             "(default 7200)")
    parser.add_argument("--out", type=Path, required=True,
                        help="checkpoint to write (.pt); with --superlink a path on the "
                             "SuperLink's host, where the ServerApp runs")
    parser.add_argument("--config", type=Path,
                        help="YAML overriding the config tree (model.*, train.*, federate.*)")
    parser.add_argument("--rounds", type=int, help="shortcut for federate.rounds")
    parser.add_argument("--strategy", choices=("fedavg", "fedprox"),
                        help="shortcut for federate.strategy")
    parser.add_argument("--dp-noise", type=float, help="shortcut for federate.dp_noise")
    parser.add_argument("--dp-clip", type=float, help="shortcut for federate.dp_clip")
    parser.add_argument("--secure", action="store_true",
                        help="secure aggregation (SecAgg+): sites send masked updates and the "
                             "server learns only their weighted mean (federate.secure_aggregation)")


def run(args) -> int:
    import yaml

    from ..core.config import ConfigError
    from ..dataset.shards import DatasetError
    from ..learning.federated import FederateError, federate, flower
    from .train import load_config

    if args.config and not args.config.is_file():
        print(f"error: --config {args.config}: no such file")
        return 2
    if args.site and len(args.site) < 2:
        print(f"error: federated training needs at least 2 --site, got {len(args.site)}")
        return 2
    if args.site and not_datasets([d for s in args.site for d in s]):
        return 2
    shortcuts = {"federate.rounds": args.rounds, "federate.strategy": args.strategy,
                 "federate.dp_noise": args.dp_noise, "federate.dp_clip": args.dp_clip,
                 "federate.secure_aggregation": True if args.secure else None}
    try:
        cfg = load_config(args.config, {k: v for k, v in shortcuts.items() if v is not None})
        if args.superlink:
            flower()
            from ..learning.flower_deploy import submit

            run = submit(args.superlink, args.sites, cfg, args.out,
                         root_certificates=args.root_certificates, timeout_s=args.timeout)
        else:
            info = federate(args.site, args.out, cfg)
    except (ConfigError, yaml.YAMLError, DatasetError, FederateError) as err:
        print(f"error: {err}")
        return 2
    if args.superlink:
        print(f"federated run {run['run_id']} {run['status']} in {run['elapsed_s'] / 60:.1f} "
              f"min ({run['traffic_bytes'] / 1e6:.1f} MB through the SuperLink); wrote "
              f"{run['out']}" + ("" if run["checkpoint_here"] else " on the SuperLink's host"))
        return 0
    sizes = ", ".join(str(s["samples"]) for s in info["sites"])
    print(f"federated {info['strategy']} over {len(info['sites'])} sites ({sizes} samples) for "
          f"{info['rounds']} rounds in {info['train_time_s'] / 60:.1f} min; final site loss "
          f"{info['history'][-1]['total']:.3f}; wrote {args.out}")
    return 0
