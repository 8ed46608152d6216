"""``omni-ros explain``'s figures: the router's gates and leave-one-out contributions per
modality over time with presence and events marked (``timeline.png``), and how often each
modality combination occurred (``combinations.png``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.model.explain import Trace

MARK_STYLE = {  # kind: (colour, line style, legend label); colours apart from the modalities'
    "contact": ("tab:cyan", "-", "touch began"),
    "contact_end": ("tab:cyan", ":", "touch ended"),
    "impact": ("crimson", "-.", "impact"),
    "grasp": ("tab:olive", "--", "grasp"),
    "release": ("tab:olive", ":", "release"),
    "slip": ("gold", "--", "slip"),
    "command": ("deeppink", "-", "operator command"),
    "status": ("black", "--", "task finished"),
}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_timeline(trace: Trace, path: Path, title: str = "") -> Path:
    """Gates, contributions and presence per modality over ``trace.t_s``, every mark drawn as a
    vertical line across the panels (commands and task results labelled)."""
    plt = _plt()
    names, t = trace.modalities, trace.t_s
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, axes = plt.subplots(3, 1, figsize=(12, 7.5), sharex=True, layout="constrained",
                             gridspec_kw={"height_ratios": [3, 3, 1.3]})
    for i, name in enumerate(names):
        c = colours[i % len(colours)]
        axes[0].plot(t, trace.gates[:, i], color=c, lw=1.2, label=name)
        axes[1].plot(t, trace.contributions[:, i], color=c, lw=1.2)
        # presence strip: a bar per present span
        on = trace.present[:, i]
        edges = np.flatnonzero(np.diff(np.r_[0, on.astype(int), 0]))
        spans = [(t[a], t[min(b, len(t)) - 1] - t[a]) for a, b in zip(edges[::2], edges[1::2])]
        axes[2].broken_barh(spans, (i - 0.4, 0.8), color=c)
    axes[0].set(ylabel="gate weight", ylim=(-0.02, 1.05))
    axes[1].set(ylabel="leave-one-out\ncontribution", ylim=(-0.02, max(1.05, float(
        np.nanmax(trace.contributions, initial=0)) + 0.05)))
    axes[2].set(ylabel="present", yticks=range(len(names)), yticklabels=names,
                ylim=(-0.6, len(names) - 0.4), xlabel="time [s]")
    seen = set()
    for m in trace.marks:
        colour, style, label = MARK_STYLE.get(m.kind, ("grey", "-.", m.kind))
        for ax in axes:
            ax.axvline(m.t_s, color=colour, ls=style, lw=0.9, alpha=0.7,
                       label=label if ax is axes[1] and m.kind not in seen else None)
        seen.add(m.kind)
        if m.kind in ("command", "status") and m.label:
            axes[0].text(m.t_s, 1.04, f" {m.label}", rotation=90, fontsize=7, va="top",
                         ha="right", color=colour)
    axes[0].legend(loc="upper left", fontsize=8, ncol=len(names), title="modality")
    if seen:
        axes[1].legend(loc="upper right", fontsize=7, ncol=2, title="events")
    axes[0].set_title(title or f"router gates and leave-one-out contributions: {trace.source}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_combinations(summary: dict, path: Path, top: int = 12) -> Path:
    """Horizontal bars: samples per present combination and per used combination (the most
    frequent ``top`` of each), each labelled with its share and dominant modality."""
    plt = _plt()
    tables = summary["combinations"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.45 * max(4, min(top, max(
        len(tables["present"]), len(tables["used"])))) + 1.5), layout="constrained")
    titles = {"present": "present combinations\n(fresh latent at fusion)",
              "used": f"used combinations\n(gate >= {summary['thresholds']['gate_min']})"}
    for ax, key in zip(axes, ("present", "used")):
        rows = tables[key][:top][::-1]
        y = np.arange(len(rows))
        ax.barh(y, [r["count"] for r in rows], color="tab:blue" if key == "present" else "tab:orange")
        ax.set_yticks(y, [r["combination"] for r in rows], fontsize=8)
        for k, r in enumerate(rows):
            dom = f", {r['dominant']} leads" if r["dominant"] else ""
            ax.text(r["count"], k, f" {100 * r['share']:.1f} %{dom}", va="center", fontsize=7)
        ax.set(xlabel="fused samples", title=titles[key])
        ax.set_xlim(0, max([r["count"] for r in rows] + [1]) * 1.45)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
