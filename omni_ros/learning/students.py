"""Students of a teacher checkpoint (``omni-ros distill``): a model that fuses a subset of the
teacher's modalities (a robot with fewer sensors) or narrower encoders (an edge device) learns
from the teacher's outputs on the same samples, labelled or not.

The teacher sees every sensor it fuses (no modality dropout); the student sees its own
modalities (with the usual dropout). Distillation terms (:func:`losses`), each weighted by the
``distill`` config section:

* fused: ``1 - cos`` between the student's fused latent and the teacher's (the shared space);
* latents: ``1 - cos`` per modality both fuse, where the sensor was present;
* objects (students with a camera): every per-pixel object head output
  (:func:`.distill.pixel_loss`) - the object head reads the camera alone, so a student with a
  camera can give exactly what the teacher gives;
* soft, on the rows without labels only: the state head's contact / grasp / impact
  probabilities (an impact weighted as in the label loss: they are rare) and the held-object
  head's shape distribution at the temperature, the impact material where the teacher hears
  an impact, the held width [m] and mass [kg] where the teacher holds something. These heads
  read the fused latent, so the teacher's answers draw on sensors the student lacks (the
  microphone hears impacts a wrench misses); where labels exist they are the better target.
  (Tuning scenes, seeds 7000-7019, tactile + force student, all labels: impact balanced
  accuracy 84.5 % from labels alone, 64.6 % with soft targets on every row, 83.2 % without.)

The label losses (:class:`.objectives.Objective`) apply to the labelled rows only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import distill
from .objectives import IMPACT_POS_WEIGHT


class StudentError(ValueError):
    """A student its teacher cannot teach; the message says why."""


def check_student(student_cfg, teacher_cfg, teacher_name: str) -> None:
    """Refuse a student that fuses a modality the teacher lacks or whose latent space has
    another width (the fused latents are compared directly)."""
    lacking = [m for m in student_cfg.modalities if m not in teacher_cfg.modalities]
    if lacking:
        raise StudentError(f"the teacher {teacher_name} fuses {teacher_cfg.modalities}; it cannot "
                           f"teach {lacking} (a student learns only modalities its teacher sees)")
    if student_cfg.latent_dim != teacher_cfg.latent_dim:
        raise StudentError(f"model.latent_dim {student_cfg.latent_dim} differs from the teacher's "
                           f"{teacher_cfg.latent_dim}: the student learns the teacher's latent space")


def rows(out, keep: torch.Tensor):
    """``out`` (a model output: tensors, nested dicts) restricted to the rows ``keep``."""
    if isinstance(out, dict):
        return {k: rows(v, keep) for k, v in out.items()}
    return out[keep] if isinstance(out, torch.Tensor) and out.dim() > 0 else out


def _soft_binary(s: torch.Tensor, t: torch.Tensor, temp: float,
                 pos_weight: float | None = None) -> torch.Tensor:
    w = None if pos_weight is None else torch.tensor(pos_weight)
    return temp ** 2 * F.binary_cross_entropy_with_logits(s / temp, torch.sigmoid(t / temp),
                                                          pos_weight=w)


def _soft_classes(s: torch.Tensor, t: torch.Tensor, temp: float, w: torch.Tensor) -> torch.Tensor:
    """KL(teacher || student) of class distributions at ``temp``, rows weighted by ``w``."""
    kl = F.kl_div(torch.log_softmax(s / temp, 1), torch.log_softmax(t / temp, 1),
                  log_target=True, reduction="none").sum(1)
    return temp ** 2 * (kl * w).sum() / w.sum().clamp(min=1e-6)


def _weighted_l1(s: torch.Tensor, t: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return ((s - t).abs() * w).sum() / w.sum().clamp(min=1e-6)


def losses(student_names: list[str], s: dict, teacher_names: list[str], t: dict, cfg,
           unlabelled: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Named distillation losses of student outputs ``s`` against teacher outputs ``t`` on the
    same samples; ``cfg``: the ``distill`` config section; ``unlabelled`` (B,) bool: the rows
    without labels, the only ones the soft targets apply to (default: all)."""
    temp = cfg.temperature
    out = {"distill fused": cfg.fused_weight * (1 - (s["fused"] * t["fused"]).sum(-1)).mean()}
    lat = []
    for i, name in enumerate(student_names):
        j = teacher_names.index(name)
        seen = t["present"][:, j]
        if seen.any():
            lat.append((1 - (s["latents"][seen, i] * t["latents"][seen, j]).sum(-1)).mean())
    if lat:
        out["distill latents"] = cfg.latent_weight * torch.stack(lat).mean()
    if "objects" in s and "objects" in t:
        so, to = s["objects"], t["objects"]
        keys = [k for k in to if k in so and so[k].shape == to[k].shape]
        out["distill objects"] = cfg.object_weight * distill.pixel_loss(so, to, keys)
    if unlabelled is not None:
        if not unlabelled.any():
            return out
        s, t = rows(s, unlabelled), rows(t, unlabelled)
    hit = torch.sigmoid(t["impact_logit"])
    held = torch.sigmoid(t["contact_logits"][:, 1])
    soft = _soft_binary(s["contact_logits"], t["contact_logits"], temp) \
        + _soft_binary(s["impact_logit"], t["impact_logit"], temp, IMPACT_POS_WEIGHT) \
        + 0.5 * _soft_classes(s["impact_material_logits"], t["impact_material_logits"], temp, hit) \
        + _soft_classes(s["held_shape_logits"], t["held_shape_logits"], temp, held) \
        + 50 * _weighted_l1(s["held_width"], t["held_width"], held) \
        + 10 * _weighted_l1(s["held_mass"], t["held_mass"], held)
    if "held_temperature_logits" in s and "held_temperature_logits" in t:
        soft = soft + _soft_classes(s["held_temperature_logits"], t["held_temperature_logits"],
                                    temp, held)
    out["distill soft"] = cfg.soft_weight * soft
    return out
