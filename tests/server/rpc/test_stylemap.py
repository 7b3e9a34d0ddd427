"""Every RPC on a StyleMapGAN checkpoint (the shared conformance file, served as a user's .pt from
--models-dir) over real loopback gRPC, next to a W+ model."""
from __future__ import annotations

import shutil

import grpc
import numpy as np
import pytest
import torch

from server.shared.api.gancollage.v1 import gancollage_pb2 as pb
from tests.support.paths import conformance_file
from tests.support.servers import canvas, serving

SHAPE = [64, 8, 8]
NAME = "smgan"


@pytest.fixture(scope="module")
def served(tmp_path_factory, model_paths):
    from server.rpc.catalog import Catalog

    models_dir = tmp_path_factory.mktemp("stylemap-models")
    shutil.copy(conformance_file("stylemapgan_s32.pt"), models_dir / f"{NAME}.pt")
    catalog = Catalog.load(model_paths[0], models_dir, "cpu")
    with serving(catalog) as s:
        yield s



def stylemap(seed: int) -> pb.Latent:
    values = np.random.default_rng(seed).standard_normal(64 * 8 * 8).astype(np.float32) * 0.3
    return pb.Latent(kind="stylemap", shape=SHAPE, values=values.tolist())


def as_tensor(latent: pb.Latent) -> torch.Tensor:
    return torch.tensor(latent.values).view(1, *latent.shape)


def realized(served, **fields) -> pb.RealizeResult:
    request = pb.RealizeRequest(model=NAME, canvas=canvas(), skip_layer=True, **fields)
    events = served.realize(request)
    assert events[-1].HasField("result")
    return events[-1].result


def test_list_models_describes_the_stylemap_model(served):
    models = {m.name: m for m in served.stub.ListModels(pb.ListModelsRequest()).models}
    info = models[NAME]
    assert info.available and info.latent_kind == "stylemap" and list(info.latent_shape) == SHAPE
    assert (info.resolution, info.num_levels, info.num_ws, info.w_dim) == (32, 6, 0, 0)
    assert info.has_regressor and info.has_discriminator
    default = models["default"]
    assert default.latent_kind == "w_plus" and list(default.latent_shape) == [default.num_ws, default.w_dim]
    assert default.num_levels == default.num_ws


@pytest.mark.parametrize("method,steps", [(pb.METHOD_REGRESSOR, 0), (pb.METHOD_HYBRID, 2),
                                          (pb.METHOD_OPTIMIZE, 2), (pb.METHOD_SCRIBBLE, 2)])
def test_realize_gives_a_stylemap(served, method, steps):
    result = realized(served, options=pb.ProjectionOptions(method=method, steps=steps))
    latent = result.latent
    assert latent.kind == "stylemap" and list(latent.shape) == SHAPE and latent.model == NAME
    assert (latent.num_ws, latent.w_dim) == (0, 0) and len(latent.values) == 64 * 8 * 8
    assert result.metrics.method and (result.generated.width, result.generated.height) == (32, 32)


def test_collage_modes(served):
    layers = realized(served, collage="layers").latent
    composite = realized(served, collage="composite").latent
    default = realized(served).latent
    assert default.values == composite.values and layers.values != composite.values
    with pytest.raises(grpc.RpcError) as info:
        served.realize(pb.RealizeRequest(canvas=canvas(), collage="layers"))  # the W+ default model
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "collage" in info.value.details()


def test_project_then_refine_from_the_stylemap(served):
    image = pb.Image(width=20, height=24, rgba=np.full((24, 20, 4), 200, np.uint8).tobytes())
    events = list(served.stub.Project(pb.ProjectRequest(model=NAME, image=image)))
    projected = events[-1].result.latent
    assert projected.kind == "stylemap" and list(projected.shape) == SHAPE
    options = pb.ProjectionOptions(method=pb.METHOD_OPTIMIZE, steps=1, init="latent", init_latent=projected)
    assert realized(served, options=options).latent.kind == "stylemap"


def test_interpolate_lerps_stylemaps(served):
    a, b = stylemap(1), stylemap(2)
    frames = [e.frame for e in served.stub.Interpolate(pb.InterpolateRequest(model=NAME, a=a, b=b, frames=3))
              if e.HasField("frame")]
    assert [f.index for f in frames] == [0, 1, 2]
    assert frames[0].latent.values == a.values and frames[2].latent.values == b.values
    assert torch.allclose(as_tensor(frames[1].latent), (as_tensor(a) + as_tensor(b)) / 2, atol=1e-6)


def test_style_mix_has_no_latent_of_its_own(served):
    levels = {m.name: m for m in served.stub.ListModels(pb.ListModelsRequest()).models}[NAME].num_levels

    def mixed(split: int) -> pb.ImageResponse:
        return served.stub.StyleMix(pb.StyleMixRequest(model=NAME, content=stylemap(1), style=stylemap(2), split=split))

    response = mixed(2)
    assert (response.image.width, response.image.height) == (32, 32) and not response.HasField("latent")
    style_only, content_only = mixed(0).image.rgba, mixed(levels).image.rgba
    assert len({response.image.rgba, style_only, content_only}) == 3  # a mix of both, neither one alone
    assert mixed(2).image.rgba == response.image.rgba
    with pytest.raises(grpc.RpcError) as info:
        served.stub.StyleMix(pb.StyleMixRequest(model=NAME, content=stylemap(1), style=stylemap(2), split=7))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "split" in info.value.details()


def test_local_blend_the_stylemapgan_way(served):
    mask = np.zeros((32, 32), np.uint8)
    mask[:, 20:] = 255  # columns 5.. of the 8 x 8 grid
    request = pb.LocalBlendRequest(model=NAME, a=stylemap(1), b=stylemap(2),
                                   mask=pb.Mask(width=32, height=32, data=mask.tobytes()))
    blended = served.stub.LocalBlend(request)
    a, b, got = as_tensor(request.a), as_tensor(request.b), as_tensor(blended.latent)
    assert blended.latent.kind == "stylemap"
    assert torch.equal(got[..., 5:], b[..., 5:]) and torch.equal(got[..., :5], a[..., :5])
    request.mix_space, request.start_layer = "w_plus", 2
    levels = served.stub.LocalBlend(request)
    assert not levels.HasField("latent") and levels.image.rgba != blended.image.rgba
    request.mix_space = "w"
    with pytest.raises(grpc.RpcError) as info:
        served.stub.LocalBlend(request)  # "w" has no levels to start from
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "start_layer" in info.value.details()


def test_latents_of_the_wrong_kind_or_shape_are_refused(served):
    wplus = pb.Latent(num_ws=6, w_dim=64, values=[0.0] * 384)
    cases = [
        (wplus, "a.kind"),
        (pb.Latent(kind="stylemap", shape=[64, 4, 4], values=[0.0] * 1024), "a"),
        (pb.Latent(kind="stylemap", shape=[64, 8], values=[0.0] * 512), "a.shape"),
        (pb.Latent(kind="stylemap", shape=SHAPE, values=[0.0] * 10), "a.values"),
        (pb.Latent(kind="stylemap", shape=SHAPE, values=[float("nan")] * 4096), "a.values"),
        (pb.Latent(kind="spatial", shape=SHAPE, values=[0.0] * 4096), "a.kind"),
    ]
    for latent, field in cases:
        with pytest.raises(grpc.RpcError) as info:
            list(served.stub.Interpolate(pb.InterpolateRequest(model=NAME, a=latent, b=stylemap(2), frames=2)))
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert info.value.details().startswith(field + ":"), (field, info.value.details())
    with pytest.raises(grpc.RpcError) as info:  # a stylemap sent to the W+ model
        list(served.stub.Interpolate(pb.InterpolateRequest(a=stylemap(1), b=stylemap(2), frames=2)))
    assert info.value.details().startswith("a.kind:") and "W+" in info.value.details()


def test_directions_and_edits_on_stylemaps(served):
    directions = served.stub.ListDirections(pb.ListDirectionsRequest(model=NAME)).directions
    assert directions and {d.kind for d in directions} == {"ganspace"}
    assert all((d.first_layer, d.last_layer) == (0, 1) for d in directions)
    latent = stylemap(3)
    edited = served.stub.EditLatent(pb.EditLatentRequest(model=NAME, latent=latent,
                                                         edits=[pb.Edit(direction="pc1", strength=2.0)]))
    moved = as_tensor(edited.latent) - as_tensor(latent)
    assert edited.latent.kind == "stylemap" and abs(float(moved.norm()) - 2.0 * directions[0].sigma) < 1e-3
    pair = served.stub.EditLatent(pb.EditLatentRequest(model=NAME, latent=latent, edits=[
        pb.Edit(strength=1.0, source=stylemap(4), target=stylemap(5))]))
    expected = as_tensor(latent) + as_tensor(stylemap(5)) - as_tensor(stylemap(4))
    assert torch.allclose(as_tensor(pair.latent), expected, atol=1e-5)
    with pytest.raises(grpc.RpcError) as info:
        served.stub.EditLatent(pb.EditLatentRequest(model=NAME, latent=latent, edits=[
            pb.Edit(direction="sefa1", strength=1.0)]))
    assert "sefa1" in info.value.details()
