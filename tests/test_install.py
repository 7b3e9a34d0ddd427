"""install.py's plug-in part: profile discovery, the installed tree, settings, idempotence, uninstall, dry run."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO))
import install  # noqa: E402

PLUGIN_FILES = {"gan_collage.py", "actions.py", "config.py", "gimp_io.py", "paths.py", "transport.py"}


def run_install(*args: str, home: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if home is not None:
        env.update(HOME=str(home), XDG_CONFIG_HOME="")
    done = subprocess.run([sys.executable, str(REPO / "install.py"), *args], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return done


def tree(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_profiles_found_on_each_platform(tmp_path):
    home = tmp_path
    for folder in (".config/GIMP/3.0", ".config/GIMP/2.10", ".var/app/org.gimp.GIMP/config/GIMP/3.0",
                   "snap/gimp/current/GIMP/3.2", "Library/Application Support/GIMP/3.0", "AppData/GIMP/3.0"):
        (home / folder).mkdir(parents=True)
    assert install.find_gimp_profiles(home, {}, "linux") == [
        home / ".config/GIMP/3.0", home / ".var/app/org.gimp.GIMP/config/GIMP/3.0", home / "snap/gimp/current/GIMP/3.2"]
    assert install.find_gimp_profiles(home, {"XDG_CONFIG_HOME": str(home / "nowhere")}, "linux")[0] == \
        home / ".var/app/org.gimp.GIMP/config/GIMP/3.0"
    assert install.find_gimp_profiles(home, {}, "darwin") == [home / "Library/Application Support/GIMP/3.0"]
    assert install.find_gimp_profiles(home, {"APPDATA": str(home / "AppData")}, "win32") == [home / "AppData/GIMP/3.0"]
    assert install.find_gimp_profiles(home, {}, "win32") == []


def test_plugin_install_is_complete_and_idempotent(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    out = run_install("--plugin-only", "--gimp-profile", str(first), "--gimp-profile", str(second),
                      "--venv", str(tmp_path / "venv")).stdout
    assert f"plug-in -> {first / 'plug-ins' / 'gan_collage'}" in out
    for profile in (first, second):
        plugin = profile / "plug-ins" / "gan_collage"
        assert {p.name for p in plugin.iterdir() if p.is_file()} == PLUGIN_FILES
        assert os.access(plugin / "gan_collage.py", os.X_OK)
        for relative in install.VENDORED:
            assert (plugin / "vendor" / relative).read_bytes() == (REPO / relative).read_bytes()
        settings = json.loads((profile / "gan-collage.json").read_text())
        assert settings["bridge_python"] == str(install.venv_python(tmp_path / "venv"))
        assert settings["project_root"] == str(REPO)
        assert (settings["server"], settings["transport"]) == ("127.0.0.1:50051", "auto")

    # the artist's choices survive a reinstall; the installer's own values are refreshed
    path = first / "gan-collage.json"
    path.write_text(json.dumps(dict(json.loads(path.read_text()), server="gpu-box:7000", token="t", model="faces",
                                    bridge_python="/old/python")))
    before = tree(first / "plug-ins")
    run_install("--plugin-only", "--gimp-profile", str(first), "--venv", str(tmp_path / "venv"))
    settings = json.loads(path.read_text())
    assert (settings["server"], settings["token"], settings["model"]) == ("gpu-box:7000", "t", "faces")
    assert settings["bridge_python"] == str(install.venv_python(tmp_path / "venv"))
    assert tree(first / "plug-ins") == before
    run_install("--plugin-only", "--gimp-profile", str(first), "--server", "127.0.0.1:6000", "--transport", "bridge")
    assert json.loads(path.read_text())["server"] == "127.0.0.1:6000"


def test_installed_plugin_runs_without_the_project_or_site_packages(tmp_path):
    """GIMP's Python may lack grpc (then: the bridge) or have it (then: the vendored stubs)."""
    run_install("--plugin-only", "--gimp-profile", str(tmp_path))
    plugin = tmp_path / "plug-ins" / "gan_collage"
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import transport, config\n"
            "direct, why = transport.direct_client_class()\n"
            "print(direct.__module__ if direct else why)\n"
            "print(sys.modules['server.client.bridge_protocol'].__file__)\n"
            "c = transport.connect(config.Config(bridge_python=sys.executable)); print(c.description)\n")
    bare = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(plugin)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=30)
    assert bare.returncode == 0, bare.stderr
    lines = bare.stdout.splitlines()
    assert "No module named 'grpc'" in lines[0] and lines[1].startswith(str(plugin / "vendor"))
    assert lines[2] == f"bridge ({sys.executable})"
    full = subprocess.run([sys.executable, "-I", "-c", code, str(plugin)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=30)
    assert full.returncode == 0, full.stderr
    assert full.stdout.splitlines()[0] == "server.client.direct" and "direct gRPC" in full.stdout


def test_uninstall_and_dry_run(tmp_path):
    profile = tmp_path / "profile"
    run_install("--plugin-only", "--gimp-profile", str(profile), "--dry-run")
    assert not profile.exists()
    run_install("--plugin-only", "--gimp-profile", str(profile))
    run_install("--uninstall", "--gimp-profile", str(profile), "--dry-run")
    assert (profile / "gan-collage.json").exists()
    out = run_install("--uninstall", "--gimp-profile", str(profile)).stdout
    assert not (profile / "plug-ins" / "gan_collage").exists() and not (profile / "gan-collage.json").exists()
    assert "removing" in out


def test_full_dry_run_keeps_the_server_steps(tmp_path):
    out = run_install("--dry-run", "--torch", "cpu", "--venv", str(tmp_path / "venv"), home=tmp_path).stdout
    assert f"torch=={install.TORCH_VERSION}" in out and "pip install -e" in out
    assert "no GIMP 3 profile found" in out and "--gimp-profile DIR" in out
    assert not (tmp_path / "venv").exists()
    if sys.platform.startswith("linux"):  # the CPU build never comes from PyPI's CUDA-bundled wheel
        assert install.CPU_TORCH_INDEX in out
    cuda = run_install("--dry-run", "--torch", "cuda", "--venv", str(tmp_path / "venv"), home=tmp_path).stdout
    assert install.CPU_TORCH_INDEX not in cuda and f"torch=={install.TORCH_VERSION}" in cuda


@pytest.mark.parametrize("flags", [["--no-plugin", "--plugin-only"], ["--plugin-only", "--uninstall"]])
def test_contradictory_flags_are_refused(flags):
    done = subprocess.run([sys.executable, str(REPO / "install.py"), *flags], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 2 and "not allowed with" in done.stderr
