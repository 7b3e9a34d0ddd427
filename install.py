#!/usr/bin/env python3
"""Set up GAN Collage in one command: the server environment and the GIMP 3 plug-in.

    python3 install.py                 # .venv with the server, plus the plug-in in every GIMP 3 profile found
    python3 install.py --dev           # plus the test tools
    python3 install.py --plugin-only --gimp-profile ~/.config/GIMP/3.0
    python3 install.py --uninstall     # remove the plug-in and its settings from the profiles

PyTorch: with an NVIDIA GPU (nvidia-smi answers) the CUDA build is installed, otherwise the CPU
build; `--torch cpu|cuda` overrides the detection and `--torch-index-url` picks a wheel index
(for example PyTorch's CPU-only index).

The plug-in goes to `<profile>/plug-ins/gan_collage/` of each GIMP 3 profile found (Linux, Flatpak,
Snap, Windows, macOS locations) or named with --gimp-profile, with the few client modules and gRPC stubs
it needs (no torch) in its `vendor/` folder. Its settings, `<profile>/gan-collage.json`, get the bridge
interpreter (this environment's Python) and the project folder; the address, token, model and transport
the user chose are kept. Running it again only installs what is missing and refreshes the plug-in.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TORCH_VERSION = "2.13.0"
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
MIN_PYTHON = (3, 11)
PLUGIN = ROOT / "gimp_plugin" / "gan_collage"
PLUGIN_NAME = PLUGIN.name
# What the plug-in needs from the server package (none imports torch), copied under vendor/.
VENDORED = ("server/__init__.py", "server/defaults.py", "server/region.py", "server/client/__init__.py",
            "server/client/bridge_protocol.py", "server/client/direct.py", "server/client/messages.py",
            "server/client/progress.py",
            "server/api/__init__.py", "server/api/gancollage/__init__.py", "server/api/gancollage/v1/__init__.py",
            "server/api/gancollage/v1/gancollage_pb2.py", "server/api/gancollage/v1/gancollage_pb2_grpc.py")


def has_nvidia_gpu() -> bool:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return False
    try:
        return subprocess.run([exe, "-L"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def venv_python(venv_dir: Path) -> Path:
    return venv_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def profile_folders(home: Path, env, platform: str) -> list[Path]:
    """Where GIMP 3 keeps its profiles (`<folder>/3.0`, `<folder>/3.2`, ...) on this platform."""
    if platform == "win32":
        return [Path(env["APPDATA"]) / "GIMP"] if env.get("APPDATA") else []
    if platform == "darwin":
        return [home / "Library" / "Application Support" / "GIMP"]
    config_home = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    return [config_home / "GIMP", home / ".var/app/org.gimp.GIMP/config/GIMP", home / "snap/gimp/current/GIMP"]


def find_gimp_profiles(home: Path, env, platform: str) -> list[Path]:
    return [profile for folder in profile_folders(home, env, platform)
            for profile in sorted(folder.glob("3.*")) if profile.is_dir()]


def plugin_config():
    """The plug-in's own settings module, so the installer writes the file exactly as the plug-in reads it."""
    spec = importlib.util.spec_from_file_location("gan_collage_config", PLUGIN / "config.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


class Installer:
    def __init__(self, args):
        self.args = args
        self.python = venv_python(args.venv)

    def say(self, text: str):
        print(f"[install] {'(dry run) ' if self.args.dry_run else ''}{text}", flush=True)

    def run(self, cmd: list, what: str):
        self.say(f"{what}: {' '.join(map(str, cmd))}")
        if not self.args.dry_run:
            subprocess.run([str(c) for c in cmd], check=True)

    # ------------------------------------------------------------------------------ server

    def ensure_venv(self):
        if self.python.exists():
            self.say(f"using the environment in {self.args.venv}")
            return
        self.say(f"creating a virtual environment in {self.args.venv}")
        if not self.args.dry_run:
            venv.EnvBuilder(with_pip=True).create(self.args.venv)

    def torch_build(self) -> str:
        return self.args.torch if self.args.torch != "auto" else ("cuda" if has_nvidia_gpu() else "cpu")

    def install_torch(self):
        """PyPI's Linux torch wheel bundles CUDA (several GB). For the CPU build on Linux, a CPU wheel
        already on disk (pip's find-links, e.g. an offline mirror) is used when there is one, with its
        dependencies from the usual index; otherwise the wheel comes from PyTorch's CPU-only index."""
        build = self.torch_build()
        cmd = [self.python, "-m", "pip", "install", f"torch=={TORCH_VERSION}"]
        what = f"PyTorch {TORCH_VERSION} ({build} build)"
        if self.args.torch_index_url:
            self.run(cmd + ["--index-url", self.args.torch_index_url], what)
        elif build == "cuda" or not sys.platform.startswith("linux"):
            self.run(cmd, what)
        elif not self.args.dry_run and subprocess.run([str(c) for c in cmd + ["--no-index", "--no-deps"]],
                                                      capture_output=True).returncode == 0:
            self.run(cmd, what + ": the wheel on disk, then its dependencies")
        else:
            self.run(cmd + ["--index-url", CPU_TORCH_INDEX], what)

    def install_project(self):
        target = f"{ROOT}[dev]" if self.args.dev else str(ROOT)
        self.run([self.python, "-m", "pip", "install", "-e", target], "GAN Collage server and dependencies")

    # ------------------------------------------------------------------------------ plug-in

    def profiles(self) -> list[Path]:
        if self.args.gimp_profile:
            return [Path(p).expanduser().resolve() for p in self.args.gimp_profile]
        found = find_gimp_profiles(Path.home(), os.environ, sys.platform)
        if not found:
            looked = ", ".join(str(f / "3.*") for f in profile_folders(Path.home(), os.environ, sys.platform))
            self.say(f"no GIMP 3 profile found (looked in {looked}). The plug-in is NOT installed: start GIMP 3 "
                     "once so that it creates its profile and run this again, or name the profile folder with "
                     "--gimp-profile DIR.")
        return found

    def copy_plugin(self, profile: Path):
        target = profile / "plug-ins" / PLUGIN_NAME
        self.say(f"plug-in -> {target}")
        if self.args.dry_run:
            return
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(PLUGIN, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "vendor"))
        (target / f"{PLUGIN_NAME}.py").chmod(0o755)  # GIMP only runs executable plug-ins
        for relative in VENDORED:
            destination = target / "vendor" / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / relative, destination)

    def write_settings(self, profile: Path):
        module = plugin_config()
        path = module.path_in(profile)
        current = module.load(path)
        current.bridge_python = str(self.python)
        current.project_root = str(ROOT)
        if self.args.server:
            current.server = self.args.server
        if self.args.transport:
            current.transport = self.args.transport
        self.say(f"settings -> {path} (server {current.server}, transport {current.transport}, "
                 f"bridge {current.bridge_python})")
        if not self.args.dry_run:
            module.save(path, current)

    def install_plugin(self):
        if not self.python.exists() and not self.args.dry_run:
            self.say(f"note: no server environment at {self.args.venv} yet; the plug-in's bridge needs it "
                     "(run install.py without --plugin-only)")
        for profile in self.profiles():
            self.copy_plugin(profile)
            self.write_settings(profile)

    def uninstall(self):
        for profile in self.profiles():
            for path in (profile / "plug-ins" / PLUGIN_NAME, plugin_config().path_in(profile)):
                if not path.exists():
                    continue
                self.say(f"removing {path}")
                if self.args.dry_run:
                    continue
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()
        self.say(f"the server environment in {self.args.venv} is left in place; delete that folder to remove it")

    def install(self):
        if self.args.uninstall:
            self.uninstall()
            return
        if not self.args.plugin_only:
            self.ensure_venv()
            self.install_torch()
            self.install_project()
        if not self.args.no_plugin:
            self.install_plugin()
        self.say(f"done. Start the server with: {self.python} -m server   (add --model PATH for your own "
                 "checkpoint); in GIMP: Filters > Generative > GAN Collage")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--venv", type=Path, default=ROOT / ".venv", help="where the server environment goes")
    ap.add_argument("--dev", action="store_true", help="also install the test tools")
    ap.add_argument("--torch", choices=("auto", "cpu", "cuda"), default="auto",
                    help="which PyTorch build (auto: CUDA when an NVIDIA GPU is present)")
    ap.add_argument("--torch-index-url", help="pip index to take PyTorch from")
    part = ap.add_mutually_exclusive_group()
    part.add_argument("--no-plugin", action="store_true", help="only the server environment")
    part.add_argument("--plugin-only", action="store_true", help="only the GIMP plug-in and its settings")
    part.add_argument("--uninstall", action="store_true", help="remove the plug-in and its settings from the profiles")
    ap.add_argument("--gimp-profile", action="append", metavar="DIR",
                    help="a GIMP 3 profile folder to install into (repeatable; default: every one found)")
    ap.add_argument("--server", metavar="HOST:PORT", help="the server address the plug-in uses "
                    "(default: keep the configured one, else 127.0.0.1:50051)")
    ap.add_argument("--transport", choices=("auto", "direct", "bridge"),
                    help="how the plug-in reaches the server (default: keep the configured one, else auto)")
    ap.add_argument("--dry-run", action="store_true", help="print what would be done, change nothing")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    if sys.version_info < MIN_PYTHON:
        print(f"GAN Collage needs Python {'.'.join(map(str, MIN_PYTHON))} or newer", file=sys.stderr)
        return 2
    args = parse_args(argv)
    args.venv = args.venv.resolve()
    try:
        Installer(args).install()
    except (subprocess.CalledProcessError, OSError, ValueError) as exc:  # ValueError: a damaged settings file
        print(f"[install] failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
