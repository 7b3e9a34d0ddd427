"""Each malformed request gets INVALID_ARGUMENT naming the field; model and memory problems their codes."""
from __future__ import annotations

import math

import grpc
import pytest
import torch

from server.rpc.servicer import INTERACTIVE_STEPS
from server.shared.api.gancollage.v1 import gancollage_pb2 as pb
from tests.support.servers import image, latent, long_request, realize_request, serving, wait_running

NUM_WS, W_DIM = 8, 32


def call(served, method: str, request):
    """Run a call to its end; the RpcError it raised (fails when it succeeded)."""
    with pytest.raises(grpc.RpcError) as info:
        answer = getattr(served.stub, method)(request)
        if hasattr(answer, "__next__"):  # a stream
            list(answer)
    return info.value


def realize_with(edit) -> pb.RealizeRequest:
    request = realize_request()
    edit(request)
    return request


def edit_request(kind, **fields):
    """An edit request with two valid latents."""
    names = ("content", "style") if kind is pb.StyleMixRequest else ("a", "b")
    return kind(**{names[0]: latent(NUM_WS, W_DIM, 1), names[1]: latent(NUM_WS, W_DIM, 2)}, **fields)


def short_rgba(r):
    r.canvas.layers[1].image.rgba = r.canvas.layers[1].image.rgba[:-1]


def many_layers(r):
    del r.canvas.layers[:]
    r.canvas.layers.extend(pb.Layer(image=image(1, 1)) for _ in range(257))


def nan_latent() -> pb.StyleMixRequest:
    request = edit_request(pb.StyleMixRequest, split=1)
    request.content.values[5] = math.nan
    return request


INVALID = [
    ("Realize", realize_with(short_rgba), "canvas.layers[1].image.rgba"),
    ("Realize", realize_with(lambda r: r.canvas.layers[1].mask.CopyFrom(pb.Mask(width=3, height=3, data=b"\0" * 9))),
     "canvas.layers[1].mask"),
    ("Realize", realize_with(lambda r: r.canvas.selection.CopyFrom(pb.Mask(width=5, height=5, data=b"\xff" * 25))
                             or setattr(r.canvas, "selection_x", 38)), "canvas.selection"),
    ("Realize", realize_with(lambda r: r.canvas.selection.CopyFrom(pb.Mask(width=5, height=5, data=b"\xff" * 25))
                             or setattr(r.canvas, "selection_y", -1)), "canvas.selection_y"),
    ("Realize", realize_with(lambda r: setattr(r.canvas.layers[0], "canvas_width", 2 ** 32 - 1)),
     "canvas.layers[0].canvas_width"),
    ("Realize", realize_with(lambda r: setattr(r.canvas.layers[0].image, "rgb", b"\0" * 7)),
     "canvas.layers[0].image.rgb"),
    ("Realize", realize_with(lambda r: r.region.CopyFrom(pb.Square(x=0, y=0, size=0))), "region.size"),
    ("Realize", realize_with(lambda r: r.region.CopyFrom(pb.Square(x=500, y=0, size=10))), "region"),
    ("Realize", realize_with(lambda r: setattr(r.canvas, "width", 0)), "canvas.width"),
    ("Realize", realize_with(lambda r: setattr(r.canvas, "height", 100_000)), "canvas.height"),
    ("Realize", realize_with(many_layers), "canvas.layers"),
    ("Realize", realize_with(lambda r: r.canvas.ClearField("layers")), "canvas.layers"),
    ("Realize", realize_with(lambda r: r.canvas.layers[0].image.ClearField("rgba")), "canvas.layers[0].image"),
    ("Realize", realize_with(lambda r: setattr(r.canvas.layers[0].image, "png", b"\x89PNG nonsense")),
     "canvas.layers[0].image.png"),
    ("Realize", realize_with(lambda r: setattr(r.canvas.layers[0], "opacity", math.nan)), "canvas.layers[0].opacity"),
    ("Realize", realize_with(lambda r: setattr(r, "model", "nonexistent")), "model"),
    ("Realize", realize_with(lambda r: setattr(r.options, "method", 99)), "options.method"),
    ("Realize", realize_with(lambda r: setattr(r.options, "lr", math.nan)), "options.lr"),
    ("Realize", realize_with(lambda r: setattr(r.options, "steps", 20_000)), "options.steps"),
    ("Realize", realize_with(lambda r: setattr(r.options, "space", "q")), "options.space"),
    *[("Realize", realize_with(lambda r, psi=psi: setattr(r.options, "truncation", psi)), "options.truncation")
      for psi in (1.5, -0.1, math.nan)],
    ("Project", pb.ProjectRequest(image=image(4, 4), options=pb.ProjectionOptions(truncation=2)), "options.truncation"),
    ("Realize", realize_with(lambda r: setattr(r, "margin", -1)), "margin"),
    ("Realize", realize_with(lambda r: setattr(r, "feather", math.inf)), "feather"),
    ("Realize", pb.RealizeRequest(), "canvas"),
    ("Project", pb.ProjectRequest(), "image"),
    ("Project", pb.ProjectRequest(image=image(4, 4), mask=pb.Mask(width=2, height=2, data=b"\xff" * 4)), "mask"),
    ("Interpolate", edit_request(pb.InterpolateRequest, frames=1), "frames"),
    ("Interpolate", edit_request(pb.InterpolateRequest, frames=3, mode="cubic"), "mode"),
    ("Interpolate", pb.InterpolateRequest(a=latent(NUM_WS, W_DIM), b=latent(NUM_WS, W_DIM + 1), frames=3), "b"),
    ("Interpolate", pb.InterpolateRequest(a=pb.Latent(num_ws=NUM_WS, w_dim=W_DIM, values=[0.0]),
                                          b=latent(NUM_WS, W_DIM), frames=3), "a.values"),
    ("Interpolate", pb.InterpolateRequest(b=latent(NUM_WS, W_DIM), frames=3), "a"),
    ("StyleMix", edit_request(pb.StyleMixRequest, split=NUM_WS + 1), "split"),
    ("StyleMix", nan_latent(), "content.values"),
    ("LocalBlend", edit_request(pb.LocalBlendRequest, start_layer=1), "mask"),
    ("LocalBlend", edit_request(pb.LocalBlendRequest, start_layer=99, mask=pb.Mask(width=1, height=1, data=b"\xff")),
     "start_layer"),
]


@pytest.mark.parametrize("method, request_, field", INVALID, ids=[f"{m}-{f}" for m, _, f in INVALID])
def test_invalid_argument_names_the_field(served, method, request_, field):
    error = call(served, method, request_)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert error.details().startswith(f"{field}: "), error.details()


def test_latent_from_another_model_is_refused(served):
    a = latent(NUM_WS, W_DIM)
    a.model = "bare"
    error = call(served, "StyleMix", pb.StyleMixRequest(content=a, style=latent(NUM_WS, W_DIM), split=1))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and error.details().startswith("content.model: ")


def test_unreadable_model_is_a_failed_precondition(served):
    error = call(served, "Realize", realize_with(lambda r: setattr(r, "model", "broken")))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION and "broken" in error.details()


def test_method_needing_a_missing_part_is_a_failed_precondition(served):
    request = realize_request(pb.METHOD_HYBRID, steps=2)
    request.model = "bare"
    error = call(served, "Realize", request)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION and "regressor" in error.details()


def test_missing_embedded_model_is_a_failed_precondition(monkeypatch, tmp_path):
    from server.models import loading
    from server.rpc.catalog import Catalog

    monkeypatch.setattr(loading, "EMBEDDED_DIR", tmp_path / "no-embedded-model")
    with serving(Catalog.load("default", None, "cpu")) as server:
        models = server.stub.ListModels(pb.ListModelsRequest()).models
        assert len(models) == 1 and not models[0].available and "embedded" in models[0].error
        error = call(server, "Realize", realize_request())
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION and "embedded" in error.details()


@pytest.mark.parametrize("failure, code, words", [
    (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), grpc.StatusCode.RESOURCE_EXHAUSTED,
     "out of memory"),
    (MemoryError("Unable to allocate 1.00 GiB for an array with shape (16384, 16384, 4)"),
     grpc.StatusCode.RESOURCE_EXHAUSTED, "out of memory"),
    (RuntimeError("a bug"), grpc.StatusCode.INTERNAL, "a bug"),
])
def test_engine_failure_maps_to_its_code_and_the_server_carries_on(served, catalog, monkeypatch, failure, code,
                                                                   words):
    _, model = catalog.get("default")
    synthesis = model.generator.synthesis

    def failing(*args, **kwargs):
        raise failure

    with monkeypatch.context() as patch:
        patch.setattr(synthesis, "forward", failing)
        error = call(served, "Realize", realize_request(pb.METHOD_OPTIMIZE, steps=2))
    assert error.code() == code and words in error.details()
    events = served.realize(realize_request())
    assert events[-1].HasField("result")


def test_pixel_budget_names_where_the_request_passes_it(catalog):
    request = pb.RealizeRequest(canvas=pb.Canvas(width=40, height=40, layers=[
        pb.Layer(image=image(30, 30)), pb.Layer(image=pb.Image(png=b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(8)))]))
    request.canvas.layers[1].image.png = request.canvas.layers[1].image.png[:16] + (30).to_bytes(4, "big") * 2
    with serving(catalog, max_request_pixels=1000, max_result_pixels=2000) as server:
        assert server.stub.GetServerInfo(pb.GetServerInfoRequest()).max_request_pixels == 1000
        error = call(server, "Realize", request)
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error.details().startswith("canvas.layers[1].image: ") and "limit of 1,000 pixels" in error.details()
        error = call(server, "Interpolate", edit_request(pb.InterpolateRequest, frames=3))  # 3 x 32 x 32 > 2000
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and error.details().startswith("frames: ")
        events = server.realize(pb.RealizeRequest(canvas=pb.Canvas(width=30, height=30, layers=[
            pb.Layer(image=image(30, 30))])))  # 900 pixels in, 900 out: within both limits
        assert events[-1].HasField("result")


def out_of_host_memory(*args, **kwargs):
    torch.empty(1 << 50, dtype=torch.uint8)  # 1 PiB: torch's own CPU allocator error, whatever the machine


def out_of_device_memory(*args, **kwargs):
    raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


MASK = pb.Mask(width=1, height=1, data=b"\xff")
NAMED_EDIT = pb.EditLatentRequest(latent=latent(NUM_WS, W_DIM), edits=[pb.Edit(direction="pc1", strength=1.0)])
EVERY_JOB = [  # (method, request, the part of the model that runs out of memory)
    ("Realize", realize_request(), "synthesis"),
    ("Realize", realize_request(pb.METHOD_OPTIMIZE, steps=2), "synthesis"),
    ("Project", pb.ProjectRequest(image=image(32, 32)), "synthesis"),
    ("Interpolate", edit_request(pb.InterpolateRequest, frames=3), "synthesis"),
    ("StyleMix", edit_request(pb.StyleMixRequest, split=2), "synthesis"),
    ("LocalBlend", edit_request(pb.LocalBlendRequest, start_layer=2, mask=MASK), "synthesis"),
    ("ListDirections", pb.ListDirectionsRequest(), "directions"),
    ("EditLatent", NAMED_EDIT, "synthesis"),
    ("EditLatent", NAMED_EDIT, "directions"),
]


@pytest.mark.parametrize("failure", [out_of_host_memory, out_of_device_memory])
@pytest.mark.parametrize("method, request_, part", EVERY_JOB, ids=[f"{m}-{p}" for m, _, p in EVERY_JOB])
def test_every_job_out_of_memory_is_resource_exhausted(served, catalog, monkeypatch, method, request_, part, failure):
    _, model = catalog.get("default")
    with monkeypatch.context() as patch:
        if part == "synthesis":
            patch.setattr(model.generator.synthesis.blocks[0], "forward", failure)
        else:
            patch.setattr(model.directions, "directions", failure)
        error = call(served, method, request_)
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error.details()
    assert error.details().startswith("the device ran out of memory"), error.details()
    assert served.realize(realize_request())[-1].HasField("result")


def test_what_the_model_cannot_serve_is_refused_before_the_queue(catalog):
    """A request refused for what it asks of the model, without running it, is refused at once: even
    when the queue is full."""
    refused = [("Realize", realize_with(lambda r: setattr(r, "collage", "layers")), "collage"),
               ("LocalBlend", edit_request(pb.LocalBlendRequest, mask=MASK, mix_space="w"), "mix_space")]
    with serving(catalog, max_queue=1) as server:
        running = server.stub.Realize(long_request())
        next(running)
        wait_running(server.jobs)
        waiting = server.stub.Realize(realize_request(pb.METHOD_OPTIMIZE, steps=INTERACTIVE_STEPS + 1))
        next(waiting)
        for method, request, field in refused:
            error = call(server, method, request)
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
            assert error.details().startswith(f"{field}: "), error.details()
        running.cancel()
        waiting.cancel()
