"""The plug-in in a real GIMP 3.0 (a Debian trixie chroot built by ../shared/gimp3), against a real server.

One GIMP run per transport, each calling every procedure non-interactively through the PDB
(tests/gimp/e2e_batch.py), then cancelling a long one the way GIMP does (killing the plug-in): direct
gRPC (GIMP's python3 gets grpc through PYTHONPATH) and the bridge (GIMP's python3 has no grpc; the
bridge runs in a venv inside the chroot). One more run opens every dialog on an Xvfb display and
confirms it (tests/gimp/dialogs_batch.py). The chroot is cached in $GANCOLLAGE_GIMP3_CACHE (default
/var/cache/gancollage-gimp3) and reused. Needs root. Skips only when ../shared/gimp3 is absent (users'
machines); a chroot that cannot be built fails the test.
"""
from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
from importlib import metadata
from pathlib import Path

import pytest

from conftest import REPO, SHARED, make_tiny_model
from test_server_fixtures import server_process

GIMP3 = SHARED / "gimp3"
CACHE = Path(os.environ.get("GANCOLLAGE_GIMP3_CACHE", "/var/cache/gancollage-gimp3"))
ROOT = CACHE / "root"
HERE = Path(__file__).resolve().parent / "gimp"
EMBEDDED = REPO / "server" / "models" / "embedded" / "model.json"
BRIDGE_PYTHON, PROJECT_ROOT = "/opt/bridge-venv/bin/python", "/opt/gancollage"
STEPS = 2

pytestmark = pytest.mark.skipif(not GIMP3.is_dir(), reason=f"{GIMP3} not found: the GIMP 3 chroot scripts "
                                "are only in the project's shared folder (CI and developers' machines)")


def log(text: str) -> None:
    print(f"[gimp e2e] {text}", file=sys.stderr, flush=True)


def prepare_root() -> Path:
    """The cached GIMP 3 chroot, built or refreshed by tests/gimp/prepare-root.sh (RuntimeError if it fails)."""
    packages = " ".join(f"{name}=={metadata.version(name)}"
                        for name in ("grpcio", "protobuf", "grpcio-health-checking"))
    started = time.monotonic()
    done = subprocess.run([str(HERE / "prepare-root.sh"), str(GIMP3), str(ROOT)], capture_output=True, text=True,
                          env=dict(os.environ, PIP_PACKAGES=packages), timeout=1200)
    if done.returncode != 0:
        raise RuntimeError(f"cannot build the GIMP 3 chroot in {ROOT} (exit {done.returncode}):\n"
                           f"{done.stderr[-4000:]}")
    log(f"chroot {ROOT} ready in {time.monotonic() - started:.1f} s")
    return ROOT


@pytest.fixture(scope="module")
def gimp_root() -> Path:
    if os.geteuid() != 0:
        pytest.fail("the GIMP 3 end-to-end tests need root (chroot, unshare); CI runs as root")
    try:
        prepare_root()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    # the bridge's project folder: this checkout's client code (the bridge needs no torch)
    target = ROOT / PROJECT_ROOT.lstrip("/")
    shutil.rmtree(target, ignore_errors=True)
    (target / "server").mkdir(parents=True)
    shutil.copy2(REPO / "server" / "__init__.py", target / "server")
    for package in ("client", "api"):
        shutil.copytree(REPO / "server" / package, target / "server" / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return ROOT


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`python -m server` on the host's loopback (the chroot shares the network)."""
    if EMBEDDED.exists():
        model = "default"
        log("serving the embedded default model")
    else:
        from server.models.own_format import save_model

        folder = tmp_path_factory.mktemp("model") / "tiny"
        tiny = make_tiny_model(32)
        save_model(folder, tiny.generator, tiny.discriminator, tiny.regressor, name="tiny")
        model = str(folder)
        log(f"no embedded model yet ({EMBEDDED} is missing): serving a tiny random 32 px model")
    with server_process("--model", model) as (_, address):
        yield address


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory) -> Path:
    """The plug-in folder exactly as install.py lays it out in a profile."""
    profile = tmp_path_factory.mktemp("profile")
    subprocess.run([sys.executable, str(REPO / "install.py"), "--plugin-only", "--gimp-profile", str(profile)],
                   check=True, capture_output=True, timeout=60)
    return profile / "plug-ins" / "gan_collage"


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def queue_length(address: str) -> int:
    from server.client.direct import DirectClient

    with DirectClient(address) as client:
        (event,) = client.call("GetServerInfo", {}, 10)
    return event["result"]["queue_length"]


def in_root(root: Path, *command: str, env: tuple[str, ...] = ()) -> list[str]:
    """`command` inside the chroot (see tests/gimp/in-root.sh)."""
    return [str(HERE / "in-root.sh"), str(root), *env, *command]


def plugin_processes(root: Path) -> list[int]:
    """The plug-in's processes inside `root`, seen from the host."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if (entry.name.isdigit() and b"gan_collage.py" in (entry / "cmdline").read_bytes()
                    and os.readlink(entry / "root") == str(root)):
                found.append(int(entry.name))
        except OSError:  # gone meanwhile
            continue
    return found


def wait_for(condition, seconds: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"waited {seconds} s for {what}")
        time.sleep(0.1)
    return time.monotonic() - started


def run_gimp(root: Path, plugin: Path, batch: str, params: dict, tmp_path: Path, env: str,
             during, timeout: int = 300) -> tuple[dict, object]:
    """Run tests/gimp/`batch` in GIMP; `during(process)` plays the user's part meanwhile. (The batch's
    JSON report, what `during` returned.)"""
    inputs, outputs = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    (inputs / "params.json").write_text(json.dumps(params))
    started = time.monotonic()
    gimp = subprocess.Popen([str(GIMP3 / "run-gimp-batch.sh"), str(root), str(plugin), f"@{HERE / batch}"],
                            env=dict(os.environ, IN=str(inputs), OUT=str(outputs), GIMP_ENV=env, TIMEOUT=str(timeout)),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    drain = threading.Thread(target=lambda: lines.extend(gimp.stdout), daemon=True)  # a full pipe would block GIMP
    drain.start()
    try:
        played = during(gimp)
        gimp.wait(timeout=timeout + 100)
    finally:
        if gimp.poll() is None:
            gimp.kill()
            gimp.wait()
        drain.join(10)
    output = "".join(lines)
    log(f"GIMP run of {batch} ({env or 'no extra environment'}) took {time.monotonic() - started:.1f} s")
    assert gimp.returncode == 0, f"GIMP batch failed (exit {gimp.returncode}):\n{output[-6000:]}"
    return json.loads(next(outputs.glob("*.json")).read_text()), played


def cancel_like_gimp(root: Path, address: str):
    """When the batch reaches its long job: kill the plug-in as GIMP's Cancel does; seconds until the
    server's queue is empty again (None if the batch never got there)."""
    before = set(root.glob("tmp/gimp-batch.*"))

    def during(gimp) -> float | None:
        while gimp.poll() is None:
            if any(m.parent.parent not in before for m in root.glob("tmp/gimp-batch.*/out/cancel-now")):
                wait_for(lambda: queue_length(address) >= 1, 60, "the long job to start")
                for pid in plugin_processes(root):
                    os.kill(pid, 9)
                stopped = wait_for(lambda: queue_length(address) == 0, 30, "the server to stop the cancelled job")
                log(f"the server dropped the cancelled job {stopped:.1f} s after the plug-in was killed")
                return stopped
            time.sleep(0.1)
        return None

    return during


@pytest.mark.parametrize("transport", ["direct", "bridge"])
def test_every_procedure_in_gimp(transport, gimp_root, server, plugin_dir, tmp_path):
    params = {"server": server, "unreachable": "127.0.0.1:9", "bridge_python": BRIDGE_PYTHON,
              "project_root": PROJECT_ROOT, "steps": STEPS}
    report, stopped_after = run_gimp(gimp_root, plugin_dir, "e2e_batch.py", params, tmp_path,
                                     "PYTHONPATH=/opt/direct-site" if transport == "direct" else "",
                                     cancel_like_gimp(gimp_root, server))
    calls = report["calls"]
    failed = {label: call.get("error") for label, call in calls.items()
              if call["status"] != "success" and label not in ("no settings", "one layer", "unreachable settings",
                                                               "unreachable", "forced direct", "cancelled")}
    assert not failed, failed
    assert report["gimp_has_grpc"] == (transport == "direct")

    # no settings file: auto transport, default address
    if transport == "direct":
        if port_is_free(50051):
            assert "Cannot reach the GAN Collage server at 127.0.0.1:50051" in calls["no settings"]["error"]
    else:
        assert "no gRPC and no bridge is configured" in calls["no settings"]["error"]
    assert calls["no settings"]["new"] == []
    via = "via direct gRPC" if transport == "direct" else f"via bridge ({BRIDGE_PYTHON})"
    assert via in calls["settings"]["value"] and report["settings_file"] in calls["settings"]["value"]

    def new(label):
        return [(n["name"], n["x"], n["y"], n["width"], n["height"], n["parent"], n["below"])
                for n in calls[label]["new"]]

    model = "default"
    # realize: the region of interest (selection box (8, 8)-(40, 32) + 4 px margin, made square and moved
    # inside the canvas: (4, 0, 40)), above the selected layer, masked by the selection; nothing changes
    # outside the selection
    assert new("realize") == [(f"Realized (regressor, {model}, seed 0)", 4, 0, 40, 40, None, "patch")]
    assert calls["realize"]["value"] == f"Realized (regressor, {model}, seed 0)"
    above, below, outside = report["realize_mask"]  # feathered inward: never above the selection
    assert above == 0 and outside == 0 and below > 0
    assert report["refine_mask"] == [0, 0, 0]  # feather 0: the selection itself
    assert report["composite_changed_outside_selection"] == 0 and 0 < report["selected_pixels"] < 32 * 24
    assert new("refine") == [(f"Realized (optimize, {model}, seed 3, {STEPS} steps)", 4, 0, 40, 40, None, "masked")]
    # model-resolution results: scaled and cropped onto the source layer, above it (here inside its group)
    assert new("project") == [(f"Projection of child (hybrid, {model}, seed 0, {STEPS} steps)", 40, 4, 16, 16,
                               "group", "child")]
    assert new("interpolate") == [(f"Frame {i} (80ms)", 0, 0, 64, 48, None, below)
                                  for i, below in ((3, "Frame 2 (80ms)"), (2, "Frame 1 (80ms)"), (1, "patch"))]
    assert new("style-mix") == [(f"Style mix of child + masked (split 2, {model})", 40, 4, 16, 16, None, "masked")]
    assert new("local-blend") == [(f"Local blend of background + patch (from layer 1, {model})", 0, 0, 64, 48,
                                   None, "patch")]

    # the user's layers and selection were never touched
    originals = {entry["name"]: entry for entry in report["before"]}
    after = {entry["name"]: entry for entry in report["after"] if entry["name"] in originals}
    assert after == originals
    assert report["selection_unchanged"]

    # errors: a clear message, a PDB error status, the image unchanged
    assert report["unchanged_after_errors"]
    assert calls["one layer"]["status"] == "execution-error"
    assert "Select exactly two layers" in calls["one layer"]["error"]
    for label in ("unreachable settings", "unreachable"):
        assert calls[label]["status"] == "execution-error"
        assert "Cannot reach the GAN Collage server at 127.0.0.1:9. Start it with:" in calls[label]["error"]
        assert "--port 9" in calls[label]["error"]
    if transport == "direct":
        assert calls["forced direct"]["status"] == "success"
    else:
        assert "GIMP's Python cannot use gRPC" in calls["forced direct"]["error"]

    # cancel: GIMP kills the plug-in; the server drops the job (10000 steps would take minutes)
    log(f"cancelled call: {calls['cancelled']}")
    assert calls["cancelled"]["status"] != "success" and report["unchanged_after_cancel"]
    assert stopped_after is not None and stopped_after < 10


# ------------------------------------------------------------------------------------ dialogs


@contextlib.contextmanager
def xvfb(root: Path):
    """An X server inside the chroot (the network namespace, and so its abstract socket, is shared): ":N"."""
    for stale in (*root.glob("tmp/.X*-lock"), *root.glob("tmp/.X11-unix/X*")):  # left by earlier runs' kill
        stale.unlink()
    read, write = os.pipe()
    process = subprocess.Popen(in_root(root, "Xvfb", "-displayfd", str(write), "-nolisten", "tcp", "-screen", "0",
                                       "800x600x24"), pass_fds=(write,), stderr=subprocess.DEVNULL)
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], 30)
        number = os.read(read, 32).decode().strip() if ready else ""
        if not number:
            pytest.fail("Xvfb did not start in the chroot")
        yield f":{number}"
    finally:
        os.close(read)
        process.kill()  # unshare ignores SIGTERM; killed, it takes Xvfb with it (--kill-child)
        process.wait(timeout=30)


def confirm_dialogs(root: Path, display: str):
    """Press OK (Return) on every dialog the plug-in opens until GIMP exits; the dialogs' titles seen."""
    def xdotool(*args: str) -> str:
        return subprocess.run(in_root(root, "xdotool", *args, env=(f"DISPLAY={display}",)), capture_output=True,
                              text=True, timeout=30).stdout

    def during(gimp) -> set:
        titles = set()
        while gimp.poll() is None:
            windows = xdotool("search", "--onlyvisible", "--name", ".").split()
            if windows:
                titles.add(xdotool("getwindowname", windows[-1]).strip())
                time.sleep(0.3)  # let GTK finish showing it
                xdotool("windowfocus", "--sync", windows[-1], "key", "Return")
            time.sleep(0.2)
        return titles

    return during


def test_dialogs_in_gimp(gimp_root, server, plugin_dir, tmp_path):
    """Every procedure run interactively, its dialog confirmed as it opens (the settings dialog shows the file)."""
    params = {"server": server, "bridge_python": BRIDGE_PYTHON}
    with xvfb(gimp_root) as display:
        report, titles = run_gimp(gimp_root, plugin_dir, "dialogs_batch.py", params, tmp_path,
                                     f"DISPLAY={display} PYTHONPATH=/opt/direct-site",
                                     confirm_dialogs(gimp_root, display))
    statuses = {name: result for name, result in report.items() if isinstance(result, dict) and "status" in result}
    assert all(result["status"] == "success" for result in statuses.values()), statuses
    assert len(statuses) == 7
    assert titles == {"Server settings...", "Realize collage - fast...", "Realize collage - refine...",
                      "Project layer...", "Interpolate two layers...", "Mix styles...", "Local blend..."}
    # OK on the prefilled settings dialog saved what the file held
    assert (report["settings_file"]["server"], report["settings_file"]["bridge_python"]) == (server, BRIDGE_PYTHON)
    assert len(report["layers"]) == 2 + 1 + 1 + 1 + 8 + 1 + 1
