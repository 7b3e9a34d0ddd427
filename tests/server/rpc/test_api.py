"""Every call's happy path over real loopback gRPC, plus health and reflection through their standard clients."""
from __future__ import annotations

import io

import numpy as np
from google.protobuf import descriptor_pool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from PIL import Image as PILImage

from server.shared.api.gancollage.v1 import gancollage_pb2 as pb
from tests.support.servers import RESOLUTION, image, realize_request

NUM_WS, W_DIM = 8, 32  # the tiny model's W+ shape


def result_of(events):
    assert events[-1].HasField("result") and all(e.HasField("progress") for e in events[:-1])
    return events[-1].result


def test_server_info(served):
    info = served.stub.GetServerInfo(pb.GetServerInfoRequest())
    assert info.api_version == "gancollage.v1" and info.device == "cpu" and info.default_model == "default"
    assert info.max_queue == 8 and info.max_message_bytes == 256 << 20
    assert info.max_layers == 256 and info.max_canvas_side == 16384 and info.max_frames == 256
    assert info.max_request_pixels == 1 << 25 and info.max_result_pixels == 1 << 24


def test_list_models(served):
    models = {m.name: m for m in served.stub.ListModels(pb.ListModelsRequest()).models}
    assert set(models) == {"default", "bare", "broken"}
    default = models["default"]
    assert default.is_default and default.available and default.description == "tiny random test model"
    assert (default.resolution, default.num_ws, default.w_dim) == (RESOLUTION, NUM_WS, W_DIM)
    assert default.has_regressor and default.has_discriminator
    bare = models["bare"]
    assert bare.available and not bare.has_regressor and not bare.has_discriminator and not bare.is_default
    assert not models["broken"].available and models["broken"].error


def test_realize_regressor(served):
    events = served.realize(realize_request())
    assert events[0].progress.stage == "queued"
    stages = [e.progress.stage for e in events[:-1]]
    assert "compose" in stages and "regressor" in stages and stages[-1] == "paste"
    result = result_of(events)
    assert (result.x, result.y, result.layer.width, result.layer.height) == (10, 5, 20, 20)
    assert len(result.layer.rgba) == 20 * 20 * 4
    layer = np.frombuffer(result.layer.rgba, np.uint8).reshape(20, 20, 4)
    assert layer[..., 3].max() == 255
    assert (result.generated.width, result.generated.height) == (RESOLUTION, RESOLUTION)
    assert (result.latent.num_ws, result.latent.w_dim, result.latent.model) == (NUM_WS, W_DIM, "default")
    assert len(result.latent.values) == NUM_WS * W_DIM
    assert result.metrics.method == "regressor" and result.metrics.steps == 0
    assert result.region.size > 0


def test_realize_region_first_request(served):
    """What the GIMP plug-in sends: the region, layer crops (one opaque RGB, one at reduced scale), no
    selection, no pasted layer wanted; the answer equals that of the whole-layer request."""
    whole = realize_request()
    whole.canvas.ClearField("selection")
    whole.region.CopyFrom(pb.Square(x=8, y=4, size=16))
    bottom = np.frombuffer(whole.canvas.layers[0].image.rgba, np.uint8).reshape(30, 40, 4)
    crops = pb.RealizeRequest()
    crops.CopyFrom(whole)
    crops.skip_layer = True
    crop = np.ascontiguousarray(bottom[4:20, 8:24, :3])  # the bottom layer is opaque: RGB is enough
    crops.canvas.layers[0].CopyFrom(pb.Layer(image=pb.Image(width=16, height=16, rgb=crop.tobytes()), x=8, y=4))
    full, fast = result_of(served.realize(whole)), result_of(served.realize(crops))
    assert not fast.HasField("layer") and full.HasField("layer")
    assert (fast.region.x, fast.region.y, fast.region.size) == (8, 4, 16)
    assert fast.generated.rgba == full.generated.rgba and fast.latent.values == full.latent.values

    # the same bottom layer at half scale (2 x 2 averages), standing for its full 40 x 30
    half = bottom.reshape(15, 2, 20, 2, 4).mean(axis=(1, 3)).round().astype(np.uint8)
    crops.canvas.layers[0].CopyFrom(pb.Layer(image=pb.Image(width=20, height=15, rgba=half.tobytes()),
                                             canvas_width=40, canvas_height=30))
    scaled = result_of(served.realize(crops))
    assert len(scaled.generated.rgba) == RESOLUTION * RESOLUTION * 4 and not scaled.HasField("layer")


def test_realize_optimize_with_previews(served):
    events = served.realize(realize_request(pb.METHOD_OPTIMIZE, steps=3, preview_every=1, preview_size=16, seed=3))
    optimize = [e.progress for e in events if e.HasField("progress") and e.progress.stage == "optimize"]
    assert [p.step for p in optimize] == [1, 2, 3] and all(p.total == 3 for p in optimize)
    assert all(p.preview.width == 16 and len(p.preview.rgba) == 16 * 16 * 4 for p in optimize)
    result = result_of(events)
    assert result.metrics.method == "optimize" and result.metrics.steps == 3
    again = result_of(served.realize(realize_request(pb.METHOD_OPTIMIZE, steps=3, preview_every=1,
                                                     preview_size=16, seed=3)))
    assert again.layer.rgba == result.layer.rgba  # same request, same result


def test_realize_from_png_layers_without_selection(served):
    pixels = np.random.default_rng(0).integers(0, 256, (24, 36, 4), dtype=np.uint8)
    buffer = io.BytesIO()
    PILImage.fromarray(pixels, "RGBA").save(buffer, format="PNG")
    request = pb.RealizeRequest(model="default", canvas=pb.Canvas(width=36, height=24, layers=[
        pb.Layer(image=pb.Image(png=buffer.getvalue()))]))  # METHOD_UNSPECIFIED: the regressor
    result = result_of(served.realize(request))
    assert (result.x, result.y, result.layer.width, result.layer.height) == (0, 0, 36, 24)
    assert result.metrics.method == "regressor"


def test_realize_on_a_model_without_regressor_defaults_to_optimize(served):
    request = realize_request(pb.METHOD_UNSPECIFIED, steps=2)
    request.model = "bare"
    result = result_of(served.realize(request))
    assert result.metrics.method == "optimize" and result.latent.model == "bare"


def test_project(served):
    mask = np.zeros((20, 30), np.uint8)
    mask[:, :15] = 255
    request = pb.ProjectRequest(image=image(30, 20), mask=pb.Mask(width=30, height=20, data=mask.tobytes()),
                                options=pb.ProjectionOptions(method=pb.METHOD_HYBRID, steps=2))
    events = list(served.stub.Project(request))
    assert events[-1].HasField("result")
    result = events[-1].result
    assert (result.image.width, result.image.height) == (RESOLUTION, RESOLUTION)
    assert result.latent.num_ws == NUM_WS and result.metrics.method == "hybrid" and result.metrics.steps == 2
    assert "hybrid" in {e.progress.stage for e in events[:-1]}


def test_truncation_pulls_the_realized_latent_toward_w_avg(served, catalog):
    w_avg = catalog.get("")[1].generator.w_avg.numpy()

    def latent(**options) -> np.ndarray:
        result = result_of(served.realize(realize_request(**options)))
        return np.array(result.latent.values, np.float32).reshape(NUM_WS, W_DIM)

    plain = latent()
    assert np.array_equal(latent(truncation=1.0), plain)
    assert np.array_equal(latent(truncation=0.0), np.broadcast_to(w_avg, (NUM_WS, W_DIM)))
    np.testing.assert_allclose(latent(truncation=0.5), w_avg + 0.5 * (plain - w_avg), rtol=1e-5, atol=1e-6)
    project = pb.ProjectRequest(image=image(30, 20), options=pb.ProjectionOptions(
        method=pb.METHOD_OPTIMIZE, steps=2, truncation=0.0))
    result = result_of(list(served.stub.Project(project)))
    assert np.array_equal(np.array(result.latent.values, np.float32).reshape(NUM_WS, W_DIM),
                          np.broadcast_to(w_avg, (NUM_WS, W_DIM)))


def realized_latent(served, seed: int) -> pb.Latent:
    request = realize_request()
    request.canvas.layers[0].image.CopyFrom(image(40, 30, seed))
    return result_of(served.realize(request)).latent


def pixels(image: pb.Image) -> np.ndarray:
    """An answer's RGB as float (H, W, 3)."""
    return np.frombuffer(image.rgba, np.uint8).reshape(image.height, image.width, 4)[..., :3].astype(np.float64)


def as_wplus(latent: pb.Latent) -> np.ndarray:
    return np.array(latent.values, np.float32).reshape(NUM_WS, W_DIM)


def test_interpolate(served):
    a, b = realized_latent(served, 1), realized_latent(served, 2)
    events = list(served.stub.Interpolate(pb.InterpolateRequest(a=a, b=b, frames=4, mode="slerp")))
    frames = [e.frame for e in events if e.HasField("frame")]
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert all((f.image.width, f.image.height) == (RESOLUTION, RESOLUTION) for f in frames)
    assert frames[0].latent.values == a.values and frames[-1].latent.values == b.values
    # the frames walk from a to b: each one further from a and nearer to b than the one before, and each
    # image is its own latent's render (no two frames alike)
    from_a = [np.linalg.norm(as_wplus(f.latent) - as_wplus(a)) for f in frames]
    to_b = [np.linalg.norm(as_wplus(f.latent) - as_wplus(b)) for f in frames]
    assert from_a == sorted(from_a) and to_b == sorted(to_b, reverse=True) and len(set(from_a)) == 4
    assert all(not np.array_equal(pixels(f.image), pixels(g.image)) for f, g in zip(frames, frames[1:]))
    renders = [e.progress for e in events if e.HasField("progress") and e.progress.stage == "render"]
    assert renders[-1].step == renders[-1].total == 4


def test_style_mix(served):
    a, b = realized_latent(served, 1), realized_latent(served, 2)
    answer = served.stub.StyleMix(pb.StyleMixRequest(content=a, style=b, split=3))
    mixed = np.array(answer.latent.values).reshape(NUM_WS, W_DIM)
    assert np.array_equal(mixed[:3], np.array(a.values, np.float32).reshape(NUM_WS, W_DIM)[:3])
    assert np.array_equal(mixed[3:], np.array(b.values, np.float32).reshape(NUM_WS, W_DIM)[3:])
    assert answer.image.width == RESOLUTION and len(answer.image.rgba) == RESOLUTION ** 2 * 4


def test_local_blend(served):
    a, b = realized_latent(served, 1), realized_latent(served, 2)
    mask = np.zeros((8, 8), np.uint8)
    mask[:, 4:] = 255
    answer = served.stub.LocalBlend(pb.LocalBlendRequest(a=a, b=b, start_layer=0,
                                                         mask=pb.Mask(width=8, height=8, data=mask.tobytes())))
    assert (answer.image.width, answer.image.height) == (RESOLUTION, RESOLUTION) and not answer.HasField("latent")
    # a's render where the mask is 0 (the left half), b's where it is 255 (the right), judged away from the seam
    ends = [e.frame for e in served.stub.Interpolate(pb.InterpolateRequest(a=a, b=b, frames=2)) if e.HasField("frame")]
    blended, render_a, render_b = pixels(answer.image), pixels(ends[0].image), pixels(ends[1].image)
    left, right = slice(0, RESOLUTION // 4), slice(3 * RESOLUTION // 4, RESOLUTION)

    def distance(x: np.ndarray, y: np.ndarray, columns: slice) -> float:
        return float(np.abs(x[:, columns] - y[:, columns]).mean())

    assert distance(blended, render_a, left) < distance(blended, render_b, left)
    assert distance(blended, render_b, right) < distance(blended, render_a, right)


def test_health_through_the_standard_client(served):
    stub = health_pb2_grpc.HealthStub(served.channel)
    for service in ("", "gancollage.v1.GanCollage"):
        answer = stub.Check(health_pb2.HealthCheckRequest(service=service))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_through_the_standard_client(served):
    database = ProtoReflectionDescriptorDatabase(served.channel)
    assert "gancollage.v1.GanCollage" in database.get_services()
    assert "grpc.health.v1.Health" in database.get_services()
    pool = descriptor_pool.DescriptorPool(database)
    service = pool.FindServiceByName("gancollage.v1.GanCollage")
    realize = service.methods_by_name["Realize"]
    assert realize.server_streaming and realize.input_type.full_name == "gancollage.v1.RealizeRequest"
    assert set(service.methods_by_name) == {"GetServerInfo", "ListModels", "Realize", "Project",
                                            "Interpolate", "StyleMix", "LocalBlend", "ListDirections", "EditLatent"}
