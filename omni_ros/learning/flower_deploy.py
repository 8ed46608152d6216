"""``omni-ros federate --superlink HOST:PORT``: submit a federated run to a Flower deployment
(a SuperLink and one SuperNode per site, each on its own host) with Flower's own ``flwr run``,
and follow it to the end.

The glue is thin: the Flower App (:mod:`.flower_app`) is written to a temporary folder, the
SuperLink connection to a temporary ``FLWR_HOME`` (the user's ``~/.flwr`` is left alone), and
``flwr run`` / ``flwr list`` / ``flwr log`` / ``flwr stop`` do the rest. A run counts as done when
its checkpoint carries this run's id: Flower can mark a run that finished "failed" (e.g. "No
heartbeat received"), so its status alone is not trusted either way.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..core.model.model_config import OmniConfig
from .federated import FederateError
from .flower_app import app_files, run_config
from .secure import check

CONNECTION = "omni"
ADDRESS = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")


def flwr_command() -> str:
    """The ``flwr`` CLI beside this Python (the venv's), else on PATH."""
    here = Path(sys.executable).with_name("flwr")
    found = str(here) if here.exists() else shutil.which("flwr")
    if not found:
        raise FederateError("the flwr command is not installed (run make setup)")
    return found


def connection_toml(superlink: str, root_certificates: Path | None) -> str:
    """The Flower configuration file naming the SuperLink's Control API: TLS with the given
    root certificate, or insecure (plain HTTP) without one."""
    lines = ["[superlink]", f'default = "{CONNECTION}"', "", f"[superlink.{CONNECTION}]",
             f"address = {json.dumps(superlink)}"]
    if root_certificates is None:
        lines.append("insecure = true")
    else:
        lines.append(f"root-certificates = {json.dumps(str(root_certificates.resolve()))}")
    return "\n".join(lines) + "\n"


def _flwr(args: list[str], env: dict, timeout_s: float = 120.0) -> dict:
    """Run ``flwr ARGS --format json`` and return its JSON; FederateError with Flower's message
    when it fails."""
    try:
        done = subprocess.run([flwr_command(), *args, "--format", "json"], env=env,
                              capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise FederateError(f"flwr {args[0]} gave no answer within {timeout_s:.0f} s") from None
    start = done.stdout.find("{")
    try:
        reply = json.loads(done.stdout[start:]) if start >= 0 else {}
    except json.JSONDecodeError:
        reply = {}
    if not reply.get("success"):
        why = reply.get("error-message") or (done.stderr or done.stdout).strip()[-800:]
        raise FederateError(f"flwr {args[0]}: {why}")
    return reply


def run_done(out: Path, run_id: int) -> bool:
    """True when ``out`` holds the checkpoint that run ``run_id`` wrote."""
    from ..core.model.checkpoint import CheckpointError, stored_info

    try:
        return out.is_file() and int(stored_info(out).get("flower_run", -1)) == run_id
    except (CheckpointError, OSError, ValueError, TypeError):
        return False


def submit(superlink: str, sites: int, cfg: OmniConfig, out: Path, *,
           root_certificates: Path | None = None, timeout_s: float = 7200.0,
           poll_s: float = 2.0, max_poll_s: float = 15.0, say=print) -> dict:
    """Start a federated run of ``cfg`` over ``sites`` SuperNodes on the SuperLink whose Control
    API is at ``superlink`` (host:port), wait until it ends, and return its info: run id,
    Flower's final status, the checkpoint (written by the ServerApp at ``out`` on the
    SuperLink's host). FederateError with Flower's reason and log tail if it did not finish.
    The status is asked every ``poll_s``, backing off to ``max_poll_s`` (each ask is a ``flwr``
    process: a long run must not start thousands).
    """
    if not ADDRESS.match(superlink):
        raise FederateError(f"--superlink {superlink!r}: give the SuperLink's host:port "
                            "(its Control API, e.g. 10.0.0.5:8000)")
    if sites < 1:
        raise FederateError(f"--sites {sites}: at least 1 SuperNode must take part")
    check(cfg, sites)
    if root_certificates is not None and not root_certificates.is_file():
        raise FederateError(f"--root-certificates {root_certificates}: no such file")
    out = Path(out).resolve()
    with tempfile.TemporaryDirectory(prefix="omni-federate-") as tmp:
        app, home = Path(tmp, "app"), Path(tmp, "flwr_home")
        app.mkdir()
        home.mkdir()
        for name, data in app_files(run_config(cfg, sites, out)).items():
            (app / name).write_bytes(data)
        (home / "config.toml").write_text(connection_toml(superlink, root_certificates))
        env = {**os.environ, "FLWR_HOME": str(home), "FLWR_DISABLE_UPDATE_CHECK": "1"}
        run_id = int(_flwr(["run", str(app), CONNECTION], env)["run-id"])
        say(f"Flower run {run_id} started on {superlink}; waiting for {sites} SuperNode(s)")
        status, deadline, t0 = "", time.monotonic() + timeout_s, time.monotonic()
        while True:
            run = _flwr(["list", CONNECTION, "--run-id", str(run_id)], env)["runs"][0]
            if run["status"] != status:
                status = run["status"]
                say(f"run {run_id}: {status} ({time.monotonic() - t0:.0f} s)")
            if status.startswith("finished"):
                break
            if time.monotonic() > deadline:
                _flwr(["stop", str(run_id), CONNECTION], env)
                raise FederateError(f"run {run_id} still {status} after {timeout_s:.0f} s; "
                                    "stopped it (are all SuperNodes connected?)")
            time.sleep(poll_s)
            poll_s = min(poll_s * 1.25, max_poll_s)
        written = run_done(out, run_id)
        if not written and not status.endswith("completed"):
            raise FederateError(f"run {run_id} {status} ({run.get('status-details', '')}); "
                                "the ServerApp's log ends:\n" + _log_tail(run_id, env))
        if not written:
            say(f"Flower reports run {run_id} {status}; its checkpoint is at {out} on the "
                "SuperLink's host")
        elif not status.endswith("completed"):
            say(f"Flower marked run {run_id} {status} ({run.get('status-details', '')}), but "
                f"it wrote its checkpoint: every round finished")
    return {"run_id": run_id, "status": status, "checkpoint_here": written, "out": str(out),
            "traffic_bytes": int(run.get("network-traffic", {}).get("total-bytes", 0)),
            "elapsed_s": float(run.get("elapsed", 0.0))}


def _log_tail(run_id: int, env: dict, lines: int = 15) -> str:
    try:
        done = subprocess.run([flwr_command(), "log", str(run_id), CONNECTION, "--show"],
                              env=env, capture_output=True, text=True, timeout=60)
        text = done.stdout or done.stderr
    except (subprocess.TimeoutExpired, OSError) as err:
        text = f"(no log: {err})"
    return "\n".join(text.strip().splitlines()[-lines:])
