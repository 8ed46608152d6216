"""Federated training with Flower (``omni-ros federate``, omni_ros.learning.federated): the
global model is the sample-weighted mean of what each site trained on its own shards, only
weights and counts leave a site, FedProx's term holds a site near the global weights, and bad
invocations fail clearly."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

from omni_ros.core.config import from_flat_dict
from omni_ros.core.model.model_config import OmniConfig
from _util import free_port

pytestmark = pytest.mark.skipif(sys.version_info < (3, 11),
                                reason="Flower 1.42 (omni-ros federate) needs Python >= 3.11")


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    from omni_ros.dataset.generate import generate

    out = []
    for i in range(2):
        d = tmp_path_factory.mktemp(f"site{i}")
        generate(d, episodes=1, seed=21 + i, progress=False, frame_stride=4)
        out.append(d)
    return out


def small(**values) -> OmniConfig:
    return from_flat_dict(OmniConfig, {"train.threads": 1, "train.batch_size": 16, **values})


def assert_one_fedavg_round(model, sites, cfg) -> list[int]:
    """``model`` holds the sample-weighted mean of the sites' local training (redone here
    without Flower) from the initial weights of ``cfg``; returns the sites' sample counts."""
    from omni_ros.learning.federated import local_training, site_samples, weights
    from omni_ros.learning.train import new_model

    torch.manual_seed(cfg.train.seed)
    init = weights(new_model(cfg))
    expected, counts = [], []
    torch.set_num_threads(cfg.train.threads)
    for i, d in enumerate(sites):
        local = new_model(cfg)
        local.load_state_dict(init, strict=False)
        s = site_samples([str(Path(d).resolve())], cfg)
        local_training(local, s, cfg, 1, i)
        expected.append(weights(local))
        counts.append(s.data.n)
    got = weights(model)
    changed = 0
    for k, v in got.items():
        mean = sum(e[k].double() * n for e, n in zip(expected, counts)) / sum(counts)
        np.testing.assert_allclose(v.double().numpy(), mean.numpy(), rtol=1e-4, atol=1e-5,
                                   err_msg=k)
        changed += not torch.equal(v, init[k])
    assert changed > len(got) // 2  # training moved the weights
    return counts


@pytest.mark.slow
def test_one_round_is_the_sample_weighted_mean_of_what_each_site_trained(sites, tmp_path):
    """A real Flower run (server + two SuperNodes on Ray): the global model after one FedAvg
    round equals the mean, weighted by sample counts, of the two sites' local training from
    the same initial weights, done here without Flower; and what reached the server from a
    site was its weights and counts, nothing else."""
    from omni_ros.core.model.checkpoint import load_checkpoint, stored_config
    from omni_ros.learning.federated import federate, weights
    from omni_ros.learning.train import new_model

    cfg = small(**{"federate.rounds": 1})
    out = tmp_path / "fleet.pt"
    info = federate([[d] for d in sites], out, cfg)
    counts = assert_one_fedavg_round(load_checkpoint(out)[0], sites, cfg)

    assert [s["samples"] for s in info["sites"]] == counts
    assert len(info["received"]) == 2
    for r in info["received"]:
        assert r["records"] == ["arrays", "metrics"]
        assert r["arrays"] == sorted(weights(new_model(cfg)))  # the model's weights, and nothing of the data
        assert r["metrics"] == ["num-examples", "site", "train-loss"]
    flat, _ = stored_config(str(out))
    assert flat["federate.rounds"] == 1 and flat["federate.strategy"] == "fedavg"


def assert_masked(info, sites_n: int, rounds: int = 1) -> None:
    """What reached the server under SecAgg+, as measured on Flower's grid: per site and round
    a masked vector and metrics, not one byte of plain arrays."""
    assert info["secure_aggregation"] is True
    assert len(info["received"]) == sites_n * rounds
    for r in info["received"]:
        assert r["records"] == ["masked update", "metrics"]
        assert r["bytes"] == 0 and r["masked_bytes"] > 1_000_000, r
        assert r["metrics"] == ["clipped", "site", "train-loss", "num-examples"]
        assert r["clipped"] == 0


SECURE = {"federate.rounds": 1, "federate.secure_aggregation": True,
          "federate.secagg_max_weight": 64}


@pytest.mark.slow
def test_secure_aggregation_gives_the_same_mean_and_the_server_sees_only_masked_updates(
        sites, tmp_path):
    """Flower's SecAgg+ (``--secure``): each site sends its update masked; the server sums the
    masked vectors and the global model after one round is the same sample-weighted mean of
    the sites' own training as without it (to the quantisation step); no plain array reached
    the server. Differential privacy with it, or a site with more samples than the weights
    allow, is refused."""
    from omni_ros.core.config import ConfigError
    from omni_ros.core.model.checkpoint import load_checkpoint
    from omni_ros.learning.federated import FederateError, federate
    from omni_ros.learning.secure import check

    cfg = small(**SECURE)
    out = tmp_path / "fleet.pt"
    info = federate([[d] for d in sites], out, cfg)
    counts = assert_one_fedavg_round(load_checkpoint(out)[0], sites, cfg)
    assert [s["samples"] for s in info["sites"]] == counts
    assert_masked(info, len(sites))

    with pytest.raises(ConfigError, match="dp_noise"):
        check(small(**SECURE, **{"federate.dp_noise": 0.1}), 3)
    with pytest.raises(ConfigError, match="at least 2 sites"):
        check(cfg, 1)
    few = small(**{**SECURE, "federate.secagg_max_weight": 20})
    with pytest.raises(FederateError, match=r"site \d has 2\d samples, more than "
                                            r"federate.secagg_max_weight \(20\)"):
        federate([[d] for d in sites], tmp_path / "few.pt", few)
    assert not (tmp_path / "few.pt").exists()


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def flower_deployment(tmp_path, node_configs: list[str]):
    """Flower's deployment runtime on this host, as on several: a SuperLink (insecure, on a
    free port) and one SuperNode per node config, each its own process tree; yields the
    SuperLink's address. Everything is killed on exit."""
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
           "FLWR_HOME": str(tmp_path / "flwr_home"), "FLWR_DISABLE_UPDATE_CHECK": "1"}
    link = free_port()
    procs, logs = [], []

    def start(log_name, command, *args):
        log = open(tmp_path / f"{log_name}.log", "w")
        logs.append(log)
        procs.append(subprocess.Popen([str(Path(bin_dir, command)), *args], env=env,
                                      stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True))

    try:
        start("flower-superlink", "flower-superlink", "--insecure", "--host", "127.0.0.1", "--port", str(link))
        deadline = time.monotonic() + 120
        while not listening(link):
            assert time.monotonic() < deadline and procs[0].poll() is None, \
                (tmp_path / "flower-superlink.log").read_text()[-2000:]
            time.sleep(0.2)
        for i, nc in enumerate(node_configs):
            start(f"flower-supernode-{i}", "flower-supernode", "--insecure", "--superlink", f"127.0.0.1:{link}",
                  "--port", str(free_port()), "--node-config", nc)
        yield f"127.0.0.1:{link}"
    finally:
        import signal

        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)  # the SuperExec and app processes with it
            except ProcessLookupError:
                pass
            p.wait(timeout=30)
        for log in logs:
            log.close()


@pytest.mark.slow
def test_across_hosts_a_superlink_and_supernodes_train_the_same_global_model(sites, tmp_path):
    """Flower's deployment runtime (SuperLink + a SuperNode per site, separate processes talking
    over the network, no Ray): ``omni-ros federate --superlink`` submits the run with
    ``flwr run`` and the global model after one FedAvg round is the same sample-weighted mean
    of the sites' own training as in simulation. Each site's folders are named only in its
    own SuperNode's node config; the server knows the sites by index."""
    from omni_ros.core.model.checkpoint import load_checkpoint
    from omni_ros.learning.federated import FederateError
    from omni_ros.learning.flower_deploy import submit

    cfg = small(**{"federate.rounds": 1})
    config = tmp_path / "small.yaml"
    config.write_text("train: {threads: 1, batch_size: 16}\n")
    out = tmp_path / "fleet.pt"
    nodes = [f"data='{Path(d).resolve()}' partition-id={i}" for i, d in enumerate(sites)]
    with flower_deployment(tmp_path, nodes) as link:
        done = subprocess.run([sys.executable, "-m", "omni_ros.cli", "federate", "--superlink",
                               link, "--sites", "2", "--rounds", "1", "--out", str(out),
                               "--config", str(config),
                               "--timeout", "1500"],
                              capture_output=True, text=True, timeout=1800,
                              env={**os.environ, "PATH": str(Path(sys.executable).parent)
                                   + os.pathsep + os.environ.get("PATH", "")})
        assert done.returncode == 0, done.stdout + done.stderr
        model, _, info = load_checkpoint(out)
        assert_one_fedavg_round(model, sites, cfg)
        assert info["flower_run"] > 0 and info["rounds"] == 1
        assert [s["data"] for s in info["sites"]] == ["site 0", "site 1"]
        assert all(str(d) not in str(info) for d in sites)  # no site's folder reached it

        # the same SuperNodes serve a secure run: the same mean, only masked updates
        secure = tmp_path / "secure.yaml"
        secure.write_text("train: {threads: 1, batch_size: 16}\n"
                          "federate: {secagg_max_weight: 64}\n")
        done = subprocess.run([sys.executable, "-m", "omni_ros.cli", "federate", "--superlink",
                               link, "--sites", "2", "--rounds", "1", "--secure",
                               "--out", str(tmp_path / "secure.pt"), "--config", str(secure),
                               "--timeout", "1500"],
                              capture_output=True, text=True, timeout=1800,
                              env={**os.environ, "PATH": str(Path(sys.executable).parent)
                                   + os.pathsep + os.environ.get("PATH", "")})
        assert done.returncode == 0, done.stdout + done.stderr
        model, _, info = load_checkpoint(tmp_path / "secure.pt")
        assert_one_fedavg_round(model, sites, small(**SECURE))
        assert_masked(info, len(sites))

    # a SuperNode that names no shards: the run fails with what to give, and writes nothing
    bad = tmp_path / "bad"
    bad.mkdir()
    with flower_deployment(bad, [nodes[0], "partition-id=1"]) as link:
        with pytest.raises(FederateError, match=r"node-config lacks data"):
            submit(link, 2, cfg, bad / "fleet.pt", timeout_s=1500, say=lambda _: None)
    assert not (bad / "fleet.pt").exists()


@pytest.mark.slow
@pytest.mark.parametrize("secure", [False, True], ids=["plain", "secure"])
def test_a_failing_site_stops_the_run_naming_the_site(sites, tmp_path, secure):
    """A site whose shards are broken fails its round: the run stops with its reason instead of
    writing a global model that silently lacks that site (also when SecAgg+ halts because of
    it)."""
    import shutil

    from omni_ros.learning.federated import FederateError, federate

    broken = tmp_path / "broken"
    shutil.copytree(sites[1], broken)
    for f in broken.glob("shard-*.npz"):
        f.write_bytes(f.read_bytes()[:1000])
    out = tmp_path / "fleet.pt"
    with pytest.raises(FederateError, match=r"site 1 .*broken.*BadZipFile"):
        federate([[sites[0]], [broken]], out,
                 small(**{"federate.rounds": 2, "federate.secure_aggregation": secure}))
    assert not out.exists()


def test_the_fedprox_term_keeps_a_site_near_the_global_weights(sites):
    from omni_ros.learning.federated import local_training, site_samples, weights
    from omni_ros.learning.train import new_model

    cfg = small(**{"train.lr": 0.01})
    torch.manual_seed(0)
    init = weights(new_model(cfg))
    s = site_samples([str(Path(sites[0]).resolve())], cfg)
    drift = {}
    for mu in (0.0, 10.0):
        model = new_model(cfg)
        model.load_state_dict(init, strict=False)
        local_training(model, s, cfg, 1, 0, mu=mu)
        drift[mu] = sum(float(((p.detach() - init[n]) ** 2).sum())
                        for n, p in model.named_parameters())
    assert drift[10.0] < 0.5 * drift[0.0], drift


def test_the_learning_rate_decays_over_the_rounds():
    from omni_ros.learning.federated import round_lr

    cfg = small(**{"federate.rounds": 5})
    lrs = [round_lr(cfg, r) for r in range(1, 6)]
    assert lrs[0] == pytest.approx(cfg.train.lr) and lrs[-1] == pytest.approx(0.05 * cfg.train.lr)
    assert all(a > b for a, b in zip(lrs, lrs[1:]))


def test_bad_invocations_fail_clearly(sites, tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "omni_ros.cli", "federate", *map(str, args)],
                              capture_output=True, text=True, timeout=300)

    one = cli("--site", sites[0], "--out", tmp_path / "x.pt")
    assert one.returncode == 2 and "at least 2 --site" in one.stdout
    missing = cli("--site", sites[0], "--site", tmp_path / "nothing", "--out", tmp_path / "x.pt")
    assert missing.returncode == 2 and "no manifest.json" in missing.stdout
    bad = cli("--site", sites[0], "--site", sites[1], "--rounds", "0", "--out", tmp_path / "x.pt")
    assert bad.returncode == 2 and "federate.rounds" in bad.stdout and "[1, 10000]" in bad.stdout
    assert not (tmp_path / "x.pt").exists()


def test_without_flower_the_error_says_how_to_get_it(monkeypatch):
    from omni_ros.learning.federated import FederateError, flower

    monkeypatch.setitem(sys.modules, "flwr", None)  # import flwr now raises ImportError
    with pytest.raises(FederateError, match="make setup"):
        flower()


def test_a_fraction_of_a_local_epoch_trains_that_share_of_the_samples(sites):
    """federate.local_epochs 0.5: each round a site trains on half its samples (more rounds for
    the same data); 1: all of them."""
    from omni_ros.learning.federated import local_training, site_samples
    from omni_ros.learning.train import new_model

    steps = {}
    for share in (0.5, 1.0):
        cfg = small(**{"federate.local_epochs": share, "train.batch_size": 4})
        s = site_samples([str(Path(sites[0]).resolve())], cfg)
        steps[share] = local_training(new_model(cfg), s, cfg, 1, 0)["steps"]
    n = s.data.n
    assert steps[1.0] == -(-n // 4) and steps[0.5] == -(-round(n / 2) // 4), (steps, n)
