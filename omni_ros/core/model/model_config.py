"""The configuration tree of the omni model and its training: one source for the training
config, the config saved in every checkpoint, and (via omni_ros.core.config) ROS parameters."""

from __future__ import annotations

from dataclasses import dataclass, field, make_dataclass

from ..config import ConfigError, param
from .modalities import load_all, sensors

REGISTRY = load_all()
SENSORS = [m.name for m in sensors()]


@dataclass
class RouterConfig:
    kind: str = param("gated", "fusion: gated (learned gates) or concat (baseline)",
                      choices=("gated", "concat"))
    hidden: int = param(64, "gating network width", min=4, max=1024)
    top_k: int = param(0, "keep only the k largest gates (0 = all)", min=0, max=16)
    load_balance: float = param(0.01, "weight of the load-balancing loss", min=0.0, max=10.0)
    rules: list[str] = param([], "fixed gates for exact combinations of present modalities, "
                                 "e.g. 'lidar+force: lidar=0.7 force=0.3' (gated router only)")

    def check(self) -> None:
        from .router import parse_rules

        if self.rules and self.kind != "gated":
            raise ConfigError("parameter 'model.router.rules' needs model.router.kind: gated")
        try:
            parse_rules(self.rules)
        except ValueError as err:
            raise ConfigError(f"parameter 'model.router.rules': {err}") from None


def _check_model(self) -> None:
    from .router import parse_rules

    for combo in parse_rules(self.router.rules):
        if not combo <= set(self.modalities):
            raise ConfigError(f"parameter 'model.router.rules': {sorted(combo)} names modalities "
                              f"outside model.modalities {self.modalities}")


# The model's config: which modalities it fuses, the latent width, one section per registered
# modality (its config class, from its file) and the router. Built from the registry, so a new
# modality file brings its section with it.
ModelConfig = make_dataclass("ModelConfig", [
    ("modalities", list[str], param(list(SENSORS), "fused sensor modalities",
                                    choices=tuple(SENSORS))),
    ("latent_dim", int, param(128, "shared latent width", min=8, max=1024)),
    *[(m.name, m.config_cls, field(default_factory=m.config_cls)) for m in REGISTRY.values()],
    ("router", RouterConfig, field(default_factory=RouterConfig)),
], namespace={"check": _check_model, "__module__": __name__,
              "__doc__": "The omni model: fused modalities, latent width, per-modality sections."})


@dataclass
class TrainConfig:
    seed: int = param(0, "training seed", min=0, max=2**31 - 1)
    epochs: int = param(14, "passes over the training set", min=1, max=10000)
    batch_size: int = param(48, "samples per step", min=2, max=4096)
    lr: float = param(2e-3, "peak learning rate (AdamW, cosine decay)", min=1e-6, max=1.0)
    weight_decay: float = param(1e-4, "AdamW weight decay", min=0.0, max=1.0)
    frame_stride: int = param(1, "use every n-th sample of an episode", min=1, max=100)
    modality_dropout: float = param(0.3, "probability of hiding each modality of a sample",
                                    min=0.0, max=0.95)
    temperature: float = param(0.1, "InfoNCE temperature", min=0.01, max=10.0)
    contrastive: str = param("infonce", "contrastive loss", choices=("infonce", "margin"))
    margin: float = param(0.2, "margin of the margin-based contrastive loss", min=0.0, max=2.0)
    contrastive_weight: float = param(0.5, "weight of the contrastive terms", min=0.0, max=100.0)
    uniformity: float = param(0.5, "weight of the uniformity term (Wang & Isola 2020: log of "
                              "the mean of exp(-2 |a - b|^2) over the batch's fused latents; <= 0) "
                              "for models without a contrastive pair: with nothing spreading it, "
                              "a lone modality's latent collapses to one point", min=0.0, max=100.0)
    balance_modalities: bool = param(True, "scale each modality's contrastive loss by its "
                                           "running mean (against modality imbalance)")
    threads: int = param(2, "torch CPU threads", min=1, max=256)
    init_from: str = param("", "checkpoint whose matching weights start training ('' = random "
                               "init); a name resolves in the package's models/")
    trainable: str = param("all", "what training updates: everything, or only the text encoder "
                                  "(adapt a new text backend to a trained model)", choices=("all", "text"))
    label_fraction: float = param(1.0, "fraction of the labelled episodes whose labels are used "
                                  "(chosen by label_seed; the others count as unlabelled: only a "
                                  "distillation teacher learns from them)", min=0.001, max=1.0)
    label_seed: int = param(0, "which episodes keep their labels when label_fraction < 1",
                            min=0, max=2**31 - 1)

    def check(self) -> None:
        if self.contrastive == "margin" and self.margin <= 0:
            raise ConfigError("parameter 'train.margin' must be > 0 for the margin loss")
        if self.trainable != "all" and not self.init_from:
            raise ConfigError(f"parameter 'train.trainable' = {self.trainable!r} needs "
                              "'train.init_from' (a trained checkpoint to start from)")


@dataclass
class CompressConfig:
    """How a checkpoint was compressed (``omni-ros compress``; all off for a trained one)."""
    prune_branches: list[str] = param([], "modalities dropped by router branch pruning",
                                      choices=tuple(SENSORS))
    min_gate: float = param(0.0, "prune every modality whose mean gate (every modality present, "
                            "on the calibration episodes) is below this - unless max_change "
                            "says the decisions need it; never the camera", min=0.0, max=1.0)
    max_change: float = param(0.01, "min_gate pruning keeps a rarely used modality if, without "
                              "it, more than this share of a fused decision changes on the "
                              "calibration fusions (contact, impact; impact material at impacts; "
                              "held identity while grasping)", min=0.0, max=1.0)
    onnx: bool = param(False, "the encoders and the object head run on ONNX Runtime")
    int8: bool = param(False, "... quantized to int8 (static, per channel, calibrated); "
                       "implies onnx")
    int8_exclude: list[str] = param([], "parts kept in float when int8: encoders.<modality> or "
                                    "object_head")
    int8_min_speedup: float = param(1.1, "int8: a part stays int8 only if it runs at least this "
                                    "many times faster than its float graph on the calibration "
                                    "inputs (1 thread; tiny encoders gain nothing and lose "
                                    "precision); 0 = always", min=0.0, max=100.0)
    prune_channels: float = param(0.0, "fraction of the camera path's channels removed (U-Net "
                                  "widths and object head trunk, weakest by L1 norm x batch-norm "
                                  "scale), then distilled from the unpruned model", min=0.0,
                                  max=0.9)
    distill_episodes: int = param(64, "channel pruning: sim episodes (from calibration_seed) "
                                  "whose camera frames the pruned path is distilled on",
                                  min=1, max=1000)
    distill_epochs: int = param(10, "channel pruning: passes over those frames", min=1, max=1000)
    distill_lr: float = param(2e-3, "channel pruning: peak learning rate of the distillation "
                              "(AdamW, cosine decay)", min=1e-6, max=1.0)
    calibration_episodes: int = param(4, "sim episodes whose inputs calibrate int8 and measure "
                                      "the gates", min=1, max=1000)
    calibration_seed: int = param(9000, "seed of the first calibration episode (apart from the "
                                  "training and evaluation seeds)", min=0, max=2**31 - 1)

    def check(self) -> None:
        parts = ["object_head"] + [f"encoders.{n}" for n in SENSORS]
        for part in self.int8_exclude:
            if part not in parts:
                raise ConfigError(f"parameter 'compress.int8_exclude': {part!r} is not one of "
                                  f"{', '.join(parts)}")
        if self.int8 and not self.onnx:
            raise ConfigError("parameter 'compress.int8' needs 'compress.onnx' (int8 runs on "
                              "ONNX Runtime)")


@dataclass
class DistillConfig:
    """A student trained from a teacher checkpoint (``omni-ros distill``; no teacher: trained
    from labels alone). Loss weights are relative to the label losses' (each about 1)."""
    teacher: str = param("", "checkpoint whose outputs the student learns ('' = labels alone); "
                         "it must see every modality the student fuses")
    temperature: float = param(2.0, "temperature of the soft targets (class distributions and "
                               "binary states)", min=0.1, max=100.0)
    fused_weight: float = param(1.0, "weight of 1 - cos(student fused latent, teacher fused "
                                "latent with all its sensors)", min=0.0, max=100.0)
    latent_weight: float = param(0.5, "weight of 1 - cos per modality latent (student vs "
                                 "teacher, the modalities both fuse)", min=0.0, max=100.0)
    soft_weight: float = param(1.0, "weight of the soft targets of the state and held-object "
                               "heads", min=0.0, max=100.0)
    object_weight: float = param(1.0, "weight of the per-pixel object head outputs (students "
                                 "with a camera)", min=0.0, max=100.0)


@dataclass
class FederateConfig:
    """Training across sites with Flower (``omni-ros federate``, :mod:`omni_ros.learning.federated`);
    each site trains with the ``train`` section's losses, batch size and peak learning rate."""
    rounds: int = param(10, "federated rounds (global weights out, site weights back)",
                        min=1, max=10000)
    local_epochs: float = param(1.0, "passes over its own samples each site trains per round "
                                "(a fraction: that share of a pass, more rounds for the same "
                                "data: less drift between unlike sites)", min=0.01, max=100.0)
    strategy: str = param("fedavg", "aggregation: fedavg (sample-weighted mean) or fedprox "
                          "(the same, sites pulled towards the global weights: non-IID sites)",
                          choices=("fedavg", "fedprox"))
    proximal_mu: float = param(0.01, "FedProx: weight mu of mu/2 |w - w_global|^2 in each site's "
                               "loss", min=0.0, max=100.0)
    dp_noise: float = param(0.0, "differential privacy: Gaussian noise multiplier on the "
                            "clipped updates (0 = off)", min=0.0, max=100.0)
    dp_clip: float = param(1.0, "differential privacy: L2 norm each site clips its update to",
                           min=1e-6, max=1e6)
    secure_aggregation: bool = param(False, "SecAgg+ (Flower): sites send masked updates, the "
                                     "server learns only their sample-weighted mean")
    secagg_max_weight: int = param(10000, "secure aggregation: the most samples a site may have "
                                   "(updates are weighted by samples / this; a site with more "
                                   "is refused)", min=1, max=10 ** 9)
    secagg_clip: float = param(1.0, "secure aggregation: each entry of a weighted update is "
                               "clipped to +- this before quantisation to 2**22 levels",
                               min=1e-3, max=1e3)
    secagg_threshold: float = param(0.67, "secure aggregation: share of the sites whose key "
                                    "shares rebuild a dropped site's masks", min=0.01, max=1.0)


@dataclass
class OmniConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    compress: CompressConfig = field(default_factory=CompressConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    federate: FederateConfig = field(default_factory=FederateConfig)
