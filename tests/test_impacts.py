"""Sounds that carry information: staged impacts in randomised cells (dropped, set down hard,
knocked over, slid), heard by the simulated microphone with loudness from the impulse."""

import numpy as np
import pytest
from scipy.signal import welch

from omni_ros_sim.config import RandomizeConfig, SimConfig
from omni_ros_sim.impacts import Disturbance, Prelude, kinds_for, random_disturbances
from omni_ros_sim.scene import MATERIALS, ObjectSpec, SceneSpec, random_cell_scene
from omni_ros_sim.tasks import random_cell
from omni_ros_sim.world import World

NOISE = SimConfig().audio.noise_level


def test_disturbances_are_drawn_from_the_seed_and_fit_the_shape():
    r = RandomizeConfig(enabled=True, impact_count=[2, 4])
    for seed in range(30):
        scene = random_cell_scene(seed, r)
        events = random_disturbances(seed, scene, r)
        assert events == random_disturbances(seed, scene, r)
        assert 2 <= len(events) <= 4
        shapes = {o.id: o.shape for o in scene.objects}
        for e in events:
            assert e.kind in kinds_for(shapes[e.object_id])  # no knocked-over ball rolling away
        assert all(b.t_s > a.t_s for a, b in zip(events, events[1:]))


def test_impacts_only_in_randomised_cells():
    assert random_cell(3, SimConfig()).events == ()
    cfg = SimConfig()
    cfg.randomize.enabled = True
    cfg.randomize.impact_count = [0, 0]
    assert random_cell(3, cfg).events == ()


def _run(spec: ObjectSpec, event: Disturbance, seconds: float = 1.2):
    """(impact events, microphone samples as float) of one staged event on a lone object."""
    cfg = SimConfig()
    with World(SceneSpec([spec]), cfg, seed=1) as world:
        staged = Prelude(world, [event])
        audio, events = [], []
        while world.t_ns < seconds * 1e9:
            for r in (staged.step() if not staged.done else world.step()):
                if r.key == "audio":
                    audio.append(r.data.astype(float) / 32768.0)
                elif r.key == "ground_truth":
                    events += [e for e in r.data.events if e.kind == "impact"]
        position = world.object_position(spec.id)
    return events, np.concatenate(audio), position


def _cube(material="wood", size=0.05):
    return ObjectSpec("obj_0", "cube", "red", material, size, (0.5, 0.0))


@pytest.mark.parametrize("kind", ["drop", "set_down", "knock", "slide"])
def test_every_kind_of_event_is_heard(kind):
    event = Disturbance(0.3, kind, "obj_0", height_m=0.05, speed_m_s=0.4, heading_rad=0.5)
    events, audio, _ = _run(_cube(), event)
    assert [e for e in events if e.object_id == "obj_0" and e.stamp_ns >= 0.3e9], kind
    assert np.abs(audio).max() > 5 * NOISE, kind  # well above the background


def test_a_higher_drop_is_louder():
    peaks = []
    for h in (0.02, 0.08):
        events, audio, _ = _run(_cube(), Disturbance(0.3, "drop", "obj_0", height_m=h))
        peaks.append((max(e.magnitude for e in events), np.abs(audio).max()))
    assert peaks[1][0] > peaks[0][0] and peaks[1][1] > peaks[0][1]


def test_a_knocked_cube_lands_on_a_side():
    _, _, p = _run(_cube(size=0.05), Disturbance(0.3, "knock", "obj_0", heading_rad=0.0))
    assert p[2] == pytest.approx(0.025, abs=0.006)  # resting on a face: its centre at half its edge


def test_the_sound_carries_the_material():
    """The strongest frequency of a dropped object's sound is one of its material's modes."""
    for material, m in MATERIALS.items():
        _, audio, _ = _run(_cube(material), Disturbance(0.3, "drop", "obj_0", height_m=0.06))
        f, p = welch(audio, fs=SimConfig().audio.sample_rate, nperseg=2048)
        peak = f[np.argmax(p)]
        assert min(abs(peak - mf) for mf, _ in m.modes) < 40.0, (material, peak)


def test_a_slide_scrapes_while_it_moves():
    _, audio, p = _run(_cube("metal"), Disturbance(0.3, "slide", "obj_0", speed_m_s=0.45),
                       seconds=1.0)
    sr = SimConfig().audio.sample_rate
    during = audio[int(0.33 * sr):int(0.38 * sr)]
    assert np.std(during) > 3 * NOISE
    assert p[0] > 0.5 + 0.005  # it moved along the heading (x)


def test_impact_labels_cover_the_audio_window_whichever_frames_are_kept():
    """A sample is labelled with the strongest impact of the last audio.window_s: every frame
    whose audio still holds an impact says so (a dataset keeping every 4th frame used to lose
    three impacts in four and label frames that ring with one as silent)."""
    from omni_ros.core.model.model_config import ModelConfig
    from omni_ros.dataset.assembler import SampleAssembler
    from omni_ros.dataset.generate import cell_items

    cfg = SimConfig()
    cfg.randomize.enabled = True
    cfg.randomize.impact_count = [3, 3]
    cell = random_cell(11, cfg)
    asm = SampleAssembler.for_config(cell.cfg)
    window_ns = ModelConfig().audio.window_s * 1e9
    impacts, samples = [], []
    for key, stamp, payload in cell_items(11, cell):
        if key == "ground_truth":
            impacts += [e.stamp_ns for e in payload.events if e.kind == "impact"]
        sample = asm.push(key, stamp, payload)
        if sample is not None:
            samples.append(sample)
        if stamp > 2.6e9:
            break
    assert len(impacts) >= 3
    for s in samples:
        recent = [t for t in impacts if 0 <= s["stamp_ns"] - t <= window_ns]
        assert bool(s["impact"]) == bool(recent), s["stamp_ns"]
        if recent:
            assert s["impact_material"] >= 0
