"""`python -m server.client` end to end against a `python -m server` process, plus its pure helpers."""
from __future__ import annotations

import json
import signal
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from server.client.cli import exit_code
from server.client.images import parse_layer, read_latent, write_latent
from server.tools.server_process import server as server_process
from tests.support.paths import REPO, conformance_file
from tests.support.servers import python_env, run_client

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


@pytest.fixture(scope="module")
def stylemap_server(tmp_path_factory):
    """A server whose --models-dir holds the shared StyleMapGAN checkpoint (served as "stylemapgan_s32")."""
    folder = tmp_path_factory.mktemp("stylemap-models")
    (folder / "stylemapgan_s32.pt").write_bytes(conformance_file("stylemapgan_s32.pt").read_bytes())
    with server_process("--models-dir", str(folder)) as running:
        yield running.process, running.address


def test_a_stylemap_model_from_the_command_line(stylemap_server, files, tmp_path):
    model = ("--model", "stylemapgan_s32")
    done = client(stylemap_server, "models")
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stdout.splitlines() if "stylemapgan_s32" in line]
    assert "stylemap 64x8x8" in line and "32px" in line and "G+D+R" in line
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    for path, image in ((a, "bottom.png"), (b, "top.png")):
        done = client(stylemap_server, "project", str(files / image), *model, "-o", str(tmp_path / "p.png"),
                      "--latent", str(path), "-q")
        assert done.returncode == 0, done.stderr
    assert np.load(a).shape == (1, 64, 8, 8) and np.load(a).dtype == np.float32
    np.save(tmp_path / "bare.npy", np.load(b)[0])  # (C, L, L): a stylemap without its batch reads too

    done = client(stylemap_server, "interpolate", str(a), str(tmp_path / "bare.npy"), *model, "--frames", "3",
                  "-o", str(tmp_path / "frames"), "-q")
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "frames").iterdir())) == 3

    # a stylemap model's style mix exists per resizer level: no latent to write, and the CLI says so
    done = client(stylemap_server, "mix", str(a), str(b), *model, "--split", "3", "-o", str(tmp_path / "mix.png"),
                  "--latent", str(tmp_path / "mix.npy"), "-q")
    assert done.returncode == 2 and "answered no latent" in done.stderr and "Traceback" not in done.stderr
    assert Image.open(tmp_path / "mix.png").size == (RESOLUTION, RESOLUTION) and not (tmp_path / "mix.npy").exists()

    # the whole-stylemap blend is a stylemap; every-level blends are not
    done = client(stylemap_server, "blend", str(a), str(b), *model, "--mask", str(files / "selection.png"),
                  "--mix-space", "w", "-o", str(tmp_path / "blend.png"), "--latent", str(tmp_path / "blend.npy"), "-q")
    assert done.returncode == 0, done.stderr
    blended, wa, wb = (np.load(path)[0] for path in (tmp_path / "blend.npy", a, b))
    assert blended.shape == (64, 8, 8) and np.all((blended == wa) | (blended == wb))
    assert not np.array_equal(blended, wa) and not np.array_equal(blended, wb)
    done = client(stylemap_server, "blend", str(a), str(b), *model, "--mask", str(files / "selection.png"),
                  "--mix-space", "w_plus", "--start-layer", "2", "-o", str(tmp_path / "levels.png"),
                  "--latent", str(tmp_path / "levels.npy"), "-q")
    assert done.returncode == 2 and "answered no latent" in done.stderr and (tmp_path / "levels.png").exists()
    done = client(stylemap_server, "blend", str(a), str(b), *model, "--mask", str(files / "selection.png"),
                  "--mix-space", "w", "--start-layer", "2", "-o", str(tmp_path / "x.png"), "-q")
    assert done.returncode == 4 and "start_layer" in done.stderr

    done = client(stylemap_server, "edit", str(a), *model, "--edit", "pc1=2", "-o", str(tmp_path / "edited.png"),
                  "--latent", str(tmp_path / "edited.npy"), "-q")
    assert done.returncode == 0, done.stderr
    assert np.load(tmp_path / "edited.npy").shape == (1, 64, 8, 8)
    # a collage of two layers, read the StyleMapGAN way (each layer's stylemap laid over the composite's)
    # or composited first: different stylemaps
    latents = {}
    for mode in ("layers", "composite"):
        latents[mode] = tmp_path / f"{mode}.npy"
        done = client(stylemap_server, "realize", "--layer", str(files / "bottom.png"), "--layer",
                      f"{files / 'top.png'}@-2,8", *model, "--collage", mode, "-o", str(tmp_path / f"{mode}.png"),
                      "--latent", str(latents[mode]), "-q")
        assert done.returncode == 0, done.stderr
    assert np.load(latents["layers"]).shape == (1, 64, 8, 8)
    assert not np.array_equal(np.load(latents["layers"]), np.load(latents["composite"]))
    done = client(stylemap_server, "realize", "--layer", str(files / "bottom.png"), "--collage", "layers",
                  "-o", str(tmp_path / "x.png"))  # the W+ default model
    assert done.returncode == 4 and "collage" in done.stderr
    # a W+ latent for the stylemap model: refused, naming the kinds
    np.save(tmp_path / "w.npy", np.zeros((1, 8, 32), np.float32))
    done = client(stylemap_server, "edit", str(tmp_path / "w.npy"), *model, "--edit", "pc1=1", "-o",
                  str(tmp_path / "x.png"))
    assert done.returncode == 4 and "stylemap" in done.stderr


@pytest.mark.parametrize("shape,saved", [((64, 8, 8), (1, 64, 8, 8)), ((1, 64, 8, 8), (1, 64, 8, 8)),
                                         ((18, 512), (1, 18, 512)), ((1, 18, 512), (1, 18, 512)),
                                         ((3, 1, 1), (1, 3, 1, 1))])
def test_latent_files_of_both_kinds_round_trip(tmp_path, shape, saved):
    values = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    np.save(tmp_path / "in.npy", values)
    latent = read_latent(tmp_path / "in.npy")
    if len(saved) == 4:
        assert latent["kind"] == "stylemap" and latent["shape"] == list(saved[1:]) and "num_ws" not in latent
    else:
        assert (latent["num_ws"], latent["w_dim"]) == saved[1:] and "kind" not in latent
    write_latent(dict(latent, model="m"), tmp_path / "out.npy")
    out = np.load(tmp_path / "out.npy")
    assert out.shape == saved and out.dtype == np.float32 and np.array_equal(out.reshape(shape), values)


@pytest.mark.parametrize("shape", [(5,), (2, 64, 8, 8), (1, 1, 64, 8, 8), (0, 4), (64, 0, 8)])
def test_latent_files_of_other_shapes_are_refused(tmp_path, shape):
    np.save(tmp_path / "bad.npy", np.zeros(shape, np.float32))
    with pytest.raises(ValueError, match="expected a W\\+ latent of shape \\(num_ws, w_dim\\) or a stylemap"):
        read_latent(tmp_path / "bad.npy")


def test_client_imports_no_torch():
    code = ("import sys, server.client.cli, server.shared.grpcio_client; "
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


def test_a_token_that_cannot_be_sent_is_a_usage_error(capsys):
    from server.client.cli import main

    assert main(["health", "--server", "127.0.0.1:1", "--token", "pässwort"]) == 2  # not a failed call
    assert capsys.readouterr().err == ("error: the token cannot be sent to the server: it holds 'ä', and a token may "
                                       "hold only ASCII letters, digits, punctuation and spaces\n")


def test_exit_codes_by_status():
    assert [exit_code(c) for c in ("UNAVAILABLE", "INVALID_ARGUMENT", "FAILED_PRECONDITION", "INTERNAL",
                                   "UNAUTHENTICATED", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED", "CANCELLED")] == \
        [3, 4, 5, 5, 6, 7, 124, 130]
