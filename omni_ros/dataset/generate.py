"""Dataset generation: randomised scripted-expert episodes in the sim, or an MCAP recording,
through the same decoding and assembly into shards.

Episode ``i`` of a run with seed ``s`` uses scene, task and sensor noise seed ``s + i`` (the sim
bridge's ``expert`` mode does the same, so its recordings reproduce these samples exactly). With
``randomize.enabled`` in the sim config, each episode runs in a cell of its own (camera mount,
optics, lighting, object shades, sizes and count, distractors; ``omni_ros_sim.tasks.random_cell``
of its seed), which the bridge does not reproduce.
"""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

from tqdm import tqdm

from omni_ros_sim.config import SimConfig
from omni_ros_sim.expert import EpisodeRunner
from omni_ros_sim.impacts import Prelude
from omni_ros_sim.tasks import Cell, random_cell
from omni_ros_sim.world import World

from ..core.config import to_flat_dict
from ..core.model.modalities.camera import CameraModalityConfig, window_view
from ..streams import EncodeContext, decode, encode, task_command
from .assembler import SampleAssembler
from .mcap_io import read_messages
from .shards import ShardWriter, write_manifest


def episode_items(seed: int, cfg: SimConfig, on_message=None):
    """Yield (key, stamp_ns, payload) of the expert episode ``seed`` in its cell
    (``random_cell(seed, cfg)``): see cell_items. Returns (EpisodeResult, task)."""
    return (yield from cell_items(seed, random_cell(seed, cfg), on_message))


def cell_items(seed: int, cell: Cell, on_message=None):
    """Yield (key, stamp_ns, payload) of one expert episode in ``cell`` with sensor noise seed
    ``seed``, each reading encoded into its ROS message and decoded back exactly as a subscriber
    would; ``on_message(topic, msg, t_ns)`` sees every message (to publish or record it).
    The cell's staged impacts (``cell.events``) come first; the expert plans once they have
    settled. Returns (EpisodeResult, task)."""
    task = cell.task
    with World(cell.scene, cell.cfg, seed) as world:
        ctx = EncodeContext.from_world(world)
        staged = Prelude(world, cell.events)
        runner = None
        pending = [("task", world.t_ns, task_command(task, world.t_ns))]
        while True:
            for key, stamp, data in pending:
                for topic, msg in encode(key, stamp, data, ctx):
                    if on_message:
                        on_message(topic, msg, world.t_ns)
                    yield decode(topic, msg)
            if runner is None and staged.done:
                runner = EpisodeRunner(world, task)
            if runner is not None and runner.result is not None:
                break
            pending = [(r.key, r.stamp_ns, r.data) for r in (runner or staged).step()]
        return runner.result, task


CHUNK_EPISODES = 8  # episodes per worker job (and per shard-file prefix)


def _run_episodes(args) -> tuple[list[dict], list[dict], int]:
    worker, indices, seed, cfg_flat, camera_flat, out_dir, per_shard, frame_stride = args
    from ..core.config import from_flat_dict

    cfg = from_flat_dict(SimConfig, cfg_flat)
    camera = from_flat_dict(CameraModalityConfig, camera_flat)
    writer = ShardWriter(Path(out_dir), f"shard-{worker:03d}", per_shard, frame_stride)
    episodes = []
    for i in indices:
        cell = random_cell(seed + i, cfg)
        assembler = SampleAssembler.for_config(cell.cfg, camera)
        gen = cell_items(seed + i, cell)
        samples = 0
        while True:
            try:
                sample = assembler.push(*next(gen))
            except StopIteration as stop:
                result, task = stop.value
                break
            if sample is not None:
                samples += writer.add(sample, i)
        episodes.append({"index": i, "seed": seed + i, "command": task.command,
                         "object_id": task.object_id, "success": result.success,
                         "failure": result.failure, "duration_s": result.duration_s,
                         "samples": samples})
    writer.flush()
    return writer.shards, episodes, sum(e["samples"] for e in episodes)


def _run_episodes_anywhere(args) -> tuple[list[dict], list[dict], int, dict[str, bytes]]:
    """One job on a Ray worker, on whichever machine runs it: its shards are written to a
    temporary folder there and returned as bytes (the driver writes them), so the cluster needs
    no shared file system."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="omni_ros_shards_") as tmp:
        shards, episodes, samples = _run_episodes((*args[:5], tmp, *args[6:]))
        files = {s["file"]: (Path(tmp) / s["file"]).read_bytes() for s in shards}
    return shards, episodes, samples, files


def _on_ray(jobs: list, out_dir: Path, workers: int, address: str):
    """Yield each job's (shards, episodes, samples) as Ray finishes it, its shard files
    written into ``out_dir``. ``address``: a running cluster ("auto", "ray://host:10001", ...);
    "local" starts Ray on this machine with ``workers`` CPUs, its workers at the caller's
    priority (stopped afterwards)."""
    import os

    import ray

    local = address == "local"
    if local:  # Ray starts its workers at niceness 15: next to any busy process they starve
        os.environ.setdefault("RAY_worker_niceness", "0")
    ray.init(address=None if local else address, num_cpus=workers if local else None,
             include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        task = ray.remote(num_cpus=1)(_run_episodes_anywhere)
        pending = [task.remote(job) for job in jobs]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            shards, episodes, samples, files = ray.get(done[0])
            for name, data in files.items():
                (out_dir / name).write_bytes(data)
            yield shards, episodes, samples
    finally:
        ray.shutdown()


def generate(out_dir: Path, episodes: int, seed: int = 0, workers: int = 1,
             cfg: SimConfig | None = None, samples_per_shard: int = 256,
             progress: bool = True, frame_stride: int = 1, ray_address: str = "",
             camera: CameraModalityConfig | None = None) -> dict:
    """Run ``episodes`` expert episodes on ``workers`` processes (in jobs of CHUNK_EPISODES);
    keep every ``frame_stride``-th camera frame; write shards and the manifest. With
    ``ray_address`` the jobs are Ray tasks instead (see :func:`_on_ray`); the shards are the
    same for the same seeds either way. ``camera``: the camera section of the model to be
    trained (its window makes the images; default the defaults)."""
    cfg = cfg or SimConfig()
    camera = camera or CameraModalityConfig()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(j, list(range(s, min(s + CHUNK_EPISODES, episodes))), seed, to_flat_dict(cfg),
             to_flat_dict(camera), str(out_dir), samples_per_shard, frame_stride)
            for j, s in enumerate(range(0, episodes, CHUNK_EPISODES))]
    t0 = time.monotonic()
    shards, records = [], []
    bar = tqdm(total=episodes, unit="episode", disable=not progress)
    results = []
    if ray_address:
        for r in _on_ray(jobs, out_dir, workers, ray_address):
            results.append(r)
            bar.update(len(r[1]))
    elif workers == 1:
        for job in jobs:
            results.append(_run_episodes(job))
            bar.update(len(results[-1][1]))
    else:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(workers) as pool:
            for r in pool.imap_unordered(_run_episodes, jobs):
                results.append(r)
                bar.update(len(r[1]))
    for s, e, _ in results:
        shards += s
        records += e
    bar.update(episodes - bar.n)
    bar.close()
    wall = time.monotonic() - t0
    total = sum(s["samples"] for s in shards)
    stats = {"wall_s": wall, "workers": workers, "ray": ray_address or None,
             "samples_per_s": total / wall,
             "samples_per_s_per_worker": total / wall / workers,
             "bytes_per_sample": sum(s["bytes"] for s in shards) / max(total, 1),
             "expert_success": sum(e["success"] for e in records) / max(len(records), 1)}
    return write_manifest(out_dir, shards, records, {"source": "sim", "seed": seed,
                                                     "frame_stride": frame_stride,
                                                     "sim_config": to_flat_dict(cfg),
                                                     "camera_window": window_view(camera),
                                                     "stats": stats})


def from_mcap(mcap_path: Path, out_dir: Path, samples_per_shard: int = 256,
              cfg: SimConfig | None = None, remap: dict[str, str] | None = None,
              frame_stride: int = 1, camera: CameraModalityConfig | None = None) -> dict:
    """Turn a recording of the bridge's (or a robot's) topics into the same shard format.

    ``remap`` maps the recording's topic names to ours (e.g. {"/zed/rgb": "/camera/color/image_raw"});
    topics we do not know are skipped; ``cfg`` gives the lidar and taxel shapes used for missing
    modalities. Every /sim/task message starts a new episode; in each, every ``frame_stride``-th
    camera frame is kept (as ``generate`` does, so a bag and sim data can train together).
    Without /sim/ground_truth the samples are unlabelled (``labelled`` False)."""
    from ..streams import BY_TOPIC

    cfg = cfg or SimConfig()
    camera = camera or CameraModalityConfig()
    remap = remap or {}
    out_dir = Path(out_dir)
    writer = ShardWriter(out_dir, "shard-00", samples_per_shard, frame_stride)
    t0 = time.monotonic()
    episodes: list[dict] = []
    assembler = None
    skipped: dict[str, int] = {}
    for topic, msg, _ in tqdm(read_messages(mcap_path), unit="msg", leave=False):
        topic = remap.get(topic, topic)
        if topic not in BY_TOPIC:
            skipped[topic] = skipped.get(topic, 0) + 1
            continue
        key, stamp, payload = decode(topic, msg)
        if key == "task" or assembler is None:
            assembler = SampleAssembler.for_config(cfg, camera)
            episodes.append({"index": len(episodes), "command": getattr(payload, "raw_text", ""),
                             "samples": 0})
        sample = assembler.push(key, stamp, payload)
        if sample is not None:
            episodes[-1]["samples"] += writer.add(sample, episodes[-1]["index"])
    writer.flush()
    wall = time.monotonic() - t0
    total = sum(s["samples"] for s in writer.shards)
    return write_manifest(out_dir, writer.shards, episodes,
                          {"source": f"mcap:{Path(mcap_path).name}", "frame_stride": frame_stride,
                           "camera_window": window_view(camera),
                           "skipped_topics": skipped,
                           "stats": {"wall_s": wall, "samples_per_s": total / max(wall, 1e-9),
                                     "bytes_per_sample": sum(s["bytes"] for s in writer.shards)
                                     / max(total, 1)}})
