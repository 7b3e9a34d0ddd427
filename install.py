#!/usr/bin/env python3
"""Set up GAN Collage in one command: the server environment and the GIMP 3 plug-in.

    python3 install.py                 # .venv with the server, plus the plug-in in every GIMP 3 profile found
    python3 install.py --dev           # plus the test tools and the studio's Ray Serve
    python3 install.py --plugin-only --gimp-profile ~/.config/GIMP/3.0
    python3 install.py --uninstall     # remove the plug-in and its settings from the profiles
    python3 install.py --package-plugin OUT   # OUT/gan_collage/ and OUT/gan_collage.zip, to copy by hand

PyTorch: with an NVIDIA GPU (nvidia-smi answers) the CUDA build is installed, otherwise the CPU
build; `--torch cpu|cuda` overrides the detection and `--torch-index-url` picks a wheel index
(for example PyTorch's CPU-only index).

The plug-in goes to `<profile>/plug-ins/gan_collage/` of each GIMP 3 profile found (Linux, Flatpak,
Snap, Windows, macOS locations) or named with --gimp-profile, self-contained: the code both sides run
(`server/shared/`: client, gRPC stubs, region rule, defaults; no torch) in its `vendor/`, and in
`vendor/pure-grpc/` a pinned pure-Python gRPC stack (grpclib, h2, hpack, hyperframe, multidict, protobuf;
wheels from PyPI, checked against their SHA-256) for GIMPs whose Python has no grpcio. Its settings,
`<profile>/gan-collage.json`, get this environment's Python (for the "start the server" hint); the
address, token, model and transport the user chose are kept. Running it again only installs what is
missing and refreshes the plug-in.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TORCH_VERSION = "2.13.0"
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
MIN_PYTHON = (3, 11)
PLUGIN = ROOT / "gimp_plugin" / "gan_collage"
PLUGIN_NAME = PLUGIN.name
# The code both sides run (server/shared/, see its __init__.py), copied whole under the plug-in's vendor/;
# server/__init__.py (empty) makes it importable there by the same name, server.shared.
SHARED = ROOT / "server" / "shared"
# The pure-Python gRPC stack unpacked into vendor/pure-grpc/ (protobuf: the stubs' runtime, see gancollage_pb2.py).
# Only pure-Python wheels (py3-none-any), so one folder serves GIMP on every platform.
PURE_GRPC_WHEELS = {
    "grpclib-0.4.9-py3-none-any.whl": "7762ec1c8ed94dfad597475152dd35cbd11aecaaca2f243e29702435ca24cf0e",
    "h2-4.4.1-py3-none-any.whl": "0e25f1462b23c9cb82d9eb02e28bc706dac2a68cb457c6a0d74d63c8a2a5d0e6",
    "hpack-4.2.0-py3-none-any.whl": "858ac0b02280fa582b5080d68db0899c62a80375e0e5413a74970c5e518b6986",
    "hyperframe-6.1.0-py3-none-any.whl": "b03380493a519fce58ea5af42e4a42317bf9bd425596f7a0835ffce80f1a42e5",
    "multidict-7.1.0-py3-none-any.whl": "d9ef29cfd98e17085b4f91bba8fa1570bec6787d5c52ce653ed33a58785585d0",
    "protobuf-7.36.2-py3-none-any.whl": "bdb3a345d48db958e6ce1f18e508beb0cc981d64f24088427549c866cd039f1e",
    # multidict's backport of typing.Self and friends, for GIMPs whose Python is 3.10
    "typing_extensions-4.16.0-py3-none-any.whl": "481caa481374e813c1b176ada14e97f1f67a4539ce9cfeb3f350d78d6370c2e8",
}
PURE_GRPC_PYTHON = "3.10"  # the oldest Python every pinned wheel supports
WHEEL_CACHE = ROOT / ".cache" / "pure-grpc-wheels"
PROFILE_MARKERS = ("gimprc", "pluginrc", "sessionrc", "plug-ins")  # what GIMP 3 writes into a profile


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
    spec = importlib.util.spec_from_file_location("gan_collage_settings", PLUGIN / "core" / "settings.py")
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
        target = f"{ROOT}[dev,studio]" if self.args.dev else str(ROOT)  # the studio's tests run in CI
        self.run([self.python, "-m", "pip", "install", "-e", target], "GAN Collage server and dependencies")

    # ------------------------------------------------------------------------------ plug-in

    def pip_python(self) -> Path:
        """An interpreter with pip, to fetch the plug-in's wheels: this one, else the server environment's."""
        if importlib.util.find_spec("pip") is not None:
            return Path(sys.executable)
        if self.python.exists():
            return self.python
        raise InstallError(f"{sys.executable} has no pip and there is no server environment at {self.args.venv} "
                           "yet: run install.py without --plugin-only first (it creates one with pip)")

    def plugin_wheels(self) -> list[Path]:
        """The pinned pure-Python gRPC wheels, downloaded into .cache/ once and checked against their SHA-256."""
        wheels = [WHEEL_CACHE / name for name in PURE_GRPC_WHEELS]
        missing = [wheel for wheel in wheels if not wheel.exists() or sha256(wheel) != PURE_GRPC_WHEELS[wheel.name]]
        if missing:
            self.run([self.pip_python(), "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                      "--platform", "any", "--implementation", "py", "--abi", "none",
                      "--python-version", PURE_GRPC_PYTHON, "--dest", WHEEL_CACHE,
                      *[wheel_requirement(wheel.name) for wheel in missing]],
                     "the plug-in's pure-Python gRPC wheels")
        if self.args.dry_run:
            return wheels
        for wheel in wheels:
            if not wheel.exists() or sha256(wheel) != PURE_GRPC_WHEELS[wheel.name]:
                raise InstallError(f"{wheel} is missing or is not the pinned file (SHA-256 differs); delete it and "
                                   "run install.py again")
        return wheels

    def profiles(self) -> list[Path]:
        """The profiles to work on: those named with --gimp-profile (refused unless they look like GIMP 3
        profiles, or --force), else every one found."""
        if self.args.gimp_profile:
            named = [Path(p).expanduser().resolve() for p in self.args.gimp_profile]
            wrong = [p for p in named if not looks_like_profile(p)]
            if wrong and not self.args.force:
                raise InstallError(", ".join(map(str, wrong)) + " does not look like a GIMP 3 profile folder (it "
                                   f"holds none of {', '.join(PROFILE_MARKERS)}; GIMP's Edit > Preferences > Folders "
                                   "shows the right one). Check the path, or add --force to use it anyway.")
            return named
        found = find_gimp_profiles(Path.home(), os.environ, sys.platform)
        if not found:
            looked = ", ".join(str(f / "3.*") for f in profile_folders(Path.home(), os.environ, sys.platform))
            self.say(f"no GIMP 3 profile found (looked in {looked}).")
        return found

    def copy_plugin(self, profile: Path, wheels: list[Path]):
        target = profile / "plug-ins" / PLUGIN_NAME
        self.say(f"plug-in -> {target}")
        if not self.args.dry_run:
            build_plugin(target, wheels)

    def write_settings(self, profile: Path):
        module = plugin_config()
        path = module.path_in(profile)
        current = module.load(path)
        if self.python.exists() or not self.args.plugin_only:
            current.server_python = str(self.python)
        if self.args.server:
            current.server = self.args.server
        if self.args.transport:
            current.transport = self.args.transport
        self.say(f"settings -> {path} (server {current.server}, transport {current.transport})")
        if not self.args.dry_run:
            module.save(path, current)

    def install_plugin(self) -> list[Path]:
        """The profiles the plug-in went into."""
        profiles = self.profiles()
        wheels = self.plugin_wheels() if profiles else []
        for profile in profiles:
            self.copy_plugin(profile, wheels)
            self.write_settings(profile)
        return profiles

    def package_plugin(self, out: Path):
        folder, archive = out / PLUGIN_NAME, out / f"{PLUGIN_NAME}.zip"
        self.say(f"plug-in folder -> {folder}, zip -> {archive}")
        wheels = self.plugin_wheels()
        if self.args.dry_run:
            self.say("nothing was written (dry run)")
            return
        build_plugin(folder, wheels)
        zip_folder(folder, archive)
        self.say(f"done. Copy {folder} (or unpack {archive.name}) into the plug-ins folder of a GIMP 3 profile (GIMP: "
                 "Edit > Preferences > Folders > Plug-ins), restart GIMP, then start the server and use Filters > "
                 "Generative > GAN Collage.")

    def uninstall(self):
        profiles = self.profiles()
        removed = []
        for profile in profiles:
            for path in (profile / "plug-ins" / PLUGIN_NAME, plugin_config().path_in(profile)):
                if not path.exists():
                    continue
                self.say(f"{'would remove' if self.args.dry_run else 'removing'} {path}")
                removed.append(path)
                if self.args.dry_run:
                    continue
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()
        if not removed:
            self.say("nothing to remove: no GAN Collage plug-in or settings in "
                     + (", ".join(map(str, profiles)) if profiles else "any GIMP 3 profile"))
        self.say(f"the server environment in {self.args.venv} is left in place; delete that folder to remove it")

    def install(self):
        if self.args.package_plugin:
            self.package_plugin(self.args.package_plugin.resolve())
            return
        if self.args.uninstall:
            self.uninstall()
            return
        if not self.args.plugin_only:
            self.ensure_venv()
            self.install_torch()
            self.install_project()
        installed = [] if self.args.no_plugin else self.install_plugin()
        dry = self.args.dry_run
        if not self.args.no_plugin and not installed:
            self.say(f"the GIMP plug-in {'would not be' if dry else 'is NOT'} installed: start GIMP 3 once so that it "
                     "creates its profile and run this again, name the profile folder with --gimp-profile DIR, or "
                     "make a folder to copy by hand with --package-plugin OUT.")
        elif installed:
            where = ", ".join(str(p / "plug-ins" / PLUGIN_NAME) for p in installed)
            self.say(f"the GIMP plug-in {'would go to' if dry else 'is in'} {where}"
                     + ("" if dry else "; restart GIMP, then: Filters > Generative > GAN Collage"))
        if dry:
            self.say("nothing was changed (dry run)")
        elif not self.args.plugin_only:
            self.say(f"done. Start the server with: {self.python} -m server   (add --model PATH for your own "
                     "checkpoint)")


class InstallError(Exception):
    """Something the user must fix before anything is installed; the message says what."""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wheel_requirement(wheel: str) -> str:
    """"grpclib==0.4.9" for "grpclib-0.4.9-py3-none-any.whl"."""
    name, version = wheel.split("-")[:2]
    return f"{name}=={version}"


def looks_like_profile(folder: Path) -> bool:
    return folder.is_dir() and any((folder / marker).exists() for marker in PROFILE_MARKERS)


def build_plugin(target: Path, wheels: list[Path]):
    """The self-contained plug-in folder: the plug-in, vendor/ (project modules) and vendor/pure-grpc/.

    Files get fresh modification times (not the checkout's), so GIMP queries the plug-in again."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(PLUGIN, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "vendor"),
                    copy_function=shutil.copy)
    (target / f"{PLUGIN_NAME}.py").chmod(0o755)  # GIMP only runs executable plug-ins
    vendored_server = target / "vendor" / "server"
    shutil.copytree(SHARED, vendored_server / "shared", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                    copy_function=shutil.copy)
    shutil.copy(ROOT / "server" / "__init__.py", vendored_server / "__init__.py")
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(target / "vendor" / "pure-grpc")


def zip_folder(folder: Path, archive: Path):
    """`folder` as a zip whose top entry is the folder itself, keeping the executable bit."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                entry = zipfile.ZipInfo.from_file(path, path.relative_to(folder.parent).as_posix())
                entry.compress_type = zipfile.ZIP_DEFLATED
                out.writestr(entry, path.read_bytes())


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--venv", type=Path, default=ROOT / ".venv", help="where the server environment goes")
    ap.add_argument("--dev", action="store_true", help="also install the test tools and the studio's Ray Serve")
    ap.add_argument("--torch", choices=("auto", "cpu", "cuda"), default="auto",
                    help="which PyTorch build (auto: CUDA when an NVIDIA GPU is present)")
    ap.add_argument("--torch-index-url", help="pip index to take PyTorch from")
    part = ap.add_mutually_exclusive_group()
    part.add_argument("--no-plugin", action="store_true", help="only the server environment")
    part.add_argument("--plugin-only", action="store_true", help="only the GIMP plug-in and its settings")
    part.add_argument("--uninstall", action="store_true", help="remove the plug-in and its settings from the profiles")
    part.add_argument("--package-plugin", type=Path, metavar="OUT", help="write OUT/gan_collage/ and "
                      "OUT/gan_collage.zip: the self-contained plug-in folder, to copy into a profile by hand")
    ap.add_argument("--gimp-profile", action="append", metavar="DIR",
                    help="a GIMP 3 profile folder to install into (repeatable; default: every one found)")
    ap.add_argument("--server", metavar="HOST:PORT", help="the server address the plug-in uses "
                    "(default: keep the configured one, else 127.0.0.1:50051)")
    ap.add_argument("--force", action="store_true", help="use --gimp-profile folders that do not look like "
                    "GIMP 3 profiles (creating them)")
    ap.add_argument("--transport", choices=("auto", "grpcio", "pure-python"),
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
    # ValueError: a damaged settings file
    except (InstallError, subprocess.CalledProcessError, OSError, ValueError) as exc:
        print(f"[install] failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
