"""Running the plug-in in a real GIMP 3.0 (a Debian trixie chroot built by ../shared/gimp3), against a real server.

The plug-in is the folder `install.py --package-plugin` makes, copied by hand into a fresh profile. In
the chroot GIMP's python3 has neither grpcio nor protobuf and no server environment exists. One GIMP run
per gRPC stack calls every procedure non-interactively through the PDB (tests/gimp/e2e_batch.py), then
cancels a long one the way GIMP does (killing the plug-in): the plug-in's own pure-Python stack, and
grpcio (given to GIMP's python3 through PYTHONPATH). One run opens every dialog on an Xvfb display,
records what each shows, photographs it and confirms it (tests/gimp/dialogs_batch.py); one runs the
source folder copied without its vendor/ (tests/gimp/incomplete_batch.py); one works with a StyleMapGAN
model served from --models-dir (tests/gimp/stylemap_batch.py). The chroot is cached in
$GANCOLLAGE_GIMP3_CACHE (default /var/cache/gancollage-gimp3) and reused. Needs root. Skips only when
../shared/gimp3 is absent (users' machines); a chroot that cannot be built fails the test.

This module holds what the GIMP tests (tests/gimp/test_*_in_gimp.py) and the benchmarks
(click_bench.py, live_bench.py) share to run GIMP: the chroot, `run_gimp`, the processes and memory
inside the chroot, the server's logged calls, and GIMP's Cancel; gimp_display.py the X display and
dialogs, conftest.py the fixtures (the chroot, the servers, the unzipped plug-in).
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from importlib import metadata
from pathlib import Path

import pytest

from tests.support.paths import REPO, SHARED

GIMP3 = SHARED / "gimp3"
CACHE = Path(os.environ.get("GANCOLLAGE_GIMP3_CACHE", "/var/cache/gancollage-gimp3"))
ROOT = CACHE / "gimp-only"
HERE = Path(__file__).resolve().parent
EMBEDDED = REPO / "server" / "models" / "embedded" / "model.json"
GRPCIO = "PYTHONPATH=/opt/direct-site"  # GIMP's python3 with grpcio (installed there by prepare-root.sh)
STEPS = 2
SCREENSHOTS = os.environ.get("GANCOLLAGE_SCREENSHOTS")  # a host folder: keep the dialogs' screenshots there
STYLEMAP_MODEL = "stylemapgan_s32"

needs_gimp3 = pytest.mark.skipif(not GIMP3.is_dir(), reason=f"{GIMP3} not found: the GIMP 3 chroot scripts "
                                "are only in the project's shared folder (CI and developers' machines)")


def log(text: str) -> None:
    print(f"[gimp e2e] {text}", file=sys.stderr, flush=True)


def prepare_root() -> Path:
    """The cached GIMP 3 chroot, built or refreshed by tests/gimp/prepare-root.sh (RuntimeError if it fails)."""
    packages = " ".join(f"{name}=={metadata.version(name)}" for name in ("grpcio", "protobuf"))
    started = time.monotonic()
    done = subprocess.run([str(HERE / "prepare-root.sh"), str(GIMP3), str(ROOT)], capture_output=True, text=True,
                          env=dict(os.environ, PIP_PACKAGES=packages), timeout=1200)
    if done.returncode != 0:
        raise RuntimeError(f"cannot build the GIMP 3 chroot in {ROOT} (exit {done.returncode}):\n"
                           f"{done.stderr[-4000:]}")
    log(f"chroot {ROOT} ready in {time.monotonic() - started:.1f} s")
    return ROOT


CALL_LOGGED = re.compile(r"/gancollage\.v1\.GanCollage/(\w+) (\w+) ")


def calls_logged(lines: list[str]) -> list[str]:
    """The server's calls in these log lines, "Method CODE", leaving out the questions every action asks first."""
    found = [" ".join(match.groups()) for match in map(CALL_LOGGED.search, lines) if match]
    return [entry for entry in found if entry.split()[0] not in ("GetServerInfo", "ListModels")]


def queue_length(address: str) -> int:
    from server.shared.grpcio_client import GrpcioClient

    with GrpcioClient(address) as client:
        (event,) = client.call("GetServerInfo", {}, 10)
    return event["result"]["queue_length"]


def in_root(root: Path, *command: str, env: tuple[str, ...] = ()) -> list[str]:
    """`command` inside the chroot (see tests/gimp/in-root.sh)."""
    return [str(HERE / "in-root.sh"), str(root), *env, *command]


def processes_in(root: Path, named: bytes = b"") -> list[Path]:
    """The /proc entries of the processes inside `root` (whose command line holds `named`), seen from the host."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if (entry.name.isdigit() and named in (entry / "cmdline").read_bytes()
                    and os.readlink(entry / "root") == str(root)):
                found.append(entry)
        except OSError:  # gone meanwhile
            continue
    return found


def plugin_processes(root: Path) -> list[int]:
    """The plug-in's processes inside `root`, seen from the host."""
    return [int(entry.name) for entry in processes_in(root, b"gan_collage.py")]


def memory_mb(root: Path) -> tuple[float, float]:
    """(MB resident in every process inside `root`: GIMP and its plug-ins, MB the machine uses)."""
    resident = 0
    for entry in processes_in(root):
        with contextlib.suppress(OSError, StopIteration):  # gone meanwhile
            resident += int(next(line for line in (entry / "status").read_text().splitlines()
                                 if line.startswith("VmRSS:")).split()[1])
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    used = int(meminfo["MemTotal"].split()[0]) - int(meminfo["MemAvailable"].split()[0])
    return resident / 1024, used / 1024


def sample_memory(root: Path):
    """`during` for run_gimp: (time.time(), *memory_mb) every 50 ms until GIMP exits."""
    def during(gimp) -> list:
        samples = []
        while gimp.poll() is None:
            samples.append((time.time(), *memory_mb(root)))
            time.sleep(0.05)
        return samples

    return during


def growth(samples: list, started: float, ended: float) -> tuple[float, float]:
    """How far each memory figure rose from the last sample before `started` to its peak until `ended`."""
    before = [sample for sample in samples if sample[0] < started][-1]
    during = [sample for sample in samples if started <= sample[0] <= ended] or [before]
    return tuple(max(sample[i] for sample in during) - before[i] for i in (1, 2))


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
    JSON report, what `during` returned.) GIMP's output is kept in tmp_path/gimp-output.txt."""
    inputs, outputs = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    (inputs / "params.json").write_text(json.dumps(params))
    shutil.copy(HERE / "batch_tools.py", inputs)
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
    (tmp_path / "gimp-output.txt").write_text(output)
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
