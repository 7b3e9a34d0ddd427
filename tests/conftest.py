"""Shared test fixtures: where ../shared lives, tiny random-weight models."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CONFORMANCE = SHARED / "conformance"

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


class CancelAfter:
    """A cancel token that cancels itself after `checks` checks: where the engine checks is observable."""

    def __init__(self, checks: int):
        self.left = checks

    def check(self):
        from server.engine.errors import Cancelled

        self.left -= 1
        if self.left < 0:
            raise Cancelled("cancelled by the test")


def peak_rss_growth(work) -> int:
    """Bytes this process's peak RSS rose above its RSS before `work()` (Linux: VmHWM reset through
    /proc/self/clear_refs). Unlike tracemalloc it sees torch's and Pillow's allocations too."""
    status = Path("/proc/self/status")
    if not status.exists():
        pytest.skip("peak RSS is read from /proc/self/status (Linux only)")

    def field(name: str) -> int:
        line = next(line for line in status.read_text().splitlines() if line.startswith(name + ":"))
        return int(line.split()[1]) * 1024

    Path("/proc/self/clear_refs").write_text("5")
    before = field("VmRSS")
    work()
    return field("VmHWM") - before


def conformance_file(name: str) -> Path:
    """Path of a shared conformance file, or skip the test with the reason."""
    path = CONFORMANCE / name
    if not path.exists():
        pytest.skip(f"shared conformance file not found at {path} (only present in the project's CI)")
    return path


def make_tiny_model(resolution: int = 32, seed: int = 0):
    """A random-weight generator + discriminator + regressor, small enough for fast unit tests, as the
    `server.models.Model` that `load_model` returns."""
    import torch

    from server.models import Discriminator, DiscriminatorConfig, Generator, GeneratorConfig, Model
    from server.models.regressor import LatentRegressor

    torch.manual_seed(seed)
    channels = {r: 32 for r in (4, 8, 16, 32, 64, 128) if r <= resolution}
    g = Generator(GeneratorConfig(resolution=resolution, z_dim=32, w_dim=32, channels=channels,
                                  mapping_layers=2)).eval()
    g.mapping.w_avg.copy_(g.estimate_w_avg(1000, seed=0))
    d = Discriminator(DiscriminatorConfig(resolution=resolution, channels=channels)).eval()
    r = LatentRegressor(num_ws=g.num_ws, w_dim=g.w_dim, widths=(8, 16, 32, 32), input_size=resolution,
                        has_w_avg=True)
    r.set_w_avg(g.w_avg)
    return Model(g, d, r.eval(), card={"name": "tiny", "resolution": resolution, "num_ws": g.num_ws, "w_dim": g.w_dim})


@pytest.fixture(scope="session")
def tiny_model() -> dict:
    return make_tiny_model()


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors: extra threads only add contention (badly so on a loaded 2-core machine)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
