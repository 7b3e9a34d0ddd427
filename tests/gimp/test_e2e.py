"""The plug-in in a real GIMP 3.0 (a Debian trixie chroot built by ../shared/gimp3), against a real server.

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
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from server.models.loading import embedded_beside
from server.tools.server_process import server as server_process
from tests.support.models import make_tiny_model
from tests.support.paths import REPO, SHARED, conformance_file
from tests.support.plugin import closed_port

GIMP3 = SHARED / "gimp3"
CACHE = Path(os.environ.get("GANCOLLAGE_GIMP3_CACHE", "/var/cache/gancollage-gimp3"))
ROOT = CACHE / "gimp-only"
HERE = Path(__file__).resolve().parent
EMBEDDED = REPO / "server" / "models" / "embedded" / "model.json"
GRPCIO = "PYTHONPATH=/opt/direct-site"  # GIMP's python3 with grpcio (installed there by prepare-root.sh)
STEPS = 2
SCREENSHOTS = os.environ.get("GANCOLLAGE_SCREENSHOTS")  # a host folder: keep the dialogs' screenshots there

pytestmark = pytest.mark.skipif(not GIMP3.is_dir(), reason=f"{GIMP3} not found: the GIMP 3 chroot scripts "
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


@pytest.fixture(scope="module")
def gimp_root() -> Path:
    if os.geteuid() != 0:
        pytest.fail("the GIMP 3 end-to-end tests need root (chroot, unshare); CI runs as root")
    try:
        prepare_root()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    return ROOT


@pytest.fixture(scope="module")
def unzipped_plugin(packaged_plugin, tmp_path_factory) -> Path:
    """gan_collage.zip unpacked as unzip does it (the permissions the zip records applied)."""
    target = tmp_path_factory.mktemp("unzipped")
    with zipfile.ZipFile(packaged_plugin.parent / "gan_collage.zip") as archive:
        for entry in archive.infolist():
            archive.extract(entry, target)
            (target / entry.filename).chmod(entry.external_attr >> 16 & 0o777)
    return target / "gan_collage"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`python -m server` on the host's loopback (the chroot shares the network): a ServerProcess, whose
    log_lines hold its log."""
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
    with server_process("--model", model) as running:
        yield running


@pytest.fixture(scope="module")
def server(served) -> str:
    return served.address


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


@pytest.mark.parametrize("stack", ["pure-python", "grpcio"])
def test_every_procedure_in_gimp(stack, gimp_root, server, packaged_plugin, unzipped_plugin, tmp_path):
    """The packaged folder copied by hand (pure-Python), and the zip unpacked (grpcio)."""
    unreachable = f"127.0.0.1:{closed_port()}"
    params = {"server": server, "unreachable": unreachable, "steps": STEPS}
    plugin = packaged_plugin if stack == "pure-python" else unzipped_plugin
    assert os.access(plugin / "gan_collage.py", os.X_OK)
    report, stopped_after = run_gimp(gimp_root, plugin, "e2e_batch.py", params, tmp_path,
                                     GRPCIO if stack == "grpcio" else "", cancel_like_gimp(gimp_root, server))
    calls = report["calls"]
    errors = ("one layer", "split too high", "indexed", "huge canvas", "damaged settings", "unreachable settings",
              "unreachable", "forced grpcio", "cancelled")
    failed = {label: call.get("error") for label, call in calls.items()
              if call["status"] != "success" and label not in errors}
    assert not failed, failed
    assert report["gimp_has_grpc"] == (stack == "grpcio")
    through = "grpcio " if stack == "grpcio" else "pure-Python gRPC (grpclib 0.4.9)"
    assert f"through {through}" in calls["settings"]["value"] and report["settings_file"] in calls["settings"]["value"]

    def new(label):
        return [(n["name"], n["x"], n["y"], n["width"], n["height"], n["parent"], n["below"])
                for n in calls[label]["new"]]

    model = "default"
    # realize: the region of interest (selection box (8, 8)-(40, 32) + 4 px margin, made square and moved
    # inside the canvas: (4, 0, 40)), above the selected layer, masked by the selection; nothing changes
    # outside the selection. The regressor has no seed: the name says none.
    assert new("realize") == [(f"Realized (regressor, {model})", 4, 0, 40, 40, None, "patch")]
    assert calls["realize"]["value"] == f"Realized (regressor, {model})"
    above, below, outside = report["realize_mask"]  # feathered inward: never above the selection
    assert above == 0 and outside == 0 and below > 0
    assert report["refine_mask"] == [0, 0, 0]  # feather 0: the selection itself
    assert report["composite_changed_outside_selection"] == 0 and 0 < report["selected_pixels"] < 32 * 24
    # "Visible layers" leaves GAN Collage's own results out unless asked to take them
    assert report["again_is_the_same"] is True and report["with_results_differs"] is True
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
    assert report["unchanged_after_errors"], report["changed_by_errors"]
    for label in errors[:-2]:
        assert calls[label]["status"] == "execution-error" and calls[label]["new"] == [], label
    assert "Select exactly two layers" in calls["one layer"]["error"]
    assert "Split is 50, but the model 'default' has" in calls["split too high"]["error"]
    assert calls["split too high"]["seconds"] < 5  # refused before projecting either layer
    assert "this one is indexed" in calls["indexed"]["error"] and "Image > Mode > RGB" in calls["indexed"]["error"]
    assert (report["indexed_type"], report["indexed_layers"]) == ("indexed", 1)  # nothing added, nothing posterised
    assert "20000 x 20000 pixels; the GAN Collage server takes images up to" in calls["huge canvas"]["error"]
    assert calls["huge canvas"]["seconds"] < 5  # refused before reading or uploading anything
    assert calls["damaged settings"]["error"].startswith("GAN Collage's settings file cannot be used. Open Filters")
    port = unreachable.rsplit(":", 1)[1]
    for label in ("unreachable settings", "unreachable"):
        assert f"Cannot reach the GAN Collage server at {unreachable}. Start it with:" in calls[label]["error"]
        assert f"--port {port}" in calls[label]["error"]
    if stack == "grpcio":
        assert calls["forced grpcio"]["status"] == "success"
    else:
        assert "GIMP's Python cannot use grpcio" in calls["forced grpcio"]["error"]

    # cancel: GIMP kills the plug-in; the server drops the job (10000 steps would take minutes)
    log(f"cancelled call: {calls['cancelled']}")
    assert calls["cancelled"]["status"] != "success" and report["unchanged_after_cancel"]
    assert stopped_after is not None and stopped_after < 10


def test_latents_stay_with_their_layers_through_xcf(gimp_root, served, packaged_plugin, tmp_path):
    """Realize, save as XCF, reopen: the layer still has its latent, and Edit attributes on it calls no
    projection (the server's log says which calls each step made); a plain layer is projected first."""
    address = served.address
    logged = len(served.log_lines)
    report, _ = run_gimp(gimp_root, packaged_plugin, "latents_batch.py", {"server": address}, tmp_path, "",
                         lambda gimp: None)
    calls = report["calls"]
    assert {label: call["status"] for label, call in calls.items()} == {
        "settings": "success", "realize": "success", "edit stored": "success", "edit photo": "success",
        "interpolate stored": "success", "unknown direction": "execution-error", "no change": "execution-error"}
    # Realize, then (after the reopen) Edit on the stored latent, Edit on the plain layer, Interpolate; the
    # two refused edits only asked for the names
    assert calls_logged(served.log_lines[logged:]) == [
        "Realize OK", "ListDirections OK", "EditLatent OK", "Project OK", "ListDirections OK", "EditLatent OK",
        "Interpolate OK", "ListDirections OK", "ListDirections OK"]

    realized = calls["realize"]["layer"]
    model = realized["latent_header"]["model"]
    header = realized["latent_header"]
    assert realized["latent_magic"] == list(b"GCL\x02") and header["kind"] == "w_plus" and header["shape"][0] > 0
    assert realized["latent_bytes"] > 4 * header["shape"][0] * header["shape"][1]
    (reopened,) = [layer for layer in report["reopened"] if layer["name"] == realized["name"]]
    assert reopened == realized  # pixels, mask and the latent's bytes, as saved
    assert [layer["latent_sha"] for layer in report["reopened"] if layer["name"] in ("background", "photo")] == \
        [None, None]

    edited = calls["edit stored"]["layer"]
    assert edited["name"] == f"Edited {realized['name']} (pc1 +2, sefa1 -1; fine rows, {model})"
    # same placement and mask as the source; its own (edited) latent for the same square
    assert edited["box"] == realized["box"] and edited["mask_sha"] == realized["mask_sha"]
    assert edited["sha"] != realized["sha"] and edited["latent_sha"] not in (None, realized["latent_sha"])
    assert edited["latent_header"]["square"] == realized["latent_header"]["square"]
    photo = calls["edit photo"]["layer"]
    assert photo["name"] == f"Edited photo (pc2 +1.5; all rows, {model})" and photo["box"] == [40, 30, 20, 14]
    assert photo["latent_header"]["square"] == [0, -3, 20]  # the square its projection stands for: (dx, dy, size)
    assert calls["interpolate stored"]["layer"]["latent_sha"] is not None

    assert "no direction called 'no_such_direction'" in calls["unknown direction"]["error"]
    assert "No attribute change was asked for" in calls["no change"]["error"]
    assert report["unchanged_after_errors"]
    assert report["after"] == report["before"] and report["realized_after"] == realized  # never touched
    log(f"Edit with the stored latent {calls['edit stored']['seconds']} s, with a projection "
        f"{calls['edit photo']['seconds']} s")


def test_crafted_latents_in_gimp(gimp_root, served, packaged_plugin, tmp_path):
    """A layer whose latent parasite was crafted (a 16384 px square on the 48 px layer, Infinity, NaN, far away;
    values NaN or past the server's limit): Edit attributes, Interpolate and Mix styles project the layer again,
    each within 5 s and a bounded memory, say so, and leave the layers as they were. Server settings refuses a
    token that cannot travel in gRPC metadata, with the reason, and keeps the settings file."""
    report, samples = run_gimp(gimp_root, packaged_plugin, "crafted_batch.py", {"server": served.address}, tmp_path,
                               "", sample_memory(gimp_root))
    calls = report["calls"]
    figures = {label: (call["seconds"], *growth(samples, call["started"], call["ended"]))
               for label, call in calls.items() if "started" in call}
    for label, (seconds, resident, used) in figures.items():
        log(f"{label}: {seconds:.2f} s; GIMP and the plug-in +{resident:.0f} MB, the machine +{used:.0f} MB")
    failed = {label: call.get("error") for label, call in calls.items()
              if call["status"] != "success" and label != "bad token"}
    assert not failed, failed
    assert len(figures) == 6 * 3 and all(seconds < 5 and resident < 400 for seconds, resident, _ in figures.values())
    assert report["changed"] == []
    said = (tmp_path / "gimp-output.txt").read_text().count("The latent stored with the layer 'photo' could not be "
                                                            "used (it is damaged, or GAN Collage did not make it), "
                                                            "so the layer was projected again.")
    assert said == len(figures)
    assert calls["bad token"]["status"] == "execution-error" and report["settings_unchanged"]
    assert calls["bad token"]["error"].startswith("GAN Collage settings were not saved. The token cannot be used: "
                                                  "it holds 'é', and a token may hold only ASCII letters")


STYLEMAP_MODEL = "stylemapgan_s32"


@pytest.fixture(scope="module")
def stylemap_served(tmp_path_factory):
    """`python -m server` with the shared StyleMapGAN checkpoint in its --models-dir (a 32 px model with an
    8 x 8 x 64 stylemap, random weights), served as STYLEMAP_MODEL."""
    folder = tmp_path_factory.mktemp("stylemap-models")
    shutil.copy(conformance_file(f"{STYLEMAP_MODEL}.pt"), folder)
    with server_process("--models-dir", str(folder)) as running:
        yield running


def test_a_stylemap_model_in_gimp(gimp_root, stylemap_served, packaged_plugin, tmp_path):
    """The plug-in (pure-Python gRPC) set to a StyleMapGAN model: Realize, Local blend of two results (the
    whole-stylemap blend keeps its stylemap), the every-level blend and Mix styles (no latent), Interpolate,
    Edit attributes; the stylemap parasites survive an XCF save and reopen and are used again, unprojected
    (the server's log says which calls each step made)."""
    logged = len(stylemap_served.log_lines)
    report, _ = run_gimp(gimp_root, packaged_plugin, "stylemap_batch.py",
                         {"server": stylemap_served.address, "model": STYLEMAP_MODEL}, tmp_path, "", lambda gimp: None)
    calls = report["calls"]
    failed = {label: call.get("error") for label, call in calls.items()
              if call["status"] != "success" and label != "edit fine"}
    assert not failed, failed
    assert calls["settings"]["status"] == "success"
    assert f"{STYLEMAP_MODEL} (32 px, 8x8x64 stylemap, regressor)" in calls["settings"]["value"]
    # no layer with a stylemap of its own was projected again, before or after the reopen; the edit of the
    # coarse/middle/fine third was refused before any call
    assert calls_logged(stylemap_served.log_lines[logged:]) == [
        "Realize OK", "Realize OK", "LocalBlend OK", "LocalBlend OK", "StyleMix OK", "Interpolate OK",
        "ListDirections OK", "EditLatent OK", "Project OK", "Interpolate OK", "ListDirections OK", "EditLatent OK"]

    def stylemap_of(label):
        layer = calls[label]["layer"]
        header = layer["latent_header"]
        assert layer["latent_magic"] == list(b"GCL\x02"), label
        assert (header["kind"], header["shape"], header["model"]) == ("stylemap", [64, 8, 8], STYLEMAP_MODEL), label
        return layer

    realized, blend = stylemap_of("realize"), stylemap_of("blend")
    assert realized["name"] == f"Realized (regressor, {STYLEMAP_MODEL})"
    assert realized["latent_bytes"] == 8 + len(json.dumps(realized["latent_header"], separators=(",", ":"))) \
        + 4 * 64 * 8 * 8
    assert blend["name"].endswith(f"(whole stylemap, {STYLEMAP_MODEL})")
    assert blend["latent_sha"] not in (realized["latent_sha"], stylemap_of("realize canvas")["latent_sha"])
    levels, mixed = calls["blend levels"]["layer"], calls["mix"]["layer"]
    assert levels["name"].endswith(f"(every level from 2, {STYLEMAP_MODEL})") and levels["latent_sha"] is None
    assert mixed["name"].endswith(f"(split 3, {STYLEMAP_MODEL})") and mixed["latent_sha"] is None
    for label in ("interpolate", "edit all", "project photo", "interpolate reopened", "edit reopened"):
        stylemap_of(label)
    assert calls["edit all"]["layer"]["name"] == f"Edited {blend['name']} (pc1 +2, pc2 -1; all rows, {STYLEMAP_MODEL})"
    assert calls["edit fine"]["status"] == "execution-error" and calls["edit fine"]["seconds"] < 5
    assert (f"The model '{STYLEMAP_MODEL}' keeps its latent as a stylemap, so an edit moves all of it"
            in calls["edit fine"]["error"])
    # the stylemaps, pixels and masks as saved
    assert report["reopened"] == {"realize": realized, "blend": blend, "edit all": calls["edit all"]["layer"]}
    assert calls["edit reopened"]["layer"]["latent_header"]["square"] == blend["latent_header"]["square"]
    assert report["after"] == report["before"]
    timings = ", ".join(f"{label} {call['seconds']} s" for label, call in calls.items())
    log(f"StyleMapGAN in GIMP: {timings}")


def test_a_source_folder_copied_by_hand_registers_and_says_what_to_do(gimp_root, tmp_path):
    """gimp_plugin/gan_collage copied without vendor/: every procedure is in the menu and explains the fix."""
    report, _ = run_gimp(gimp_root, REPO / "gimp_plugin" / "gan_collage", "incomplete_batch.py", {}, tmp_path, "",
                         lambda gimp: None)
    names = ("realize", "refine", "project", "interpolate", "style-mix", "local-blend", "edit", "settings")
    assert all(report[name] is not None for name in names), report
    for name in names:
        assert report[name]["paths"] == ["<Image>/Filters/Generative/GAN Collage"]
        assert report[name]["status"] == "execution-error"
        assert "is incomplete" in report[name]["error"] and "install.py --package-plugin OUT" in report[name]["error"]
    assert report["layers"] == 1


# ------------------------------------------------------------------------------------ dialogs


@contextlib.contextmanager
def xvfb(root: Path):
    """An X server inside the chroot (the network namespace, and so its abstract socket, is shared): ":N"."""
    for stale in (*root.glob("tmp/.X*-lock"), *root.glob("tmp/.X11-unix/X*")):  # left by earlier runs' kill
        stale.unlink()
    read, write = os.pipe()
    process = subprocess.Popen(in_root(root, "Xvfb", "-displayfd", str(write), "-nolisten", "tcp", "-screen", "0",
                                       "1024x768x24"), pass_fds=(write,), stderr=subprocess.DEVNULL)
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


def on_display(root: Path, display: str):
    """A function running a command inside `root` on the X display `display`: its stdout."""
    def run(*command: str) -> str:
        return subprocess.run(in_root(root, *command, env=(f"DISPLAY={display}",)), capture_output=True,
                              text=True, timeout=30).stdout

    return run


def screenshots_in(root: Path) -> Path:
    """A fresh folder for screenshots inside `root` (/tmp/gan-collage-shots there), screenshot.py in it."""
    inside = root / "tmp" / "gan-collage-shots"
    shutil.rmtree(inside, ignore_errors=True)
    inside.mkdir(parents=True)
    shutil.copy(HERE / "screenshot.py", inside)
    return inside


def confirm_dialogs(root: Path, display: str, shots: Path, keys: dict | None = None):
    """Photograph, then press OK (Return) on, every dialog the plug-in opens until GIMP exits; the dialogs'
    titles seen. Screenshots go to `shots` as NN-TITLE.png. `keys`: for a dialog's title, keys the artist
    presses first (xdotool's names), a second before the photograph."""
    inside = screenshots_in(root)
    in_display = on_display(root, display)

    def during(gimp) -> set:
        titles, confirmed = set(), set()
        while gimp.poll() is None:
            windows = in_display("xdotool", "search", "--onlyvisible", "--name", ".").split()
            window = windows[-1] if windows else None
            title = in_display("xdotool", "getwindowname", window).strip() if window else ""
            if (window, title) in confirmed:  # still there: closing, or the key was lost
                in_display("xdotool", "windowfocus", "--sync", window, "key", "Return")
            elif title:  # a new dialog (no title: it went away meanwhile)
                confirmed.add((window, title))
                titles.add(title)
                in_display("xdotool", "mousemove", "0", "767")  # no tooltip over the controls
                if title in (keys or {}):
                    in_display("xdotool", "windowfocus", "--sync", window, "key", "--delay", "150", *keys[title])
                    time.sleep(1.0)
                time.sleep(0.5)  # let GTK finish drawing it
                name = f"{len(list(inside.glob('*.png'))):02d}-{''.join(c if c.isalnum() else '-' for c in title)}.png"
                in_display("python3", "/tmp/gan-collage-shots/screenshot.py", f"/tmp/gan-collage-shots/{name}")
                in_display("xdotool", "windowfocus", "--sync", window, "key", "Return")
            time.sleep(0.2)
        for shot in inside.glob("*.png"):
            shutil.copy(shot, shots)
        return titles

    return during


# In Edit attributes, from OK (focused): back past Cancel to the last slider (sefa8), then two pages down (-2)
SLIDE = ["shift+Tab", "shift+Tab", "Page_Up", "Page_Up"]
# In Live preview: a key that does nothing (Close keeps the focus), so the window has a moment to show a preview
LOOK = ["shift"]


def test_dialogs_in_gimp(gimp_root, server, packaged_plugin, tmp_path):
    """Every procedure run interactively: what each dialog shows (recorded by the plug-in as it opens it),
    a screenshot of it, then OK. The settings dialog shows the file's values, the token hidden and the
    server's models; its report comes in an information box."""
    params = {"server": server}
    shots = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path / "shots"
    shots.mkdir(parents=True, exist_ok=True)
    described = gimp_root / "tmp" / "gan-collage-dialogs.jsonl"
    described.unlink(missing_ok=True)
    with xvfb(gimp_root) as display:
        report, titles = run_gimp(gimp_root, packaged_plugin, "dialogs_batch.py", params, tmp_path,
                                  f"DISPLAY={display} GAN_COLLAGE_DIALOG_REPORT=/tmp/gan-collage-dialogs.jsonl",
                                  confirm_dialogs(gimp_root, display, shots, {"Edit attributes...": SLIDE,
                                                                               "GAN Collage live preview": LOOK}))
    statuses = {name: result for name, result in report.items() if isinstance(result, dict) and "status" in result}
    assert all(result["status"] == "success" for result in statuses.values()), statuses
    assert len(statuses) == 9
    assert titles == {"Server settings...", "GAN Collage settings saved", "Realize collage - fast...",
                      "Realize collage - refine...", "Project layer...", "Interpolate two layers...",
                      "Mix styles...", "Local blend...", "Edit attributes...", "GAN Collage live preview"}
    assert len(list(shots.glob("*.png"))) == len(titles)
    # OK on the prefilled settings dialog saved what the file held
    assert (report["settings_file"]["server"], report["settings_file"]["token"]) == (server, "secret-token")
    assert len(report["layers"]) == 2 + 1 + 1 + 1 + 8 + 1 + 1 + 1
    assert "Edited upper (pc1 +2, sefa8 -2, default)" in report["layers"] and report["edited_has_latent"]

    dialogs = {entry["procedure"].removeprefix("python-fu-gan-collage-"): entry
               for entry in map(json.loads, described.read_text().splitlines())}
    settings = dialogs["settings"]
    assert settings["controls"]["token"]["hidden_text"] is True
    assert settings["models"] == ["default", *embedded_beside("default")]  # the server's, with no --model
    assert not {"Reset", "Load Saved Settings", "Save Settings"} & set(settings["buttons"])
    fast = dialogs["realize"]["controls"]
    assert "seed" not in fast and "steps" not in fast and {"feather", "margin", "include-results"} <= set(fast)
    refine = dialogs["refine"]["controls"]  # hybrid by default: optimization settings matter
    assert refine["steps"]["sensitive"] and refine["seed"]["sensitive"]
    for name in ("project", "interpolate", "style-mix", "local-blend"):  # the regressor by default
        controls = dialogs[name]["controls"]
        assert not controls["steps"]["sensitive"] and not controls["seed"]["sensitive"], name
    # Edit attributes: the model's named directions (if it has any), then 8 GANSpace and 8 SeFa ones; the
    # preview followed the slider moved (pc1 at 2 as the dialog opened, then sefa8 at -1, -2; a preview
    # still in progress when the next value came is skipped)
    edit = dialogs["edit"]
    components = [f"pc{i}" for i in range(1, 9)] + [f"sefa{i}" for i in range(1, 9)]
    assert edit["sliders"][-16:] == components and not set(edit["sliders"][:-16]) & set(components)
    assert edit["previews"][0] == [["pc1", 2.0]] and edit["previews"][-1] == [["pc1", 2.0], ["sefa8", -2.0]]
    assert edit["rows"] == "default"
    live = dialogs["live"]  # opened from the menu and closed with Return (Close has the focus): nothing added
    assert live["models"] == ["default", *embedded_beside("default")] and live["applied"] == []
    assert live["values"]["method"] == "regressor"
    log(f"the live window showed {live['previews']} previews before it was closed: {live['statuses']}")
    rows = dialogs["style-mix"]["controls"]["split"]["range"]
    assert rows == dialogs["local-blend"]["controls"]["start-layer"]["range"] and rows[0] == 0 and 2 <= rows[1] < 64


def test_stylemap_dialogs_in_gimp(gimp_root, stylemap_served, packaged_plugin, tmp_path):
    """The two-layer dialogs with a StyleMapGAN model chosen: Split and "Blend from layer" range over its 6
    resizer levels, Mix space matters (and "Blend from layer" does not while it is "Whole stylemap"), Edit
    attributes offers GANSpace directions only, with the rows a stylemap has."""
    shots = (Path(SCREENSHOTS) / "stylemap") if SCREENSHOTS else tmp_path / "shots"
    shots.mkdir(parents=True, exist_ok=True)
    described = gimp_root / "tmp" / "gan-collage-dialogs.jsonl"
    described.unlink(missing_ok=True)
    params = {"server": stylemap_served.address, "model": STYLEMAP_MODEL, "edits": "pc1=2",
              "procedures": ["style-mix", "local-blend", "edit"]}
    with xvfb(gimp_root) as display:
        report, titles = run_gimp(gimp_root, packaged_plugin, "dialogs_batch.py", params, tmp_path,
                                  f"DISPLAY={display} GAN_COLLAGE_DIALOG_REPORT=/tmp/gan-collage-dialogs.jsonl",
                                  confirm_dialogs(gimp_root, display, shots))
    statuses = {name: result["status"] for name, result in report.items() if isinstance(result, dict)
                and "status" in result}
    assert statuses == {"style-mix": "success", "local-blend": "success", "edit": "success"}, report
    assert titles == {"Mix styles...", "Local blend...", "Edit attributes..."}
    dialogs = {entry["procedure"].removeprefix("python-fu-gan-collage-"): entry
               for entry in map(json.loads, described.read_text().splitlines())}
    split = dialogs["style-mix"]["controls"]["split"]
    blend = dialogs["local-blend"]["controls"]
    assert split["range"] == blend["start-layer"]["range"] == [0, 6]
    assert blend["mix-space"]["sensitive"] and not blend["start-layer"]["sensitive"]
    edit = dialogs["edit"]
    assert edit["sliders"] and all(name.startswith("pc") for name in edit["sliders"])
    assert any(name.startswith("Edited upper (pc1 +2") for name in report["layers"]) and report["edited_has_latent"]


def test_settings_dialog_refuses_a_token_that_cannot_travel(gimp_root, server, packaged_plugin, tmp_path):
    """The settings file holds a token that cannot travel in gRPC metadata (written by hand): the settings
    dialog shows it; OK is refused in the dialog, with the reason, and the dialog stays open; Cancel then
    leaves the file as it was."""
    described = gimp_root / "tmp" / "gan-collage-dialogs.jsonl"
    described.unlink(missing_ok=True)
    inside = screenshots_in(gimp_root)

    def refuse_then_cancel(display: str):
        in_display = on_display(gimp_root, display)

        def during(gimp) -> list:
            window = ""
            while not window and gimp.poll() is None:
                window = in_display("xdotool", "search", "--onlyvisible", "--name", "Server settings").strip()
                time.sleep(0.2)
            in_display("xdotool", "windowfocus", "--sync", window, "key", "Return")
            wait_for(lambda: "refused" in (described.read_text() if described.exists() else ""), 30, "the refusal")
            time.sleep(0.5)  # let GTK draw it
            in_display("python3", "/tmp/gan-collage-shots/screenshot.py", "/tmp/gan-collage-shots/refused.png")
            still_open = in_display("xdotool", "search", "--onlyvisible", "--name", "Server settings").strip()
            in_display("xdotool", "windowfocus", "--sync", window, "key", "Escape")
            return [window, still_open]

        return during

    params = {"server": server, "token": "clé", "procedures": ["settings"]}
    with xvfb(gimp_root) as display:
        report, (window, still_open) = run_gimp(
            gimp_root, packaged_plugin, "dialogs_batch.py", params, tmp_path,
            f"DISPLAY={display} GAN_COLLAGE_DIALOG_REPORT=/tmp/gan-collage-dialogs.jsonl", refuse_then_cancel(display))
    if SCREENSHOTS:
        shutil.copy(inside / "refused.png", Path(SCREENSHOTS) / "settings-refused-token.png")
    refusals = [entry["refused"] for entry in map(json.loads, described.read_text().splitlines()) if "refused" in entry]
    assert refusals == ["The token cannot be used: it holds 'é', and a token may hold only ASCII letters, digits, "
                        "punctuation and spaces. Enter the token the GAN Collage server was started with (its "
                        "--token)."]
    assert window and still_open == window  # refused in the dialog, which stayed open
    assert report["settings"]["status"] == "cancel" and report["settings_file"]["token"] == "clé"


# ------------------------------------------------------------------------------------ live preview


def test_live_preview_with_a_stylemap_model(gimp_root, stylemap_served, packaged_plugin, tmp_path):
    """The Live preview window set to a StyleMapGAN model: previews, Apply (the layer keeps the preview's
    stylemap) and Refine from that stylemap, the artist's layers untouched."""
    params = {"server": stylemap_served.address, "model": STYLEMAP_MODEL, "mode": "test", "side": 96,
              "selection": [16, 16, 56, 48], "values": {"refine-steps": 3}}
    with xvfb(gimp_root) as display:
        report, _ = run_gimp(gimp_root, packaged_plugin, "live_batch.py", params, tmp_path, f"DISPLAY={display}",
                             lambda gimp: None, timeout=240)
    assert "error" not in report, report["error"]
    if SCREENSHOTS:
        shutil.copy(tmp_path / "out" / "live-window.png", Path(SCREENSHOTS) / "live-window-stylemap.png")
    assert report["first_status"].startswith("Updated in ") and report["moved_preview"]["differs"]
    apply = report["apply"]
    assert apply["after"] == apply["before"] and apply["count_after"] == apply["count"] + 1
    new = apply["new"]
    assert new["name"] == f"Realized (regressor, {STYLEMAP_MODEL})"
    assert new["latent_bytes"] > 4 * 64 * 8 * 8  # the stylemap and its header
    refine = report["refine"]
    assert refine["applied"][-1] == f"Realized (optimize, {STYLEMAP_MODEL}, seed 0, 3 steps)", refine["status"]
    assert refine["after"] == refine["before"] and refine["new"]["latent_bytes"] == new["latent_bytes"]
    assert not [text for text in report["statuses"] if "Cannot reach" in text or "problem" in text]


def test_live_preview_in_gimp(gimp_root, server, packaged_plugin, tmp_path):
    """The Live preview window on an Xvfb display (tests/gimp/live_batch.py plays the artist): it shows a
    preview, follows a layer moved through the PDB, Apply adds the layer as Realize would (above the
    selected layer, masked by the selection, with its latent; the selected layer stays selected) and
    leaves the artist's layers byte-identical, Apply right after a change waits for that change's preview,
    Refine optimizes from the preview and adds that."""
    from server.shared.defaults import DEFAULT_MARGIN
    from server.shared.region import Bounds, region_square

    selection = [16, 16, 56, 48]
    params = {"server": server, "mode": "test", "side": 96, "selection": selection, "values": {"refine-steps": 3}}
    with xvfb(gimp_root) as display:
        report, _ = run_gimp(gimp_root, packaged_plugin, "live_batch.py", params, tmp_path, f"DISPLAY={display}",
                             lambda gimp: None, timeout=240)
    assert "error" not in report, report["error"]
    photo = tmp_path / "out" / "live-window.png"
    if SCREENSHOTS:
        shutil.copy(photo, Path(SCREENSHOTS) / "live-window.png")
    assert photo.stat().st_size > 10_000
    assert report["first_status"].startswith("Updated in ") and report["moved_preview"]["differs"]
    assert report["moved_preview"]["status"].startswith("Updated in ")
    log(f"a moved layer was previewed {1000 * report['moved_preview']['latency']:.0f} ms after the move")
    painted = report["painted_preview"]  # pixels changed, nothing moved: the probe saw it before a recheck
    assert painted["latency"] < 0.9 and not painted["by_recheck"], painted

    apply = report["apply"]
    assert apply["after"] == apply["before"] and apply["count_after"] == apply["count"] + 1
    new = apply["new"]
    assert new["name"] == "Realized (regressor, default)" and new["latent_bytes"] and new["mask_sha"]
    x, y, width, height = selection
    region = region_square(Bounds(x, y, x + width, y + height), 96, 96, DEFAULT_MARGIN).bounds
    crop = region.intersect(Bounds(0, 0, 96, 96))
    assert new["box"] == [crop.x0, crop.y0, crop.width, crop.height]
    assert apply["position"] == ["patch", new["name"], "photo", "background"]  # above the selected layer
    assert apply["selected_after"] == apply["selected_before"] == ["photo"]

    pending = report["pending"]
    assert pending["waited"] and pending["for_the_change"] and pending["after"] == pending["before"]
    assert pending["new"]["sha"] != new["sha"]  # the patch moved back: another picture

    refine = report["refine"]
    assert refine["label_while"] == "_Stop refining" and refine["label_after"] == "_Refine"
    assert refine["applied"][-1] == "Realized (optimize, default, seed 0, 3 steps)", refine["status"]
    assert refine["after"] == refine["before"] and refine["new"]["latent_bytes"]
    assert not [text for text in report["statuses"] if "Cannot reach" in text or "problem" in text]
    assert report["closed"] == {"status": "The image was closed. Close this window, or open it again on another "
                                          "image.", "apply": False, "refine": False}
    assert report["non_interactive"]["status"] == "calling-error"
    assert "open it from the menu" in report["non_interactive"]["message"]
