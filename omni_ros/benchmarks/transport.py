"""Conversion and DDS transport cost of large sensor messages (1 MB image, 100k-point cloud).

Conversion: encode/decode time vs a plain copy of the same bytes (the floor any conversion pays).
Transport: stamp -> receive latency between two processes per topic, vs the small WrenchStamped
in the same run, with Fast DDS's default transports and with ``LARGE_DATA``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np

from ..nodes.topics import SENSOR_BY_KEY

BIG = {"sizes.image_width": 640, "sizes.image_height": 546, "sizes.cloud_points": 100_000}
# Each worker gets one explicitly (the bench runs isolated, whose own transport is LARGE_DATA).
TRANSPORTS = {"default": {"FASTDDS_BUILTIN_TRANSPORTS": "DEFAULT"},
              "LARGE_DATA": {"FASTDDS_BUILTIN_TRANSPORTS": "LARGE_DATA"}}


def _median_s(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def conversion_costs(repeat: int = 30) -> list[dict]:
    from .. import conversions as cv

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (546, 640, 3), dtype=np.uint8)
    cloud = rng.standard_normal((100_000, 4)).astype(np.float32)
    image_msg = cv.numpy_to_image(image, "rgb8")
    cloud_msg = cv.array_to_pointcloud2(cloud)
    rows = []
    for name, arr, encode, decode in [
        ("image 1 MB rgb8", image, lambda: cv.numpy_to_image(image, "rgb8"),
         lambda: cv.image_to_numpy(image_msg).copy()),
        ("cloud 100k xyz+i", cloud, lambda: cv.array_to_pointcloud2(cloud),
         lambda: cv.pointcloud2_to_array(cloud_msg, cv.pointcloud.XYZI)),
    ]:
        copy_s = _median_s(lambda: arr.copy(), repeat)
        enc_s, dec_s = _median_s(encode, repeat), _median_s(decode, repeat)
        rows.append({"what": name, "bytes": int(arr.nbytes), "copy_ms": copy_s * 1e3,
                     "encode_ms": enc_s * 1e3, "decode_ms": dec_s * 1e3,
                     "encode_vs_copy": enc_s / copy_s, "decode_vs_copy": dec_s / copy_s})
    return rows


def _worker(duration_s: float) -> None:
    """Run in a subprocess (so the DDS env var applies): watch a talker, print stats as JSON."""
    from ..nodes.sensor_monitor import watch_talker

    monitor, code = watch_talker({"duration_s": duration_s, **BIG})
    out = {"talker_exit": code, "topics": {}}
    for key, s in monitor.guard.health.inputs.items():
        out["topics"][key] = {"received": s.received, "rate_hz": s.rate_hz(),
                              "p50_ms": s.latency_ms(50), "p99_ms": s.latency_ms(99)}
    print("RESULT " + json.dumps(out))


def transport_costs(duration_s: float = 4.0) -> dict:
    results = {}
    for name, env in TRANSPORTS.items():
        proc = subprocess.run([sys.executable, "-m", "omni_ros.benchmarks.transport", "--worker", str(duration_s)],
                              env=dict(os.environ, **env), capture_output=True, text=True,
                              timeout=300)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if proc.returncode != 0 or line is None:
            raise RuntimeError(f"transport worker ({name}) failed:\n{proc.stdout}\n{proc.stderr}")
        results[name] = json.loads(line[len("RESULT "):])
    return results


def run(duration_s: float = 4.0) -> dict:
    conv = conversion_costs()
    trans = transport_costs(duration_s)
    summary = {}
    for name, r in trans.items():
        t = r["topics"]
        base = t["wrench"]["p50_ms"]
        summary[name] = {key: {"p50_ms": t[key]["p50_ms"], "p99_ms": t[key]["p99_ms"],
                               "p50_vs_wrench": t[key]["p50_ms"] / base,
                               "rate_hz": t[key]["rate_hz"],
                               "delivered": t[key]["rate_hz"] / SENSOR_BY_KEY[key].rate_hz}
                         for key in ("color", "depth", "lidar", "wrench")}
    for key in ("color", "depth", "lidar"):
        summary.setdefault("large_data_vs_default", {})[key] = (
            summary["LARGE_DATA"][key]["p50_ms"] / summary["default"][key]["p50_ms"])
    return {"conversion": conv, "transport": summary}


def markdown(result: dict) -> str:
    lines = ["## Conversion (median of 30; ratio to a plain copy of the same bytes)", "",
             "| data | bytes | copy ms | encode ms | decode ms | encode / copy | decode / copy |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in result["conversion"]:
        lines.append(f"| {r['what']} | {r['bytes']:,} | {r['copy_ms']:.3f} | {r['encode_ms']:.3f} "
                     f"| {r['decode_ms']:.3f} | {r['encode_vs_copy']:.1f} | {r['decode_vs_copy']:.1f} |")
    lines += ["", "## Transport between two processes (stamp -> decoded in the receiver)", "",
              "| Fast DDS transports | topic | rate Hz | rate / nominal | p50 ms | p99 ms "
              "| p50 / wrench p50 |", "|---|---|---:|---:|---:|---:|---:|"]
    for transport in TRANSPORTS:
        for key, r in result["transport"][transport].items():
            lines.append(f"| {transport} | {key} | {r['rate_hz']:.1f} | {r['delivered']:.0%} | "
                         f"{r['p50_ms']:.2f} | "
                         f"{r['p99_ms']:.2f} | {r['p50_vs_wrench']:.2f} |")
    ratios = result["transport"]["large_data_vs_default"]
    lines += ["", "LARGE_DATA p50 / default p50: "
              + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        _worker(float(sys.argv[2]))
    else:
        print(markdown(run()))
