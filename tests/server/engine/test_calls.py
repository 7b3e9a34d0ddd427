"""server.engine.calls: every job entry point handles validation, cancel and running out of memory the
same way (the same over gRPC: tests/server/rpc/test_errors.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from server.engine import calls
from server.engine.attribute_edits import AttributeEdit
from server.engine.canvas import Canvas, Layer
from server.engine.errors import Cancelled, InvalidInput, OutOfMemory
from server.engine.progress import CancelToken
from server.engine.project import ProjectOptions
from server.engine.realize import RealizeOptions
from server.models import load_model
from server.models.direction_files import DirectionLibrary
from tests.support.models import make_tiny_model
from tests.support.paths import conformance_file

pytestmark = pytest.mark.usefixtures("one_thread")

JOBS = ("realize", "project", "interpolate", "style_mix", "local_blend", "list_directions", "edit_latent")
STYLEMAP_JOBS = ("interpolate", "style_mix", "local_blend")


@pytest.fixture(scope="module")
def wplus(tmp_path_factory):
    """The tiny random model, with its directions already computed."""
    model = make_tiny_model()
    model.directions = DirectionLibrary(model.generator, tmp_path_factory.mktemp("directions"))
    model.directions.directions()
    return model


@pytest.fixture(scope="module")
def stylemap():
    return load_model(conformance_file("stylemapgan_s32.pt"))


def canvas() -> Canvas:
    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 4), dtype=np.uint8)
    pixels[..., 3] = 255
    return Canvas(32, 32, [Layer(pixels)])


def latent(model, seed: int) -> torch.Tensor:
    return torch.randn(1, *model.generator.latent_shape, generator=torch.Generator().manual_seed(seed))


def work_of(name: str, model):
    """The work of entry point `name` with arguments valid for `model`."""
    a, b, mask = latent(model, 1), latent(model, 2), torch.ones(1, 1, 4, 4)
    made = {
        "realize": lambda: calls.realize_job(model, canvas(), RealizeOptions(ProjectOptions(method="regressor"))),
        "project": lambda: calls.project_job(model, canvas(), ProjectOptions(method="optimize", steps=2)),
        "interpolate": lambda: calls.interpolate_job(model, a, b, 3, "linear"),
        "style_mix": lambda: calls.style_mix_job(model, a, b, 1),
        "local_blend": lambda: calls.local_blend_job(model, a, b, mask, 0, ""),
        "list_directions": lambda: calls.list_directions_job(model),
        "edit_latent": lambda: calls.edit_latent_job(model, a, [AttributeEdit(1.0, "pc1")]),
    }
    return made[name]()


def cancelled() -> CancelToken:
    token = CancelToken()
    token.cancel()
    return token


def no_network(*args, **kwargs):
    raise AssertionError("a network ran")


@pytest.mark.parametrize("kind, name", [("wplus", name) for name in JOBS]
                         + [("stylemap", name) for name in STYLEMAP_JOBS])
def test_a_cancelled_job_runs_nothing(request, monkeypatch, kind, name):
    work = work_of(name, request.getfixturevalue(kind))
    monkeypatch.setattr(torch.nn.Module, "__call__", no_network)
    with pytest.raises(Cancelled):
        work(None, cancelled())


def cuda_out_of_memory(*args, **kwargs):
    raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def older_cuda_out_of_memory(*args, **kwargs):
    raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")  # torch before 1.13


def cpu_out_of_memory(*args, **kwargs):
    torch.empty(1 << 50, dtype=torch.uint8)  # 1 PiB: torch's own CPU allocator error, on any machine


def numpy_out_of_memory(*args, **kwargs):
    np.empty(1 << 50, np.uint8)


def a_bug(*args, **kwargs):
    raise RuntimeError("a bug")


@pytest.mark.parametrize("failure", [cuda_out_of_memory, older_cuda_out_of_memory, cpu_out_of_memory,
                                     numpy_out_of_memory, a_bug])
@pytest.mark.parametrize("name", JOBS)
def test_running_out_of_memory_ends_every_job_with_out_of_memory(wplus, monkeypatch, name, failure):
    """Wherever the job is when an allocation fails (a network, or gathering the directions); any
    other error stays what it is."""
    work = work_of(name, wplus)
    monkeypatch.setattr(torch.nn.Module, "__call__", failure)
    monkeypatch.setattr(wplus.directions, "directions", failure)
    expected = RuntimeError if failure is a_bug else OutOfMemory
    with pytest.raises(expected) as error:
        work(None, CancelToken())
    assert type(error.value) is expected
    if expected is OutOfMemory:
        assert str(error.value).startswith("the device ran out of memory: ") and error.value.__context__ is None


def test_what_the_model_cannot_serve_is_refused_when_the_job_is_made(wplus):
    """Before it queues: checking needs no model run."""
    with pytest.raises(InvalidInput, match="^collage: "):
        calls.realize_job(wplus, canvas(), RealizeOptions(collage="layers"))
    a, b = latent(wplus, 1), latent(wplus, 2)
    with pytest.raises(InvalidInput, match="^mix_space: "):
        calls.local_blend_job(wplus, a, b, torch.ones(1, 1, 4, 4), 0, "w")
