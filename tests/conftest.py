"""The one place that sets import paths, and the fixtures every test folder may ask for.

pytest puts the repository root on sys.path (the parent of the `tests` package): `server`, `install` and
`tests.support` import from there. The plug-in's source folder goes on it too, as GIMP puts it: its
`core`, `procedures` and `ui` import as top-level packages.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.models import make_tiny_model
from tests.support.paths import PLUGIN, REPO
from tests.support.servers import RESOLUTION, serving

for folder in (REPO, PLUGIN):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))


@pytest.fixture(scope="session")
def tiny_model():
    return make_tiny_model()


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors: extra threads only add contention (badly so on a loaded 2-core machine)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def model_paths(tmp_path_factory) -> tuple[Path, Path]:
    """(default model folder, models dir): the tiny model saved as a model folder (served as "default"), plus
    a models dir with a G-only copy ("bare": no regressor, no discriminator) and an unreadable checkpoint
    ("broken")."""
    from server.models.own_format import save_model

    root = tmp_path_factory.mktemp("models")
    tiny = make_tiny_model(RESOLUTION)
    default = root / "tiny"
    save_model(default, tiny.generator, tiny.discriminator, tiny.regressor, name="tiny",
               description="tiny random test model")
    models_dir = root / "more"
    save_model(models_dir / "bare", tiny.generator, name="bare", description="generator only")
    (models_dir / "broken.pt").write_bytes(b"this is not a checkpoint")
    return default, models_dir


@pytest.fixture(scope="session")
def catalog(model_paths):
    """Loaded once per session, so the engine's per-generator caches are shared by all servers."""
    from server.rpc.catalog import Catalog

    default, models_dir = model_paths
    return Catalog.load(default, models_dir, "cpu")


@pytest.fixture(scope="module")
def served(catalog):
    """An in-process server on the catalog, on 127.0.0.1, port 0, over real loopback gRPC."""
    with serving(catalog) as s:
        yield s


@pytest.fixture(scope="session")
def packaged_plugin(tmp_path_factory) -> Path:
    """`install.py --package-plugin OUT`'s folder, OUT/gan_collage (the wheels come from PyPI once, then .cache/)."""
    out = tmp_path_factory.mktemp("package")
    done = subprocess.run([sys.executable, str(REPO / "install.py"), "--package-plugin", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return out / "gan_collage"


@pytest.fixture(scope="module")
def grpclib_importable(packaged_plugin):
    """grpclib (and h2, hpack, hyperframe, multidict) from the packaged plug-in's vendor/pure-grpc, placed after
    site-packages so that this process keeps its own protobuf."""
    pure = str(packaged_plugin / "vendor" / "pure-grpc")
    sys.path.append(pure)
    yield
    sys.path.remove(pure)
