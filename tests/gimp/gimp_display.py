"""The X display for the GIMP tests' dialogs and Live preview window: Xvfb inside the chroot,
commands run on it, screenshots, and pressing OK on every dialog the plug-in opens."""
from __future__ import annotations

import contextlib
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.gimp.gimp_run import HERE, in_root


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
