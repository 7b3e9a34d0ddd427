"""The GIMP tests' fixtures: the GIMP 3 chroot, the plug-in's zip unpacked, and the servers GIMP
talks to (the embedded model, or a tiny one; a StyleMapGAN model). One of each for all the GIMP tests."""
from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import pytest

from server.tools.server_process import server as server_process
from tests.gimp.gimp_run import EMBEDDED, ROOT, STYLEMAP_MODEL, log, prepare_root
from tests.support.models import make_tiny_model
from tests.support.paths import conformance_file


@pytest.fixture(scope="session")
def gimp_root() -> Path:
    if os.geteuid() != 0:
        pytest.fail("the GIMP 3 end-to-end tests need root (chroot, unshare); CI runs as root")
    try:
        prepare_root()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    return ROOT


@pytest.fixture(scope="session")
def unzipped_plugin(packaged_plugin, tmp_path_factory) -> Path:
    """gan_collage.zip unpacked as unzip does it (the permissions the zip records applied)."""
    target = tmp_path_factory.mktemp("unzipped")
    with zipfile.ZipFile(packaged_plugin.parent / "gan_collage.zip") as archive:
        for entry in archive.infolist():
            archive.extract(entry, target)
            (target / entry.filename).chmod(entry.external_attr >> 16 & 0o777)
    return target / "gan_collage"


@pytest.fixture(scope="session")
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


@pytest.fixture(scope="session")
def server(served) -> str:
    return served.address


@pytest.fixture(scope="session")
def stylemap_served(tmp_path_factory):
    """`python -m server` with the shared StyleMapGAN checkpoint in its --models-dir (a 32 px model with an
    8 x 8 x 64 stylemap, random weights), served as STYLEMAP_MODEL."""
    folder = tmp_path_factory.mktemp("stylemap-models")
    shutil.copy(conformance_file(f"{STYLEMAP_MODEL}.pt"), folder)
    with server_process("--models-dir", str(folder)) as running:
        yield running
