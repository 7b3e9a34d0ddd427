"""install.py's plug-in part: profile discovery, the installed tree, settings, idempotence, uninstall, dry run."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import install
from tests.support.paths import REPO

PLUGIN_SOURCE = REPO / "gimp_plugin" / "gan_collage"
# every file of the plug-in's source folder, by its path inside the folder
PLUGIN_FILES = {p.relative_to(PLUGIN_SOURCE).as_posix() for p in PLUGIN_SOURCE.rglob("*.py")}
SHARED_FILES = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "server" / "shared").rglob("*")
                      if p.is_file() and "__pycache__" not in p.parts)


def plugin_files(folder: Path) -> set:
    """The installed plug-in's own files (vendor/ left out), by their path inside the folder."""
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.parts[len(folder.parts)]
            != "vendor"}


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


def profile(folder: Path) -> Path:
    """A folder that looks like the GIMP 3 profile GIMP makes on its first start."""
    folder.mkdir(parents=True)
    (folder / "pluginrc").write_text("")
    return folder


def test_plugin_install_is_complete_and_idempotent(tmp_path):
    first, second = profile(tmp_path / "a"), profile(tmp_path / "b")
    out = run_install("--plugin-only", "--gimp-profile", str(first), "--gimp-profile", str(second),
                      "--venv", str(tmp_path / "venv")).stdout
    assert f"plug-in -> {first / 'plug-ins' / 'gan_collage'}" in out
    assert f"the GIMP plug-in is in {first / 'plug-ins' / 'gan_collage'}, {second / 'plug-ins' / 'gan_collage'}" in out
    for folder in (first, second):
        plugin = folder / "plug-ins" / "gan_collage"
        assert plugin_files(plugin) == PLUGIN_FILES
        assert os.access(plugin / "gan_collage.py", os.X_OK)
        for relative in ["server/__init__.py", *SHARED_FILES]:  # the shared package whole
            assert (plugin / "vendor" / relative).read_bytes() == (REPO / relative).read_bytes()
        for package in ("grpclib", "h2", "hpack", "hyperframe", "multidict", "google/protobuf"):
            assert (plugin / "vendor" / "pure-grpc" / package / "__init__.py").is_file()
        settings = json.loads((folder / "gan-collage.json").read_text())
        assert (settings["server"], settings["transport"]) == ("127.0.0.1:50051", "auto")
        assert "server_python" not in settings or settings["server_python"] == ""  # no environment there yet

    # the artist's choices survive a reinstall; the installer's own values are refreshed
    path = first / "gan-collage.json"
    path.write_text(json.dumps(dict(json.loads(path.read_text()), server="gpu-box:7000", token="t", model="faces")))
    before = tree(first / "plug-ins")
    run_install("--plugin-only", "--gimp-profile", str(first), "--venv", str(REPO / ".venv"))
    settings = json.loads(path.read_text())
    assert (settings["server"], settings["token"], settings["model"]) == ("gpu-box:7000", "t", "faces")
    assert settings["server_python"] == str(install.venv_python(REPO / ".venv"))
    assert tree(first / "plug-ins") == before
    run_install("--plugin-only", "--gimp-profile", str(first), "--server", "127.0.0.1:6000", "--transport",
                "pure-python")
    assert (json.loads(path.read_text())["server"], json.loads(path.read_text())["transport"]) == \
        ("127.0.0.1:6000", "pure-python")


def test_the_package_is_self_contained(packaged_plugin):
    """install.py --package-plugin: a folder and a zip of it, executable, nothing pointing into this checkout."""
    folder = packaged_plugin
    assert plugin_files(folder) == PLUGIN_FILES
    assert os.access(folder / "gan_collage.py", os.X_OK)
    checkout = str(REPO).encode()
    assert [p for p in folder.rglob("*") if p.is_file() and checkout in p.read_bytes()] == []
    with zipfile.ZipFile(folder.parent / "gan_collage.zip") as archive:
        names = {info.filename: info for info in archive.infolist()}
        files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
        assert set(names) == {f"gan_collage/{name}" for name in files}
        assert names["gan_collage/gan_collage.py"].external_attr >> 16 & 0o111 == 0o111
        assert archive.read("gan_collage/vendor/server/shared/region.py") == \
            (REPO / "server/shared/region.py").read_bytes()


def test_the_committed_plugin_is_executable():
    listed = subprocess.run(["git", "ls-files", "-s", "gimp_plugin/gan_collage/gan_collage.py"], cwd=REPO,
                            capture_output=True, text=True).stdout
    if not listed:
        pytest.skip("not a git checkout")
    assert listed.startswith("100755 ")


def test_installed_plugin_imports_without_the_project_or_site_packages(tmp_path):
    """In a Python without grpcio or protobuf the plug-in picks its vendored pure-Python stack; with them, grpcio."""
    run_install("--plugin-only", "--gimp-profile", str(profile(tmp_path / "p")))
    plugin = tmp_path / "p" / "plug-ins" / "gan_collage"
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from core import connection, settings\n"
            "c = connection.connect(settings.Config()); print(c.description)\n"
            "print(sys.modules['google.protobuf'].__file__)\n")
    bare = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(plugin)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=30)
    assert bare.returncode == 0, bare.stderr
    description, protobuf = bare.stdout.splitlines()
    assert description.startswith("pure-Python gRPC (grpclib ") and protobuf.startswith(str(plugin / "vendor"))
    full = subprocess.run([sys.executable, "-I", "-c", code, str(plugin)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=30)
    assert full.returncode == 0, full.stderr
    assert full.stdout.startswith("grpcio ")


def test_a_mistyped_profile_is_refused_unless_forced(tmp_path):
    typo = tmp_path / "GIMP" / "3.O"
    done = subprocess.run([sys.executable, str(REPO / "install.py"), "--plugin-only", "--gimp-profile", str(typo)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and f"{typo} does not look like a GIMP 3 profile folder" in done.stderr
    assert "--force" in done.stderr and not typo.exists()
    run_install("--plugin-only", "--gimp-profile", str(typo), "--force")
    assert (typo / "plug-ins" / "gan_collage" / "gan_collage.py").exists()


def test_uninstall_and_dry_run_say_what_happened(tmp_path):
    folder = profile(tmp_path / "profile")
    out = run_install("--plugin-only", "--gimp-profile", str(folder), "--dry-run").stdout
    assert not (folder / "plug-ins").exists() and "would go to" in out and "nothing was changed (dry run)" in out
    run_install("--plugin-only", "--gimp-profile", str(folder))
    out = run_install("--uninstall", "--gimp-profile", str(folder), "--dry-run").stdout
    assert (folder / "gan-collage.json").exists() and "would remove" in out
    out = run_install("--uninstall", "--gimp-profile", str(folder)).stdout
    assert not (folder / "plug-ins" / "gan_collage").exists() and not (folder / "gan-collage.json").exists()
    assert "removing" in out
    again = run_install("--uninstall", "--gimp-profile", str(folder)).stdout
    assert f"nothing to remove: no GAN Collage plug-in or settings in {folder}" in again and "removing" not in again


def test_nothing_found_is_said_plainly(tmp_path):
    out = run_install("--plugin-only", "--dry-run", home=tmp_path).stdout
    assert "no GIMP 3 profile found" in out and "the GIMP plug-in would not be installed" in out
    assert "Filters > Generative" not in out and "done" not in out
    out = run_install("--uninstall", home=tmp_path).stdout
    assert "nothing to remove: no GAN Collage plug-in or settings in any GIMP 3 profile" in out
    assert "--gimp-profile DIR" not in out  # no install advice when removing


def test_full_dry_run_keeps_the_server_steps(tmp_path):
    out = run_install("--dry-run", "--torch", "cpu", "--venv", str(tmp_path / "venv"), home=tmp_path).stdout
    assert f"torch=={install.TORCH_VERSION}" in out and "pip install -e" in out
    assert "no GIMP 3 profile found" in out and "--gimp-profile DIR" in out and "would not be installed" in out
    assert not (tmp_path / "venv").exists() and "done" not in out
    if sys.platform.startswith("linux"):  # the CPU build never comes from PyPI's CUDA-bundled wheel
        assert install.CPU_TORCH_INDEX in out
    cuda = run_install("--dry-run", "--torch", "cuda", "--venv", str(tmp_path / "venv"), home=tmp_path).stdout
    assert install.CPU_TORCH_INDEX not in cuda and f"torch=={install.TORCH_VERSION}" in cuda


@pytest.mark.parametrize("flags", [["--no-plugin", "--plugin-only"], ["--plugin-only", "--uninstall"]])
def test_contradictory_flags_are_refused(flags):
    done = subprocess.run([sys.executable, str(REPO / "install.py"), *flags], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 2 and "not allowed with" in done.stderr
