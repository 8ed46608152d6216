"""Per-modality placement on a CUDA GPU, checked and timed (issue 16 item 2), for machines that
have one: ``python -m omni_ros.benchmarks.cuda --markdown bench/cuda.md --json bench/cuda.json``.

1. The real placement code (:func:`omni_ros.core.model.runtime.place` via ``load_checkpoint``)
   puts the camera encoder + object head, then every encoder, on ``cuda:0``; the fused latent
   must equal the CPU model's to 1e-4 (the assertion of tests/test_compress.py's CUDA test), and a
   device index the machine lacks is refused with its reason.
2. Milliseconds per call (p50/p99 of 300 after 20 warm-ups, batch 1 as the live pipeline runs
   it; CUDA timings synchronise): the camera encoder and the whole fused step on the CPU with 1,
   2 and all threads vs on the GPU.
3. One training step (forward + backward + AdamW, batch 64, the model's shape) on all CPU
   threads vs the GPU: what moving ``omni-ros train`` to a GPU would buy.

The inputs are one preprocessed sample of every modality (the live windows' ``preprocess`` of a
random raw example, as :mod:`.model` makes it); ``--inputs FILE`` reads them from a file saved by
``--save-inputs FILE`` on another machine (a GPU host without open3d / PyBullet: then open3d is
stood in by an empty module for import only - nothing here calls it - and the run says so).
Without a CUDA device it exits 2 with that reason.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import types
from pathlib import Path

CHECKPOINT = "omni_small.pt"
MODALITIES = ("camera", "lidar", "audio", "tactile", "force")


def inputs(checkpoint: str = CHECKPOINT) -> dict:
    from ..core.model.checkpoint import load_checkpoint
    from ..core.model.modalities import REGISTRY
    from .model import _raw_example

    model, _, _ = load_checkpoint(checkpoint)
    raw = _raw_example(model.cfg)
    return {n: REGISTRY[n].preprocess(raw, getattr(model.cfg, n)) for n in model.names}


def _ms(fn, n: int, sync: bool) -> dict:
    import torch

    for _ in range(20):
        fn()
    if sync:
        torch.cuda.synchronize()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        if sync:
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return {"p50": times[n // 2], "p99": times[int(n * 0.99)]}


def run(x: dict, checkpoint: str = CHECKPOINT) -> dict:
    import torch

    from ..core.model.checkpoint import load_checkpoint
    from ..core.model.runtime import PlacementConfig, PlacementError

    def placement(**devices) -> PlacementConfig:
        p = PlacementConfig()
        for k, v in devices.items():
            setattr(p.device, k, v)
        return p

    out = {"torch": torch.__version__, "gpu": torch.cuda.get_device_name(0),
           "open3d_stood_in": isinstance(sys.modules.get("open3d"), types.ModuleType)
           and not hasattr(sys.modules["open3d"], "geometry")}
    cpu, _, _ = load_checkpoint(checkpoint)
    cam, _, _ = load_checkpoint(checkpoint, placement(camera="cuda:0"))
    every, _, _ = load_checkpoint(checkpoint, placement(**{n: "cuda:0" for n in MODALITIES}))
    out["notes"] = {"camera": cam.placement_notes, "every": every.placement_notes}
    with torch.no_grad():
        ref = cpu(x)["fused"]
        for name, model in (("camera", cam), ("every", every)):
            fused = model(x)["fused"]
            torch.testing.assert_close(fused, ref, atol=1e-4, rtol=1e-4)
            out[f"max_abs_diff_{name}"] = float((fused - ref).abs().max())
    try:
        load_checkpoint(checkpoint, placement(camera=f"cuda:{torch.cuda.device_count()}"))
        out["missing_index"] = "NOT REFUSED"
    except PlacementError as err:
        out["missing_index"] = str(err)

    def encode(model):
        return lambda: model.encoders["camera"](x["camera"])

    ms = {}
    with torch.no_grad():
        for threads in sorted({1, 2, torch.get_num_threads()}):
            torch.set_num_threads(threads)
            ms[f"camera encoder, CPU {threads} thread(s)"] = _ms(encode(cpu), 300, False)
            ms[f"fused step, CPU {threads} thread(s)"] = _ms(lambda: cpu(x), 300, False)
        ms["camera encoder, cuda:0"] = _ms(encode(cam), 300, True)
        ms["fused step, camera on cuda:0"] = _ms(lambda: cam(x), 300, True)
        ms["fused step, every encoder on cuda:0"] = _ms(lambda: every(x), 300, True)
    out["ms"] = ms
    out["train_step_b64_ms"] = {"cpu": _train_ms(x, checkpoint, "cpu"),
                                "cuda": _train_ms(x, checkpoint, "cuda")}
    out["cpu_threads"] = max(1, torch.get_num_threads())
    return out


def _train_ms(x: dict, checkpoint: str, device: str, batch: int = 64) -> dict:
    import torch

    from ..core.model.checkpoint import load_checkpoint

    model, _, _ = load_checkpoint(checkpoint)
    model = model.to(device).train()
    xb = {n: {k: v.repeat(batch, *[1] * (v.dim() - 1)).to(device) for k, v in d.items()}
          for n, d in x.items()}
    opt = torch.optim.AdamW(model.parameters(), 1e-4)

    def step():
        o = model(xb)
        loss = o["fused"].pow(2).mean() + o["contact_logits"].pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    return _ms(step, 20, device != "cpu")


def markdown(r: dict) -> str:
    lines = ["# Placement on a CUDA GPU (`python -m omni_ros.benchmarks.cuda`)", "",
             f"{r['gpu']}, torch {r['torch']}, checkpoint `{CHECKPOINT}`, batch 1 (as live); "
             "p50 / p99 of 300 calls after 20 warm-ups; CUDA timings synchronise.", "",
             "| placement | fused latent vs CPU (max abs) | notes |", "|---|---:|---|"]
    for name in ("camera", "every"):
        lines.append(f"| {name} on cuda:0 | {r[f'max_abs_diff_{name}']:.1e} | "
                     f"{'; '.join(r['notes'][name])} |")
    lines += ["", f"A device index the machine lacks: `{r['missing_index']}`", "",
              "| ms per call | p50 | p99 |", "|---|---:|---:|"]
    lines += [f"| {k} | {v['p50']:.2f} | {v['p99']:.2f} |" for k, v in r["ms"].items()]
    t = r["train_step_b64_ms"]
    lines += ["", f"Training step (forward + backward + AdamW, batch 64): CPU ({r['cpu_threads']} "
              f"threads) {t['cpu']['p50']:.1f} ms, GPU {t['cuda']['p50']:.1f} ms "
              f"({t['cpu']['p50'] / t['cuda']['p50']:.1f}x)."]
    if r.get("measured"):
        lines += ["", f"Measured {r['measured']}."]
    if r.get("open3d_stood_in"):
        lines += ["", "open3d was not installed on the GPU host: an empty module stood in for "
                  "import only (nothing measured calls it); inputs were preprocessed on a CPU "
                  "machine with the real windows (`--save-inputs` / `--inputs`)."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inputs", type=Path, help="read the preprocessed sample from this file")
    ap.add_argument("--save-inputs", type=Path, help="write the preprocessed sample and exit")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--markdown", type=Path)
    ap.add_argument("--from-json", type=Path, help="only write --markdown from this result")
    a = ap.parse_args(argv)
    if a.from_json:
        r = json.loads(a.from_json.read_text())
    else:
        import torch

        if a.save_inputs:
            torch.save(inputs(), a.save_inputs)
            return 0
        if not torch.cuda.is_available():
            print("no CUDA device on this machine (torch.cuda.is_available() is False)",
                  file=sys.stderr)
            return 2
        if a.inputs:
            try:
                import open3d  # noqa: F401
            except ImportError:
                sys.modules["open3d"] = types.ModuleType("open3d")
            x = torch.load(a.inputs)
        else:
            x = inputs()
        r = run(x)
    if a.json:
        a.json.write_text(json.dumps(r, indent=1))
    text = markdown(r)
    if a.markdown:
        a.markdown.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
