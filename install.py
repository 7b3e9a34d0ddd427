#!/usr/bin/env python3
"""Set up GAN Collage's server environment in one command.

    python3 install.py            # a virtual environment in .venv with the server and its dependencies
    python3 install.py --dev      # plus the test tools

PyTorch: with an NVIDIA GPU (nvidia-smi answers) the CUDA build is installed, otherwise the CPU
build; `--torch cpu|cuda` overrides the detection and `--torch-index-url` picks a wheel index
(for example PyTorch's CPU-only index). Running it again only installs what is missing.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TORCH_VERSION = "2.13.0"
MIN_PYTHON = (3, 11)


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


class Installer:
    def __init__(self, args):
        self.args = args
        self.python = venv_python(args.venv)

    def run(self, cmd: list, what: str):
        print(f"[install] {what}: {' '.join(map(str, cmd))}", flush=True)
        if not self.args.dry_run:
            subprocess.run([str(c) for c in cmd], check=True)

    def ensure_venv(self):
        if self.python.exists():
            print(f"[install] using the environment in {self.args.venv}")
            return
        print(f"[install] creating a virtual environment in {self.args.venv}")
        if not self.args.dry_run:
            venv.EnvBuilder(with_pip=True).create(self.args.venv)

    def torch_build(self) -> str:
        return self.args.torch if self.args.torch != "auto" else ("cuda" if has_nvidia_gpu() else "cpu")

    def install_torch(self):
        build = self.torch_build()
        cmd = [self.python, "-m", "pip", "install", f"torch=={TORCH_VERSION}"]
        if self.args.torch_index_url:
            cmd += ["--index-url", self.args.torch_index_url]
        self.run(cmd, f"PyTorch {TORCH_VERSION} ({build} build)")

    def install_project(self):
        target = f"{ROOT}[dev]" if self.args.dev else str(ROOT)
        self.run([self.python, "-m", "pip", "install", "-e", target], "GAN Collage server and dependencies")

    def install(self):
        self.ensure_venv()
        self.install_torch()
        self.install_project()
        print(f"[install] done. Start the server with: {self.python} -m server.models info default")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--venv", type=Path, default=ROOT / ".venv", help="where the server environment goes")
    ap.add_argument("--dev", action="store_true", help="also install the test tools")
    ap.add_argument("--torch", choices=("auto", "cpu", "cuda"), default="auto",
                    help="which PyTorch build (auto: CUDA when an NVIDIA GPU is present)")
    ap.add_argument("--torch-index-url", help="pip index to take PyTorch from")
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
    except subprocess.CalledProcessError as exc:
        print(f"[install] failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
