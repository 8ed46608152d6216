"""Run benchmarks. Every figure is reported next to a baseline measured in the same run (a ratio),
since absolute times depend on the machine and its load.

Suites: pipeline (the default: the perception node, async vs the ApproximateTime sync baseline,
on a replayed sim stream; writes bench/RESULTS.md-style tables and a latency plot), live
(voice + point pick-and-place episodes with the whole graph, all sensors and each of camera and
lidar killed), speech (recogniser accuracy per voice and noise level, false accepts), transport
(message conversion and DDS), sim (expert, RTF, sensors, dataset), model (encoder and fused-step
latency), thermal (finding the hot object: camera + thermal vs each alone), reliability (a soak
of the whole graph: memory slope, scene rate, absent-with-fresh-data; kill -9 and respawn
recovery times), cells (object perception with cameras mounted and built differently from the
training one: geometry as input vs the baked-in view), voices (speech recognisers and detectors
on held-out voices, noises and sentences, thresholds chosen on a tuning half), replies (spoken
yes / no / stop while the robot asks "did you mean ...?", on the same halves), echo (stops and
commands said over the robot's own voice, with and without echo cancelling), realtime (the
real-time levers side by side: encoders in the callbacks vs on worker threads, cold vs warm
first command), roi (what the camera window reads of a frame, whole frame vs the workspace
crop, at 96 x 96, 320 x 240 and 640 x 480), distill (students with fewer sensors or narrower
encoders, from labels alone vs from the all-sensor teacher, at 100 / 10 / 2 % labels, and a
camera student adapted to cells it has no labels for from unlabelled recordings of them; trains
~40 students, hours on 2 cores),
tiers (the tiered graph, edge encoders -> region fusion, against the one-host perception node:
traffic, scene equality, latency and CPU).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from . import checkpoint_arg

HELP = ("run benchmarks (pipeline: perception async vs sync latency; live: voice pick-and-place "
        "episodes; speech; transport; sim; model; cells; language: commands in words outside "
        "the vocabulary; voices: recognisers on held-out voices and rooms; replies: yes / no / "
        "stop to the robot's questions; echo: talking over the robot; realtime: parallel encoders "
        "and warm caches side by side; roi: whole frame vs the workspace crop; distill: "
        "students of the all-sensor teacher; tiers: "
        "edge encoders -> region fusion vs one host; federated: Flower across three unlike "
        "sites vs each site alone and centralised)")
SUITES = ("pipeline", "live", "speech", "transport", "sim", "model", "thermal", "reliability",
          "cells", "language", "voices", "replies", "echo", "realtime", "roi", "distill", "tiers",
          "federated")


def add_arguments(parser) -> None:
    parser.add_argument("--suite", choices=SUITES, default="pipeline")
    parser.add_argument("--duration", type=float, default=None,
                        help="pipeline, realtime, tiers: seconds per phase (default 20); transport: "
                             "streaming time per run (default 4)")
    parser.add_argument("--episodes", type=int, default=None,
                        help="sim: expert episodes (default 50); live: episodes with every "
                             "sensor (default 20); cells: held-out episodes per cell (default 8); "
                             "distill: training scenes (default 160)")
    parser.add_argument("--kill-episodes", type=int, default=5,
                        help="live: episodes with the camera, then the lidar, killed")
    parser.add_argument("--hot-episodes", type=int, default=5,
                        help='live: "pick up the hot one" episodes (the thermal camera finds it)')
    parser.add_argument("--cell", default="",
                        help="live: run with this camera of the cells suite (e.g. 'moved 12 "
                             "cm'; see bench/cells.md) instead of the training one (perception "
                             "is given its camera.pose); cells: only these cells "
                             "(separated by ';': names hold commas)")
    parser.add_argument("--size", default=None, type=camera_size,
                        help="cells: make every cell's camera WIDTHxHEIGHT px (e.g. 640x480)")
    parser.add_argument("--voices", default="",
                        help="live: comma-separated voice presets that take turns (default: "
                             "the four tuning voices, us_m1 and rp_f5_fast; held-out ones: us_m1, us_m7_slow, gb_f4, "
                             "rp_f5_fast, us_klatt, welsh_m4)")
    parser.add_argument("--soak", type=float, default=600.0,
                        help="reliability: soak length [s] (default 600)")
    parser.add_argument("--kills", type=int, default=3,
                        help="reliability: SIGKILLs per node for the respawn times")
    parser.add_argument("--model", action="store_true", help="same as --suite model")
    parser.add_argument("--checkpoint", default="omni_small.pt", type=checkpoint_arg,
                        help="model, cells, live: the checkpoint (a path, or a name in the "
                             "package's models/)")
    parser.add_argument("--plot", type=Path, default=Path("bench/pipeline_latency.png"),
                        help="pipeline: latency plot")
    parser.add_argument("--backend", default=None, choices=("whisper", "pocketsphinx", "both"),
                        help="voices (default whisper), live (default: teleop's asr.backend): "
                             "the speech recogniser")
    parser.add_argument("--vad", default=None, choices=("energy", "webrtc", "silero"),
                        help="voices (default silero), live (default: teleop's vad): the "
                             "voice-activity detector")
    parser.add_argument("--speak", action="store_true",
                        help="live: teleop says each command back into the sim's microphone "
                             "(speak: true)")
    parser.add_argument("--quick", action="store_true",
                        help="voices: clean and 10 dB only (not 20 and 5 dB)")
    parser.add_argument("--raw", type=Path,
                        help="voices: recordings' decoder outputs (a pickle): reused when it "
                             "exists (re-scored with the shipped settings), else written")
    parser.add_argument("--students", default="",
                        help="distill: comma-separated students of bench/distill.md's table, "
                             "'camera in unlabelled cells' and its control run 'camera in "
                             "unlabelled cells (control)' (default: all)")
    parser.add_argument("--labels", default="",
                        help="distill: comma-separated label fractions to train and score, e.g. "
                             "1,0.1 (default: 1, 0.1 and 0.02; finished students are reused "
                             "from build/distill)")
    parser.add_argument("--json", type=Path, help="write the raw results here")
    parser.add_argument("--markdown", type=Path, help="write the results table here")


def run(args) -> int:
    from .. import dds_env
    from ..benchmarks import live, model, pipeline, sim, speech, transport

    # Benches publish /omni/action and sensor topics: localhost-only, on a domain of their own.
    print(f"bench: DDS {dds_env.describe(dds_env.isolate())}")

    if args.model:
        args.suite = "model"
    if args.suite == "pipeline":
        result = pipeline.run(duration_s=args.duration or 20.0)
        table = pipeline.markdown(result)
        print(f"wrote {pipeline.plot(result, args.plot)}")
    elif args.suite == "live":
        result = live.run(episodes=20 if args.episodes is None else args.episodes,
                          kill_episodes=args.kill_episodes, hot_episodes=args.hot_episodes,
                          cell=args.cell, checkpoint=args.checkpoint,
                          voices=tuple(v for v in args.voices.split(",") if v),
                          teleop={k: v for k, v in (("asr.backend", args.backend),
                                                    ("vad", args.vad),
                                                    ("speak", args.speak)) if v})
        table = live.markdown(result)
    elif args.suite == "speech":
        result = speech.run()
        table = speech.markdown(result)
    elif args.suite == "model":
        result = model.run(args.checkpoint)
        table = model.markdown(result)
    elif args.suite == "thermal":
        from ..benchmarks import thermal

        result = thermal.run(40 if args.episodes is None else args.episodes)
        table = thermal.markdown(result)
    elif args.suite == "reliability":
        from ..benchmarks import reliability

        result = reliability.run(args.soak, args.kills)
        table = reliability.markdown(result)
    elif args.suite == "cells":
        from ..benchmarks import cells

        only = tuple(c.strip() for c in args.cell.split(";") if c.strip())
        episodes = 8 if args.episodes is None else args.episodes
        try:
            cells.check(episodes, only)
        except ValueError as err:
            print(f"error: {err}")
            return 2
        result = cells.run(episodes, checkpoint=args.checkpoint, only=only, size=args.size)
        table = cells.markdown(result)
    elif args.suite == "language":
        from ..benchmarks import language

        result = language.run()
        table = language.markdown(result)
    elif args.suite == "replies":
        from ..benchmarks import replies

        result = replies.run()
        table = replies.markdown(result)
    elif args.suite == "echo":
        from ..benchmarks import echo

        result = echo.run()
        table = echo.markdown(result)
    elif args.suite == "voices":
        from ..benchmarks import voices

        result = voices.run(args.backend or "whisper", args.quick, args.vad or "silero",
                            str(args.raw) if args.raw else None)
        table = voices.markdown(result)
    elif args.suite == "roi":
        from ..benchmarks import roi

        result = roi.run()
        table = roi.markdown(result)
    elif args.suite == "realtime":
        from ..benchmarks import realtime

        result = realtime.run(duration_s=args.duration or 20.0)
        table = realtime.markdown(result)
    elif args.suite == "distill":
        from ..benchmarks import distill

        try:
            chosen = distill.parse_students(args.students)
            labels = distill.parse_labels(args.labels)
        except ValueError as e:
            print(f"error: {e}")
            return 2
        result = distill.run(args.checkpoint, episodes=160 if args.episodes is None
                             else args.episodes, students=chosen or None, labels=labels)
        table = distill.markdown(result)
    elif args.suite == "tiers":
        from ..benchmarks import tiers

        result = tiers.run(duration_s=args.duration or 20.0)
        table = tiers.markdown(result)
    elif args.suite == "federated":
        from ..benchmarks import federated

        result = federated.run()
        table = federated.markdown(result)
    elif args.suite == "transport":
        result = transport.run(args.duration or 4.0)
        table = transport.markdown(result)
    else:
        result = sim.run(50 if args.episodes is None else args.episodes)
        table = sim.markdown(result)
    print(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, default=str))
    if args.markdown:
        command = made_by(args.suite, getattr(args, "_argv", sys.argv[1:]))
        args.markdown.write_text(f"# Benchmark: {args.suite}\n\nMade by {command} on the 2-core CI "
                                 "machine kind; rerun it to reproduce.\n\n" + table)
        print(f"wrote {args.markdown}")
    return 0


def camera_size(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` [px] -> (width, height), within what the sim's camera can make."""
    from dataclasses import fields

    from omni_ros_sim.config import CameraConfig

    limits = {f.name: (f.metadata["min"], f.metadata["max"]) for f in fields(CameraConfig)
              if f.name in ("width", "height")}
    allowed = "WIDTHxHEIGHT in px, width {}..{}, height {}..{} (e.g. 640x480)".format(
        *limits["width"], *limits["height"])
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: must be {allowed}") from None
    if not all(lo <= v <= hi for v, (lo, hi) in ((w, limits["width"]), (h, limits["height"]))):
        raise argparse.ArgumentTypeError(f"{text!r}: must be {allowed}")
    return w, h


def made_by(suite: str, argv: list[str]) -> str:
    """The command that made a table (``argv``: after the program name), less its output paths."""
    kept, skip = [], False
    for a in argv:
        if skip or a.split("=", 1)[0] in ("--json", "--markdown"):
            skip = not skip and "=" not in a
            continue
        kept.append(a)
    if kept in (["bench"], ["bench", "--suite", suite], ["bench", f"--suite={suite}"]):
        return f"`make bench` (`omni-ros bench --suite {suite}`)"
    return f"`omni-ros {shlex.join(kept)}`"
