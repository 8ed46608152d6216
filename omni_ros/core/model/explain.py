"""Why the router fused what it fused: statistics over a trace of its decisions (``omni-ros
explain``). No ROS: a :class:`Trace` is built from a session recording (the published
``/omni/scene`` messages, :mod:`omni_ros.dataset.session`) or from a checkpoint run over dataset
shards (:mod:`omni_ros.learning.explain`).

Two kinds of *combination* are counted, one per fused sample (scene):

* the **present combination**: the set of modalities that had a fresh latent at fusion time
  (``present``). This is what the router's rule table keys on (``model.router.rules``: a rule
  replaces the learned gates when exactly that set is present), so rules are proposed for it.
* the **used combination**: the set of modalities whose gate is at least ``gate_min``
  (default 0.1) - the modalities the fused latent actually leans on.

An absent modality has gate 0 and is in neither. The *dominant* modality of a sample is the one
with the largest gate.

Per modality (branch): the share of samples it was present, its mean gate over all samples
(absent = 0), over the samples where it was present, and over those with every modality present
(the statistic ``omni-ros compress --prune-branches auto`` uses,
:func:`omni_ros.core.model.prune.mean_gates`), its mean leave-one-out contribution when present,
and how often it was in the used combination and dominant. A branch is flagged **rarely used**
when it was never present or its mean gate when present is below ``min_gate`` (default 0.1,
compress's default): a prune candidate. A rarely used branch may still decide the rare moments
it is weighed at (the microphone at impacts), so ``compress --prune-branches auto`` keeps the
candidates whose absence changes the fused decisions (:func:`omni_ros.core.model.prune.branch_effects`).

Rules are proposed for the present combinations of two or more modalities that cover at least
``rule_share`` of the samples, in the router's rule syntax with the combination's mean gates
(``"camera+force: camera=0.40 force=0.60"``); each carries its *spread* - the mean total-variation
distance between the samples' gates and the rule's (0: the router always routed that
combination the same way, so a fixed rule would change nothing; a rule is marked ``stable`` when
the spread is below ``STABLE_SPREAD``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .prune import mean_gates
from .router import RuleTable, parse_rules

GATE_MIN = 0.1       # a modality is "used" in a sample when its gate is at least this
MIN_GATE = 0.1       # a branch is "rarely used" when its mean gate when present is below this
RULE_SHARE = 0.1     # propose a rule for present combinations covering at least this share
STABLE_SPREAD = 0.1  # a proposed rule is "stable" when the samples' gates differ by less (TV)
NONE = "(none)"      # the combination of a sample with no modality


@dataclass
class Mark:
    """Something that happened at ``t_s`` [s on the trace's time axis]: ``kind`` is one of
    contact / contact_end (touch began / ended), impact, grasp, release, slip (perceived events,
    ``label`` the object), command (an operator command, ``label`` its words), status (a task
    finished, ``label`` says how); ``episode``: the dataset episode (None in a session)."""

    t_s: float
    kind: str
    label: str = ""
    episode: int | None = None


@dataclass
class Trace:
    """The router's decisions, one row per fused sample, in time order. ``t_s``: seconds from
    the first row (per episode for datasets: ``episode`` says which); ``present``, ``gates``,
    ``contributions``: (N, M), parallel to ``modalities``; ``in_contact``: (N,) the perceived
    (session) or true (dataset) contact state."""

    modalities: list[str]
    t_s: np.ndarray
    present: np.ndarray
    gates: np.ndarray
    contributions: np.ndarray
    in_contact: np.ndarray
    marks: list[Mark] = field(default_factory=list)
    episode: np.ndarray | None = None
    source: str = ""

    def __post_init__(self):
        n, m = len(self.t_s), len(self.modalities)
        for name in ("present", "gates", "contributions"):
            shape = np.shape(getattr(self, name))
            if shape != (n, m):
                raise ValueError(f"trace {name} has shape {shape}, expected ({n}, {m})")
        self.present = np.asarray(self.present, bool)
        self.gates = np.asarray(self.gates, np.float64)
        self.contributions = np.asarray(self.contributions, np.float64)
        self.in_contact = np.asarray(self.in_contact, bool)

    @property
    def n(self) -> int:
        return len(self.t_s)

    def episode_trace(self, episode: int) -> "Trace":
        """The rows and marks of one dataset episode."""
        rows = self.episode == episode
        return Trace(self.modalities, self.t_s[rows], self.present[rows], self.gates[rows],
                     self.contributions[rows], self.in_contact[rows],
                     [m for m in self.marks if m.episode == episode], self.episode[rows],
                     f"{self.source}, episode {episode}")


def combo_name(names: list[str], mask) -> str:
    """``camera+lidar`` for a mask over ``names`` (in their order); NONE when empty."""
    return "+".join(n for n, on in zip(names, mask) if on) or NONE


def used_mask(trace: Trace, gate_min: float = GATE_MIN) -> np.ndarray:
    """(N, M): modality present with gate >= ``gate_min``."""
    return trace.present & (trace.gates >= gate_min)


def row_combinations(trace: Trace, gate_min: float = GATE_MIN) -> tuple[list[str], list[str]]:
    """(present combination, used combination) of every row."""
    names = trace.modalities
    return ([combo_name(names, r) for r in trace.present],
            [combo_name(names, r) for r in used_mask(trace, gate_min)])


def _combo_table(trace: Trace, labels: list[str]) -> list[dict]:
    """Per distinct label: count, share, mean gates over its rows, dominant modality."""
    names, n = trace.modalities, max(trace.n, 1)
    labels_arr = np.asarray(labels, dtype=object)
    rows = []
    for combo in dict.fromkeys(labels):
        sel = labels_arr == combo
        g = trace.gates[sel]
        top = np.where(trace.present[sel].any(1), g.argmax(1), -1)
        counts = np.bincount(top[top >= 0], minlength=len(names))
        dom = int(counts.argmax()) if counts.sum() else -1
        rows.append({
            "combination": combo, "count": int(sel.sum()), "share": float(sel.sum() / n),
            "mean_gates": {nm: round(float(v), 4) for nm, v in zip(names, g.mean(0))},
            "dominant": names[dom] if dom >= 0 else "",
            "dominant_share": float(counts[dom] / sel.sum()) if dom >= 0 else 0.0,
        })
    return sorted(rows, key=lambda r: (-r["count"], r["combination"]))


def branch_use(trace: Trace, gate_min: float = GATE_MIN, min_gate: float = MIN_GATE) -> dict:
    """Per modality: present_share, mean_gate (absent = 0), mean_gate_present,
    mean_gate_all_present (None without such rows), mean_contribution_present, used_share,
    dominant_share, rarely_used, never_used."""
    names, p, g = trace.modalities, trace.present, trace.gates
    n = max(trace.n, 1)
    full = p.all(1)
    all_present = mean_gates(torch.as_tensor(g[full]), names) if full.any() else {}
    used = used_mask(trace, gate_min)
    top = np.where(p.any(1), g.argmax(1), -1)
    out = {}
    for i, name in enumerate(names):
        here = p[:, i]
        gp = float(g[here, i].mean()) if here.any() else 0.0
        out[name] = {
            "present_share": float(here.sum() / n),
            "mean_gate": float(g[:, i].mean()) if trace.n else 0.0,
            "mean_gate_present": gp,
            "mean_gate_all_present": all_present.get(name),
            "mean_contribution_present": float(trace.contributions[here, i].mean()) if here.any() else 0.0,
            "used_share": float(used[:, i].sum() / n),
            "dominant_share": float((top == i).sum() / n),
            "never_used": bool(not used[:, i].any()),
            "rarely_used": bool(not here.any() or gp < min_gate),
        }
    return out


def propose_rules(trace: Trace, present_table: list[dict], rule_share: float = RULE_SHARE) -> list[dict]:
    """Rules (router syntax) for the frequent present combinations of >= 2 modalities; each
    checked by the router's own parser (:func:`parse_rules`, :class:`RuleTable`)."""
    names = trace.modalities
    labels = np.asarray(row_combinations(trace)[0], dtype=object)
    out = []
    for row in present_table:
        combo = row["combination"]
        members = [] if combo == NONE else combo.split("+")
        if row["share"] < rule_share or len(members) < 2:
            continue
        w = np.array([row["mean_gates"][m] for m in members])
        w = w / w.sum() if w.sum() > 0 else np.full(len(members), 1 / len(members))
        rule = f"{combo}: " + " ".join(f"{m}={v:.2f}" for m, v in zip(members, w))
        table = RuleTable(names, parse_rules([rule]))          # raises if it is not a valid rule
        fixed = table.rules[frozenset(members)].numpy()
        g = trace.gates[labels == combo]
        spread = float(0.5 * np.abs(g - fixed[None, :]).sum(1).mean())
        out.append({"combination": combo, "rule": rule, "share": row["share"], "count": row["count"],
                    "dominant": row["dominant"], "dominant_share": row["dominant_share"],
                    "spread": spread, "stable": spread < STABLE_SPREAD})
    return out


def absences(trace: Trace) -> dict[str, dict]:
    """Per modality absent at some point: its absent spans [(t0, t1) s] (consecutive absent rows
    of one episode), the rows, and the largest gate it had while absent (0 by construction)."""
    out = {}
    ep = trace.episode if trace.episode is not None else np.zeros(trace.n, int)
    for i, name in enumerate(trace.modalities):
        off = ~trace.present[:, i]
        if not off.any():
            continue
        spans, start = [], None
        for k in range(trace.n):
            if off[k] and start is None:
                start = k
            end_here = start is not None and (k + 1 == trace.n or not off[k + 1] or ep[k + 1] != ep[k])
            if end_here:
                spans.append((float(trace.t_s[start]), float(trace.t_s[k])))
                start = None
        out[name] = {"rows": int(off.sum()), "spans_s": spans,
                     "max_gate_while_absent": float(trace.gates[off, i].max())}
    return out


def by_contact(trace: Trace) -> dict:
    """Mean gate and contribution per modality with and without contact (the sim's router hands
    the fusion to touch and force while something is held), and the samples of each."""
    out = {}
    for label, rows in (("no contact", ~trace.in_contact), ("in contact", trace.in_contact)):
        if rows.any():
            names = trace.modalities
            out[label] = {"count": int(rows.sum()),
                          "mean_gates": dict(zip(names, trace.gates[rows].mean(0).tolist())),
                          "mean_contributions": dict(zip(names, trace.contributions[rows].mean(0).tolist()))}
    return out


def summarise(trace: Trace, gate_min: float = GATE_MIN, min_gate: float = MIN_GATE,
              rule_share: float = RULE_SHARE) -> dict:
    """Everything ``omni-ros explain`` reports (JSON-able): the combinations (present and used)
    with counts, the branches' use and the rarely used ones, the proposed rules, absences and
    the marks (events)."""
    present_labels, used_labels = row_combinations(trace, gate_min)
    present_table = _combo_table(trace, present_labels)
    use = branch_use(trace, gate_min, min_gate)
    kinds: dict[str, int] = {}
    for m in trace.marks:
        kinds[m.kind] = kinds.get(m.kind, 0) + 1
    return {
        "source": trace.source,
        "samples": trace.n,
        "duration_s": float(np.ptp(trace.t_s)) if trace.n and trace.episode is None else None,
        "episodes": int(len(np.unique(trace.episode))) if trace.episode is not None else None,
        "modalities": list(trace.modalities),
        "definitions": {
            "present_combination": "the set of modalities with a fresh latent at fusion time "
                                   "(what the router's rule table keys on)",
            "used_combination": f"the set of present modalities with gate >= {gate_min}",
            "dominant": "the modality with the largest gate",
            "rarely_used": f"never present, or mean gate when present < {min_gate}",
        },
        "thresholds": {"gate_min": gate_min, "min_gate": min_gate, "rule_share": rule_share,
                       "stable_spread": STABLE_SPREAD},
        "combinations": {"present": present_table,
                         "used": _combo_table(trace, used_labels)},
        "branches": use,
        "rarely_used": [n for n, u in use.items() if u["rarely_used"]],
        "never_used": [n for n, u in use.items() if u["never_used"]],
        "proposed_rules": propose_rules(trace, present_table, rule_share),
        "by_contact": by_contact(trace),
        "absences": absences(trace),
        "events": kinds,
        "marks": [{"t_s": m.t_s, "kind": m.kind, "label": m.label}
                  | ({"episode": m.episode} if m.episode is not None else {}) for m in trace.marks],
    }


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def markdown(summary: dict, figures: dict[str, str] | None = None, prune_hint: str = "") -> str:
    """A short report of :func:`summarise`'s output; ``figures``: {caption: relative path};
    ``prune_hint``: the command that would prune the rarely used branches (if any)."""
    s, th = summary, summary["thresholds"]
    span = (f" over {s['duration_s']:.1f} s" if s.get("duration_s") is not None
            else f" from {s['episodes']} episode(s)" if s.get("episodes") else "")
    lines = [f"# Router explanation: {s['source']}", "",
             f"{s['samples']} fused samples{span}; modalities: {', '.join(s['modalities'])}.",
             ""]
    if s["events"]:
        lines += ["Events: " + ", ".join(f"{k} {v}" for k, v in sorted(s["events"].items())) + ".", ""]
    for caption, path in (figures or {}).items():
        lines += [f"![{caption}]({path})", ""]
    lines += ["## Branches", "",
              "| modality | present | mean gate | mean gate when present | contribution when present "
              f"| used (gate >= {th['gate_min']}) | dominant | |",
              "|---|---:|---:|---:|---:|---:|---:|---|"]
    for name, u in s["branches"].items():
        flag = "never used" if u["never_used"] else "rarely used" if u["rarely_used"] else ""
        lines.append(f"| {name} | {_pct(u['present_share'])} | {u['mean_gate']:.3f} | "
                     f"{u['mean_gate_present']:.3f} | {u['mean_contribution_present']:.3f} | "
                     f"{_pct(u['used_share'])} | {_pct(u['dominant_share'])} | {flag} |")
    lines.append("")
    if len(s.get("by_contact", {})) > 1:
        lines += ["## With and without contact", "",
                  "| | samples | " + " | ".join(f"{n} gate / contribution" for n in s["modalities"]) + " |",
                  "|---|---:|" + "---:|" * len(s["modalities"])]
        for label, c in s["by_contact"].items():
            lines.append(f"| {label} | {c['count']} | " + " | ".join(
                f"{c['mean_gates'][n]:.2f} / {c['mean_contributions'][n]:.2f}" for n in s["modalities"]) + " |")
        lines.append("")
    for title, key in (("Present combinations (what the rule table keys on)", "present"),
                       (f"Used combinations (gate >= {th['gate_min']})", "used")):
        lines += [f"## {title}", "", "| combination | samples | share | dominant |", "|---|---:|---:|---|"]
        for r in s["combinations"][key]:
            dom = f"{r['dominant']} ({_pct(r['dominant_share'])})" if r["dominant"] else "-"
            lines.append(f"| {r['combination']} | {r['count']} | {_pct(r['share'])} | {dom} |")
        lines.append("")
    if s["absences"]:
        lines += ["## Absences", ""]
        for name, a in s["absences"].items():
            spans = ", ".join(f"{t0:.1f}-{t1:.1f} s" for t0, t1 in a["spans_s"][:6])
            more = f" (+{len(a['spans_s']) - 6} more)" if len(a["spans_s"]) > 6 else ""
            lines.append(f"- {name}: absent in {a['rows']} samples ({spans}{more}); largest gate "
                         f"while absent {a['max_gate_while_absent']:.2f}")
        lines.append("")
    lines += ["## Proposals", ""]
    if s["proposed_rules"]:
        lines.append(f"Rules for the present combinations covering >= {_pct(th['rule_share'])} of "
                     f"the samples (`model.router.rules`; stable: gates vary by < {th['stable_spread']}):")
        lines.append("")
        for r in s["proposed_rules"]:
            lines.append(f"- `{r['rule']}` - {_pct(r['share'])} of samples, dominant {r['dominant']}, "
                         f"spread {r['spread']:.3f} " + ("(stable: the router routes it the same way "
                                                         "every time)" if r["stable"] else
                                                         "(not stable: the router weighs it by "
                                                         "content; a fixed rule would change that)"))
        if not any(r["stable"] for r in s["proposed_rules"]):
            lines += ["", "None of them is stable: within each combination the router weighs the "
                          "modalities by what they sense (see the contact table), which a rule keyed "
                          "on presence cannot; the learned gates are worth keeping there."]
    else:
        lines.append(f"No present combination of two or more modalities covers >= "
                     f"{_pct(th['rule_share'])} of the samples: no rule proposed.")
    lines.append("")
    if s["rarely_used"]:
        never = set(s["never_used"])
        why = {n: "never used" if n in never else
               f"mean gate when present {s['branches'][n]['mean_gate_present']:.3f}" for n in s["rarely_used"]}
        lines.append("Rarely used branches (prune candidates): " + ", ".join(
            f"{n} ({w})" for n, w in why.items()) + (f": `{prune_hint}`" if prune_hint else "") + "."
            + (" (`auto` keeps a candidate whose absence changes the fused decisions.)"
               if "auto" in prune_hint else ""))
    else:
        lines.append(f"No rarely used branch (every mean gate when present >= {th['min_gate']}).")
    lines.append("")
    return "\n".join(lines)
