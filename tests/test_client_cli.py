"""`python -m server.client` end to end against a `python -m server` process, plus its pure helpers."""
from __future__ import annotations

import json
import signal
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import REPO
from server.client.cli import exit_code
from server.client.images import parse_layer
from server.tools.server_process import server as server_process
from test_server_fixtures import python_env, run_client

pytest_plugins = ("test_server_fixtures",)  # its fixtures: model_paths, catalog, served

RESOLUTION = 32


@pytest.fixture(scope="module")
def server(model_paths):
    default, models_dir = model_paths
    with server_process("--model", str(default), "--models-dir", str(models_dir)) as running:
        yield running.process, running.address


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    bottom = rng.integers(0, 256, (30, 40, 4), dtype=np.uint8)
    bottom[..., 3] = 255
    Image.fromarray(bottom, "RGBA").save(folder / "bottom.png")
    Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8), "RGB").save(folder / "top.png")
    selection = np.zeros((30, 40), np.uint8)
    selection[5:25, 10:30] = 255
    Image.fromarray(selection, "L").save(folder / "selection.png")
    return folder


def client(server, *args):
    _, address = server
    return run_client(*args, "--server", address)


def test_health_info_and_models(server):
    done = client(server, "health")
    assert done.returncode == 0 and done.stdout.strip() == "SERVING"
    done = client(server, "info")
    assert done.returncode == 0 and '"api_version": "gancollage.v1"' in done.stdout
    done = client(server, "models")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert any(line.startswith("* default") and "32px" in line and "G+D+R" in line for line in lines)
    assert any("broken" in line and "unavailable" in line for line in lines)


def test_realize_writes_layer_composite_and_latent(server, files):
    out, composite, latent = files / "layer.png", files / "composite.png", files / "latent.npy"
    done = client(server, "realize", "--layer", str(files / "bottom.png"), "--layer", f"{files / 'top.png'}@-2,8:0.8",
                  "--selection", str(files / "selection.png"), "--method", "optimize", "--steps", "2",
                  "--seed", "1", "-o", str(out), "--composite", str(composite), "--latent", str(latent))
    assert done.returncode == 0, done.stderr
    assert "optimize" in done.stderr and "2/2" in done.stderr  # the progress lines
    with Image.open(out) as layer:
        assert (layer.mode, layer.size) == ("RGBA", (20, 20))
    with Image.open(composite) as flat:
        assert flat.size == (40, 30)
    assert np.load(latent).shape == (1, 8, 32)


def test_project_interpolate_mix_blend(server, files, tmp_path):
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    for seed, path in ((1, a), (2, b)):
        done = client(server, "project", str(files / "bottom.png"), "--mask", str(files / "selection.png"),
                      "--method", "regressor", "--seed", str(seed), "-o", str(tmp_path / f"{seed}.png"),
                      "--latent", str(path), "-q")
        assert done.returncode == 0, done.stderr
    assert Image.open(tmp_path / "1.png").size == (RESOLUTION, RESOLUTION)
    done = client(server, "project", str(files / "bottom.png"), "--method", "regressor", "--truncation", "0",
                  "-o", str(tmp_path / "average.png"), "--latent", str(tmp_path / "average.npy"), "-q")
    assert done.returncode == 0, done.stderr
    average = np.load(tmp_path / "average.npy")[0]
    assert (average == average[:1]).all()  # every row w_avg

    done = client(server, "interpolate", str(a), str(b), "--frames", "3", "--mode", "slerp",
                  "-o", str(tmp_path / "f"))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == ["frame_000.png", "frame_001.png", "frame_002.png"]

    done = client(server, "mix", str(a), str(b), "--split", "4", "-o", str(tmp_path / "mix.png"),
                  "--latent", str(tmp_path / "mix.npy"))
    assert done.returncode == 0, done.stderr
    mixed, wa, wb = (np.load(tmp_path / name)[0] for name in ("mix.npy", "a.npy", "b.npy"))
    assert np.array_equal(mixed[:4], wa[:4]) and np.array_equal(mixed[4:], wb[4:])

    done = client(server, "blend", str(a), str(b), "--mask", str(files / "selection.png"), "--start-layer", "2",
                  "-o", str(tmp_path / "blend.png"))
    assert done.returncode == 0, done.stderr
    assert Image.open(tmp_path / "blend.png").size == (RESOLUTION, RESOLUTION)


def test_directions_and_edit(server, files, tmp_path):
    done = client(server, "directions", "--json")
    assert done.returncode == 0, done.stderr
    listed = {d["name"]: d for d in json.loads(done.stdout)}
    assert {"pc1", "sefa1"} <= set(listed) and listed["pc1"]["kind"] == "ganspace"
    start = tmp_path / "start.npy"
    done = client(server, "project", str(files / "bottom.png"), "--method", "regressor", "-o",
                  str(tmp_path / "start.png"), "--latent", str(start), "-q")
    assert done.returncode == 0, done.stderr
    done = client(server, "edit", str(start), "--edit", "pc1=2", "--edit", "sefa2=-1@0:3",
                  "-o", str(tmp_path / "edited.png"), "--latent", str(tmp_path / "edited.npy"))
    assert done.returncode == 0, done.stderr
    before, after = np.load(start)[0], np.load(tmp_path / "edited.npy")[0]
    assert not np.allclose(before, after) and Image.open(tmp_path / "edited.png").size == (RESOLUTION, RESOLUTION)
    done = client(server, "edit", str(start), "--edit", "no_such=1", "-o", str(tmp_path / "x.png"))
    assert done.returncode == 4 and "no_such" in done.stderr
    done = client(server, "edit", str(start), "--edit", "pc1", "-o", str(tmp_path / "x.png"))
    assert done.returncode == 2 and "NAME=STRENGTH" in done.stderr


def test_error_exit_codes(server, files, tmp_path):
    layer = str(files / "bottom.png")
    done = client(server, "realize", "--layer", layer, "--method", "optimize", "--steps", "99999", "-o", "x.png")
    assert done.returncode == 4 and "INVALID_ARGUMENT: options.steps" in done.stderr
    done = client(server, "realize", "--layer", layer, "--truncation", "1.5", "-o", "x.png")
    assert done.returncode == 4 and "INVALID_ARGUMENT: options.truncation" in done.stderr
    done = client(server, "realize", "--layer", layer, "--model", "broken", "-o", "x.png")
    assert done.returncode == 5 and "FAILED_PRECONDITION" in done.stderr
    done = client(server, "realize", "--layer", str(tmp_path / "missing.png"), "-o", "x.png")
    assert done.returncode == 2 and "missing.png" in done.stderr
    done = client(server, "realize", "-o", "x.png")  # no --layer
    assert done.returncode == 2
    done = run_client("health", "--server", "127.0.0.1:1")
    assert done.returncode == 3 and "UNAVAILABLE" in done.stderr


def test_client_imports_no_torch():
    code = ("import sys, server.client.cli, server.client.direct; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=python_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_sigint_stops_the_server(server):
    process, _ = server
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=20) == 0


@pytest.mark.parametrize("spec, expected", [
    ("a.png", ("a.png", 0, 0, 1.0)),
    ("dir/a b.png@12,-3", ("dir/a b.png", 12, -3, 1.0)),
    ("a.png:0.25", ("a.png", 0, 0, 0.25)),
    ("C:\\x\\a.png@1,2:.5", ("C:\\x\\a.png", 1, 2, 0.5)),
])
def test_parse_layer(spec, expected):
    layer = parse_layer(spec)
    assert (str(layer.file), layer.x, layer.y, layer.opacity) == expected


def test_exit_codes_by_status():
    assert [exit_code(c) for c in ("UNAVAILABLE", "INVALID_ARGUMENT", "FAILED_PRECONDITION", "INTERNAL",
                                   "UNAUTHENTICATED", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED", "CANCELLED")] == \
        [3, 4, 5, 5, 6, 7, 124, 130]
