"""``omni-ros compress``: a smaller, faster checkpoint from a trained one.

1. Calibration: ``compress.calibration_episodes`` sim episodes (seeds from
   ``compress.calibration_seed``, apart from the training and evaluation seeds) are fed through
   the live pipeline's input windows: the inputs each encoder sees in service, and the router's
   gates whenever every modality is fresh.
2. Branch pruning (:mod:`..core.model.prune`): the modalities named, or every one whose mean
   gate is below ``compress.min_gate`` and whose absence changes at most ``compress.max_change``
   of any fused decision on those fusions (:func:`..core.model.prune.branch_effects`), are
   dropped; the rest of the model is exactly as it was. Automatic pruning never drops a
   modality whose outputs bypass the router (the camera's objects, thermal's temperatures).
3. Channel pruning (``compress.prune_channels``): the camera path's weakest channels go
   (:func:`..core.model.prune.prune_channels`) and the narrowed path is distilled from the
   unpruned one (:mod:`.distill`) on the camera frames of ``compress.distill_episodes`` sim
   episodes - no labels needed.
4. ONNX (``compress.onnx``): every sensor encoder and the camera's object head exported, run
   by ONNX Runtime; ``compress.int8``: quantized to int8 with ONNX Runtime's static quantizer
   (QDQ, weights per channel, activations calibrated on step 1's inputs), except the parts in
   ``compress.int8_exclude``.

The output is an ordinary checkpoint (config with its ``compress`` section, weights of what
stays in torch, the ONNX graphs) that perception and ``omni-ros eval`` load by name.
"""

from __future__ import annotations

import copy
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ..core.errors import InputError
from ..core.model.checkpoint import load_checkpoint, resolve, save_checkpoint
from ..core.model.model_config import CompressConfig
from ..core.model.modalities import REGISTRY
from ..core.model.prune import branch_effects, mean_gates, prune_branches, prune_channels
from ..core.model.runtime import export_onnx, parts_of
from ..core.perception.pipeline import Perception
from . import distill

SAMPLES_PER_MODALITY = 64
FRAME_STRIDE = 2  # distillation: every 2nd camera frame (neighbours at 30 Hz are near copies)
FUSE_EVERY_NS = 33_000_000


def calibrate(model, episodes: int, seed: int, frame_episodes: int = 0
              ) -> tuple[dict[str, list[dict]], torch.Tensor, list[dict]]:
    """{modality: preprocessed encoder inputs (batch 1)} and the latents (N, M, D) of the N
    fusion ticks with every modality fresh, from ``episodes`` sim episodes through the live
    windows; and the camera window's outputs (color, depth) of every ``FRAME_STRIDE``-th frame
    of the first ``frame_episodes`` episodes (the distillation data of channel pruning)."""
    from omni_ros_sim.config import SimConfig

    from ..dataset.generate import episode_items

    pipe = Perception(model)
    inputs: dict[str, list[dict]] = {n: [] for n in model.names}
    frames: list[dict] = []
    latents, last_fuse, seen = [], -FUSE_EVERY_NS, 0
    for ep in range(max(episodes, frame_episodes)):
        pipe.reset()
        gen = episode_items(seed + ep, SimConfig())
        camera = pipe.windows.get("camera")
        for key, stamp, payload in gen:
            try:
                if ep >= episodes:  # frames only: the camera window, nothing encoded
                    name = "camera" if pipe.owner.get(key) == "camera" and \
                        camera.push(key, stamp, payload) else None
                else:
                    name = pipe.push(key, stamp, payload)
            except InputError:
                continue
            if name is None:
                continue
            if name == "camera" and ep < frame_episodes:
                seen += 1
                if seen % FRAME_STRIDE == 0:
                    frames.append({k: np.array(v) for k, v in camera.read().items()
                                   if k in ("color", "depth")})
            if ep >= episodes:
                continue
            inputs[name].append(REGISTRY[name].preprocess(pipe.encoded[name],
                                                         getattr(model.cfg, name)))
            if stamp - last_fuse >= FUSE_EVERY_NS and all(pipe.fresh(stamp)):
                latents.append(torch.cat([pipe.cache[n].latent for n in model.names]))
                last_fuse = stamp
        gen.close()
    # an even spread over every episode, at most SAMPLES_PER_MODALITY each
    picked = {n: [xs[i] for i in np.linspace(0, len(xs) - 1, min(len(xs), SAMPLES_PER_MODALITY),
                                                dtype=int)] for n, xs in inputs.items() if xs}
    return (picked, torch.stack(latents) if latents else
            torch.zeros(0, len(model.names), model.cfg.latent_dim), frames)


def auto_prune(names: list[str], gates: dict[str, float], effects: dict[str, dict],
               ccfg: CompressConfig, log=print) -> list[str]:
    """The modalities router-driven pruning drops: mean gate (``gates``, every modality present)
    below ``ccfg.min_gate`` and, by ``effects`` (:func:`..core.model.prune.branch_effects`),
    at most ``ccfg.max_change`` of any fused decision changes without them; never one whose
    outputs bypass the router (the camera's objects, a modality that annotates them)."""
    bypass = {"camera"} | {n for n in names if REGISTRY[n].annotate is not None}
    drop = []
    for n in names:
        if n in bypass or n not in gates or gates[n] >= ccfg.min_gate:
            continue
        if effects[n]["max"] <= ccfg.max_change:
            drop.append(n)
            continue
        worst = max((k for k in effects[n] if k != "max"), key=effects[n].get)
        log(f"kept {n}: mean gate {gates[n]:.3f} < {ccfg.min_gate:g}, but without it "
            f"{effects[n]['max']:.1%} of the {worst.replace('_', ' ')} decisions change "
            f"(more than {ccfg.max_change:.1%})")
    return drop


def _outputs(module, example) -> list[str]:
    with torch.no_grad():
        return sorted(module(example))


def export_parts(model, samples: dict[str, list[dict]]) -> dict[str, dict]:
    """{part: {"graph": ONNX bytes, "outputs": [...], "calibration": [feeds]}} of every sensor
    encoder and the object head (the head's calibration feeds are the camera encoder's pixels)."""
    parts = {}
    for name in model.names:
        example = samples[name][0]
        enc = model.encoders[name]
        outs = _outputs(enc, example)
        parts["encoders." + name] = {
            "graph": export_onnx(enc, example, None, outs), "outputs": outs,
            "calibration": [{k: v.numpy() for k, v in x.items()} for x in samples[name]]}
        if "object_head" in parts_of(model, name):
            with torch.no_grad():
                pixels = [enc(x)["pixels"] for x in samples[name]]
            outs = _outputs(model.object_head, pixels[0])
            parts["object_head"] = {
                "graph": export_onnx(model.object_head, pixels[0], ["pixels"], outs),
                "outputs": outs, "calibration": [{"pixels": p.numpy()} for p in pixels]}
    return parts


def quantize_int8(graph: bytes, feeds: list[dict]) -> bytes:
    """Static int8 quantization (QDQ; weights int8 per channel, activations uint8 calibrated on
    ``feeds``) of an ONNX graph, after ONNX Runtime's shape inference and pre-processing."""
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quant_pre_process, quantize_static)

    class Feeds(CalibrationDataReader):
        def __init__(self):
            self.it = iter(feeds)

        def get_next(self):
            return next(self.it, None)

    with tempfile.TemporaryDirectory() as tmp:
        src, pre, out = (Path(tmp) / n for n in ("float.onnx", "pre.onnx", "int8.onnx"))
        src.write_bytes(graph)
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(out), Feeds(), quant_format=QuantFormat.QDQ,
                        weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
                        per_channel=True)
        return out.read_bytes()


def graph_ms(graph: bytes, feeds: list[dict], rounds: int = 3) -> float:
    """Median time [ms] of one ONNX Runtime run of ``graph`` (1 thread) over ``feeds``."""
    from ..core.model.runtime import ort_module

    ort = ort_module()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    session = ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])
    for feed in feeds[:5]:
        session.run(None, feed)
    times = []
    for _ in range(rounds):
        for feed in feeds:
            t0 = time.perf_counter()
            session.run(None, feed)
            times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e3)


def compress(checkpoint: str, out: str | Path, ccfg: CompressConfig, log=print) -> dict:
    """Compress ``checkpoint`` as ``ccfg`` says into ``out``; returns what was done."""
    t0 = time.perf_counter()
    torch.set_num_threads(2)
    src = resolve(checkpoint)
    model, cfg, info = load_checkpoint(src)
    if cfg.compress.onnx or cfg.compress.prune_branches or cfg.compress.prune_channels:
        raise ValueError(f"{src} is already compressed ({cfg.compress}); start from the trained "
                         "checkpoint")
    if ccfg.prune_channels and "camera" not in model.names:
        raise ValueError(f"channel pruning narrows the camera path; {src.name} fuses {model.names}")
    samples, latents, frames = calibrate(
        model, ccfg.calibration_episodes, ccfg.calibration_seed,
        ccfg.distill_episodes if ccfg.prune_channels else 0)
    with torch.no_grad():  # the router's gates with every modality present, as fusion gives them
        gates = mean_gates(model.router(latents, torch.ones(latents.shape[:2], dtype=torch.bool))[1],
                           model.names) if len(latents) else {}
    log(f"calibration: {ccfg.calibration_episodes} sim episodes, {len(latents)} fusions with "
        f"every modality fresh; mean gates " + ", ".join(f"{n} {g:.3f}" for n, g in gates.items()))
    effects = branch_effects(model, latents) if len(latents) else {}
    drop = list(ccfg.prune_branches) or auto_prune(model.names, gates, effects, ccfg, log)
    if drop:
        model, cfg = prune_branches(model, cfg, drop)
        log(f"pruned branches: {', '.join(drop)} (kept {', '.join(model.names)})")
    distilled = {}
    if ccfg.prune_channels:
        teacher = model
        model, cfg = prune_channels(teacher, cfg, 1.0 - ccfg.prune_channels)
        log(f"pruned channels: camera U-Net {teacher.cfg.camera.channels} -> "
            f"{cfg.model.camera.channels}, object head {teacher.cfg.camera.head_width} -> "
            f"{cfg.model.camera.head_width}; distilling on {len(frames)} camera frames")
        distilled = distill.camera_path(teacher, model, frames, ccfg.distill_epochs,
                                        lr=ccfg.distill_lr, log=log)
        log(f"distilled in {distilled['seconds']:.0f} s: held-out loss "
            f"{distilled['held_out_loss_before']:.4f} -> {distilled['held_out_loss_after']:.4f}")
    cfg = copy.deepcopy(cfg)
    cfg.compress = copy.deepcopy(ccfg)
    cfg.compress.prune_branches = drop
    graphs, timings = {}, {}
    if ccfg.onnx:
        parts = export_parts(model, samples)
        for part, p in parts.items():
            graph, note = p["graph"], ""
            if ccfg.int8 and part not in ccfg.int8_exclude:
                q = quantize_int8(graph, p["calibration"])
                t_float, t_int8 = (graph_ms(g, p["calibration"]) for g in (graph, q))
                timings[part] = {"float_ms": t_float, "int8_ms": t_int8}
                note = f" (float {t_float:.3f} ms, int8 {t_int8:.3f} ms"
                if t_float >= ccfg.int8_min_speedup * t_int8:
                    graph, note = q, note + ")"
                else:
                    note += f": less than {ccfg.int8_min_speedup:g}x faster, kept float)"
            graphs[part] = {"graph": graph, "outputs": p["outputs"]}
            log(f"{part}: ONNX {'int8' if graph is not p['graph'] else 'float'}, "
                f"{len(graph) / 1024:.0f} KiB{note}")
    info = dict(info)
    int8 = [part for part, g in graphs.items() if g["graph"] is not parts[part]["graph"]] \
        if graphs else []
    info["compressed_from"] = {"checkpoint": str(src.name), "gates": gates, "pruned": drop,
                               "decisions_changed_without": effects,
                               "channels": distilled, "int8": int8, "timings_ms": timings,
                               "seconds": time.perf_counter() - t0}
    path = save_checkpoint(out if Path(out).is_absolute() or len(Path(out).parts) > 1
                           else src.parent / out, model, cfg, info, graphs)
    log(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB, from {src.stat().st_size / 1024:.0f} "
        f"KiB) in {time.perf_counter() - t0:.0f} s")
    return {"path": str(path), "pruned": drop, "gates": gates, "graphs": sorted(graphs),
            "decisions_changed_without": effects,
            "channels": distilled,
            "int8": int8, "timings_ms": timings,
            "bytes": path.stat().st_size, "source_bytes": src.stat().st_size}
