"""Federated training benchmark (``omni-ros bench --suite federated``): three sites whose data
differ (non-IID), trained with Flower (:mod:`omni_ros.learning.federated`) against each site
alone and against all data in one place, every model scored on one common held-out set.

Sites (:data:`SITES`): randomised cells (sim ``randomize``) narrowed so that each site has its
own camera mount family, lighting, object sizes and microphone noise - the sizes split the
3-8 cm range in three, so a site alone never holds the other sites' objects. The held-out set
draws every cell from the union of the sites' ranges on fresh seeds. All runs share the model
config, batch size and learning rate (``train`` defaults) and see each sample equally often:
``EPOCHS`` epochs for the centralised and per-site models, ``EPOCHS`` rounds of one local epoch
for the federated ones. Nothing is tuned: rounds, FedProx's mu and the DP noise were fixed
before the first run; the held-out seeds are only evaluated. Data is generated once into
``build/federated`` and reused; the models are retrained on every run.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..core.config import from_flat_dict
from ..core.model.checkpoint import load_checkpoint
from ..core.model.model_config import OmniConfig
from ..dataset.generate import generate
from ..dataset.shards import MANIFEST
from ..learning.data import ShardData
from ..learning.evaluate import evaluate
from .cells import cell_config

ROOT = Path("build/federated")
EPISODES = 24          # per site, and in the held-out set
FRAME_STRIDE = 4       # dataset: every 4th camera frame
EVAL_STRIDE = 2        # held-out: every 2nd of those
EPOCHS = 10
COMMON = {"randomize.enabled": True, "randomize.width_px": [64, 128],
          "randomize.aspects": ["1:1", "4:3"]}
# name -> (what differs, first seed, sim overrides)
SITES: dict[str, tuple[str, int, dict]] = {
    "site A": ("front mount within 5 cm / 5 deg, bright light, small objects (3-4.5 cm), quiet",
               71000, {"randomize.eye_jitter_m": 0.05, "randomize.view_jitter_deg": 5.0,
                       "randomize.over_shoulder_p": 0.0, "randomize.light_ambient": [0.6, 0.75],
                       "randomize.object_size_m": [0.03, 0.045],
                       "randomize.audio_noise_level": [0.001, 0.002]}),
    "site B": ("over-the-shoulder mount, dim warm light, mid-size objects (4.5-6 cm)",
               72000, {"randomize.over_shoulder_p": 1.0, "randomize.light_ambient": [0.35, 0.45],
                       "randomize.light_temperature_k": [2700.0, 3500.0],
                       "randomize.object_size_m": [0.045, 0.06],
                       "randomize.audio_noise_level": [0.002, 0.004]}),
    "site C": ("front mount moved up to 15 cm / 15 deg, large objects (6-8 cm), noisy room",
               73000, {"randomize.over_shoulder_p": 0.0, "randomize.object_size_m": [0.06, 0.08],
                       "randomize.audio_noise_level": [0.004, 0.006]}),
}
HELD_OUT = ("every site's ranges together", 79000, {})
FEDERATED = {"FedAvg": {"federate.strategy": "fedavg"},
             "FedProx (mu 0.01)": {"federate.strategy": "fedprox", "federate.proximal_mu": 0.01},
             "FedAvg + DP (noise 0.05, clip 1)": {"federate.strategy": "fedavg",
                                                  "federate.dp_noise": 0.05,
                                                  "federate.dp_clip": 1.0},
             "FedAvg + SecAgg+": {"federate.strategy": "fedavg",
                                  "federate.secure_aggregation": True}}
METRICS = ("fused_score", "contact_state_acc", "impact_balanced_acc", "held_identity_acc",
           "object_detection_recall", "grounding_acc")


def dataset(name: str, seed: int, overrides: dict, workers: int = 2) -> Path:
    """The dataset folder of a site (generated on first use)."""
    out = ROOT / name.replace(" ", "_")
    if not (out / MANIFEST).exists():
        generate(out, EPISODES, seed=seed, workers=workers,
                 cfg=cell_config({**COMMON, **overrides}), frame_stride=FRAME_STRIDE,
                 progress=False)
    return out


def config(overrides: dict) -> OmniConfig:
    return from_flat_dict(OmniConfig, {"train.epochs": EPOCHS, "federate.rounds": EPOCHS,
                                       **overrides})


def score(path: Path, data: ShardData) -> dict:
    """The bench's metrics of checkpoint ``path`` on the held-out ``data``."""
    model, _, info = load_checkpoint(path)
    m = evaluate(model, data, ablations=False)["metrics"]
    return {**{k: m.get(k) for k in METRICS}, "train_time_s": info.get("train_time_s"),
            "train_samples": info.get("train_samples")}


def run(log=print) -> dict:
    from ..learning.federated import federate
    from ..learning.train import train

    t0 = time.monotonic()
    ROOT.mkdir(parents=True, exist_ok=True)
    sites = {n: dataset(n, seed, o) for n, (_, seed, o) in SITES.items()}
    held_out = dataset("held out", HELD_OUT[1], HELD_OUT[2])
    log(f"data ready in {time.monotonic() - t0:.0f} s")
    models: dict[str, Path] = {}
    received: dict[str, list] = {}
    for name, d in sites.items():
        models[f"{name} alone"] = ROOT / f"{d.name}_alone.pt"
        train([d], models[f"{name} alone"], config({}), progress=False, plot=False)
        log(f"trained {name} alone")
    models["centralised (all sites' data)"] = ROOT / "centralised.pt"
    train(list(sites.values()), models["centralised (all sites' data)"], config({}),
          progress=False, plot=False)
    log("trained centralised")
    for name, overrides in FEDERATED.items():
        models[name] = ROOT / f"federated_{len(received)}.pt"
        info = federate([[d] for d in sites.values()], models[name], config(overrides))
        received[name] = info["received"]
        log(f"trained {name}")
    # every model here shares config({})'s model, so the held-out windows are built once
    data = ShardData(held_out, config({}).model, frame_stride=EVAL_STRIDE, progress=False)
    results = {name: score(p, data) for name, p in models.items()}
    worst = min(results[f"{n} alone"]["fused_score"] for n in SITES)
    central = results["centralised (all sites' data)"]["fused_score"]
    per_round = {n: sorted({r["bytes"] + r.get("masked_bytes", 0) for r in rec})
                 for n, rec in received.items()}
    sent = {n: sorted({tuple(r["records"]) for r in rec}) for n, rec in received.items()}
    return {"sites": {n: d for n, (d, _, _) in SITES.items()}, "held_out": HELD_OUT[0],
            "episodes_per_site": EPISODES, "epochs_or_rounds": EPOCHS, "results": results,
            "worst_site_alone": worst, "centralised": central,
            "bytes_per_site_per_round": per_round, "what_a_site_sent": sent,
            "wall_s": time.monotonic() - t0}


def markdown(r: dict) -> str:
    rows = ["| site | its cells |", "|---|---|"]
    rows += [f"| {n} | {d} |" for n, d in r["sites"].items()]
    out = ["Three sites with different cells (non-IID), "
           f"{r['episodes_per_site']} episodes each; held out: {r['episodes_per_site']} episodes "
           f"drawn from {r['held_out']} on fresh seeds. {r['epochs_or_rounds']} epochs (or "
           "rounds of one local epoch) for every model; nothing tuned.", "", *rows, "",
           "| model | fused score | contact | impact (bal.) | held identity | detection recall "
           "| grounding | train s |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, m in r["results"].items():
        f = [m.get(k) for k in METRICS]
        out.append(f"| {name} | " + " | ".join("—" if v is None else f"{v:.3f}" for v in f)
                   + f" | {m['train_time_s']:.0f} |")
    c, w = r["centralised"], r["worst_site_alone"]
    out += ["", "| target | result |", "|---|---|"]
    for name in FEDERATED:
        v = r["results"][name]["fused_score"]
        out.append(f"| {name}: within 3 points of centralised, >= 5 points over the worst "
                   f"site alone | {100 * (v - c):+.1f} vs centralised "
                   f"{'✓' if v >= c - 0.03 else '✗'}; {100 * (v - w):+.1f} vs worst site "
                   f"{'✓' if v >= w + 0.05 else '✗'} |")
    out += ["", "What reached the server from a site each round (Flower's replies as the "
            "strategy received them): records "
            + "; ".join(f"{n}: {s}" for n, s in r["what_a_site_sent"].items())
            + "; bytes (under SecAgg+ its masked vector, no plain array) "
            + "; ".join(f"{n}: {b}" for n, b in r["bytes_per_site_per_round"].items())
            + f". Wall time {r['wall_s'] / 60:.0f} min."]
    return "\n".join(out) + "\n"
