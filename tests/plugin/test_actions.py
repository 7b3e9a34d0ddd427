"""The plug-in's actions on plain data: requests built from layer data, result placement, names, progress."""
from __future__ import annotations

import dataclasses
import sys

import pytest

from core import actions, layer_data, models, requests
from core.connection import Connection
from core.errors import UserError
from core.latent_parasite import Stored
from core.layer_data import CanvasData, LayerData, Options
from core.limits import Limits
from core.session import Session, describe
from server.shared.calls import Progress
from server.shared.region import Bounds, Square
from tests.support.paths import REPO
from tests.support.plugin_fakes import (
    FakeClient,
    image,
    latent,
    listing,
    progress,
    projected,
    server_info,
    session,
    stylemap_latent,
    stylemap_listing,
)

LOWER = LayerData("lower", 6, 4, b"\x00" * 96, x=10, y=20, opacity=0.5, mask=b"\xff" * 24)
UPPER = LayerData("upper", 3, 5, b"\x10" * 60, x=-2, y=1)


SCALED = LayerData("scaled", 2, 2, b"\x07" * 12, x=4, y=0, channels=3, canvas_width=8, canvas_height=8)


def test_canvas_request_keeps_order_opacity_masks_and_scale():
    canvas = CanvasData(8, 6, [LOWER, UPPER, SCALED], region=Square(0, -1, 8))
    request = requests.canvas_request(canvas)
    assert (request["width"], request["height"]) == (8, 6) and "selection" not in request
    assert [layer["name"] for layer in request["layers"]] == ["lower", "upper", "scaled"]
    first, second, third = request["layers"]
    assert first == {"image": {"width": 6, "height": 4, "rgba": LOWER.pixels}, "x": 10, "y": 20, "opacity": 0.5,
                     "name": "lower", "mask": {"width": 6, "height": 4, "data": LOWER.mask}}
    assert "mask" not in second and second["x"] == -2 and "canvas_width" not in second
    assert third["image"] == {"width": 2, "height": 2, "rgb": SCALED.pixels}  # opaque: 3 bytes a pixel
    assert (third["canvas_width"], third["canvas_height"]) == (8, 8)


def test_an_empty_canvas_is_the_artists_error_before_any_call():
    client = FakeClient()
    with pytest.raises(UserError, match="nothing to realize"):
        actions.realize(session(client), CanvasData(8, 6, [], region=Square(0, -1, 8)), Options())
    assert client.calls == []


def test_realize_asks_for_the_region_only_and_places_the_square_over_it():
    def realized(request):
        yield progress("optimize", 5, 10)
        yield {"event": "result", "result": {"generated": image(4, 4), "region": {"x": -2, "y": 1, "size": 5},
                                             "latent": latent("faces"),
                                             "metrics": {"method": "hybrid", "steps": 10, "seconds": 1.5}}}

    client = FakeClient(Realize=realized)
    canvas = CanvasData(8, 6, [LOWER], region=Square(-2, 1, 5), has_selection=True)
    (layer,) = actions.realize(session(client), canvas, Options("hybrid", 10, 7))
    (name, request, timeout), = client.calls
    assert name == "Realize" and timeout == 60.0
    assert request["options"] == {"method": "hybrid", "steps": 10, "seed": 7} and request["model"] == ""
    assert request["region"] == {"x": -2, "y": 1, "size": 5} and request["skip_layer"] is True
    assert layer.name == "Realized (hybrid, faces, seed 7, 10 steps)"
    # scaled to the region by GIMP, cropped to the canvas, masked by the selection
    assert (layer.box, layer.crop, layer.masked) == (Bounds.sized(-2, 1, 5, 5), Bounds.sized(0, 1, 3, 5), True)
    assert layer.image == image(4, 4)


def test_the_session_asks_the_server_for_its_models_resolution():
    client = FakeClient(ListModels=listing(("faces", 256, False, ""), ("default", 64, True, "")))
    assert session(client).resolution() == 64
    chosen = Session(Connection(client), model="faces", timeout=60.0, report=lambda text, fraction: None)
    assert chosen.resolution() == 256
    with pytest.raises(UserError, match="'cars' is not on this server; pick one of faces, default"):
        Session(Connection(client), model="cars", timeout=60.0, report=lambda text, fraction: None).resolution()
    broken = FakeClient(ListModels=listing(("default", 0, True, "weights.safetensors: truncated")))
    with pytest.raises(UserError, match="cannot use the model 'default': weights.safetensors: truncated"):
        session(broken).resolution()


@pytest.mark.parametrize("seed", range(40))
def test_the_plugins_read_plan_matches_the_servers_region(seed):
    """The plug-in computes the region from GIMP's selection bounds before reading anything; the server
    computes it from the selection pixels. They must agree, whatever the canvas and selection."""
    import numpy as np

    from server.engine.canvas import Canvas, Layer
    from server.engine.compose import region_of_interest
    from server.shared.region import Bounds

    rng = np.random.default_rng(seed)
    width, height = (int(v) for v in rng.integers(1, 300, 2))
    selection = None
    if seed % 5:
        selection = np.zeros((height, width), np.uint8)
        x0, x1 = sorted(int(v) for v in rng.integers(0, width + 1, 2))
        y0, y1 = sorted(int(v) for v in rng.integers(0, height + 1, 2))
        selection[y0:y1 + 1, x0:x1 + 1] = rng.integers(1, 256)
    canvas = Canvas(width, height, [Layer(np.zeros((1, 1, 4), np.uint8))], selection)
    server = region_of_interest(canvas)
    bounds = None
    if selection is not None:
        ys, xs = np.nonzero(selection)
        bounds = Bounds(int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)  # Gimp.Selection.bounds
    plan = layer_data.ReadPlan.of(bounds, width, height, resolution=16)
    assert plan.region == server
    assert plan.area == Bounds(max(server.x, 0), max(server.y, 0), min(server.x + server.size, width),
                               min(server.y + server.size, height))
    assert server.size // plan.step >= 16 or plan.step == 1
    assert server.size // plan.step < 32 or plan.step == 1


def test_project_places_the_model_square_over_the_layer():
    client = FakeClient(Project=projected)
    (layer,) = actions.project(session(client), LOWER, Options("regressor", 0, 3))
    (_, request, _), = client.calls
    assert request["image"] == {"width": 6, "height": 4, "rgba": LOWER.pixels}
    assert request["mask"] == {"width": 6, "height": 4, "data": LOWER.mask}
    assert layer.name == "Projection of lower (regressor, default)"  # the regressor has no seed
    # 6x4 at (10, 20): the server centres it in a 6x6 square, one row of padding above and below
    assert layer.box == Bounds.sized(10, 19, 6, 6) and layer.crop == Bounds.sized(10, 20, 6, 4)


@pytest.mark.parametrize("width,height", [(6, 4), (5, 2), (3, 8), (7, 7), (1, 6)])
def test_square_matches_the_servers_padding(width, height):
    import numpy as np

    from server.engine.canvas import Canvas, Layer
    from server.engine.compose import region_of_interest

    region = region_of_interest(Canvas(width, height, [Layer(np.zeros((height, width, 4), np.uint8))]), margin=0.0)
    assert Bounds(0, 0, width, height).square() == region.bounds


def test_interpolate_projects_both_layers_then_names_frames_bottom_first():
    def frames(request):
        yield progress("render", 1, 2)
        for index in range(request["frames"]):
            yield {"event": "frame", "frame": {"index": index, "image": image(8, 8), "latent": latent()}}

    reports = []
    client = FakeClient(Project=projected, Interpolate=frames)
    layers = actions.interpolate(session(client, reports), LOWER, UPPER, Options(), 3, "slerp", 120)
    assert [call[0] for call in client.calls] == ["Project", "Project", "Interpolate"]
    assert client.calls[0][1]["image"]["rgba"] == LOWER.pixels and client.calls[1][1]["image"]["rgba"] == UPPER.pixels
    request = client.calls[2][1]
    assert request["a"] == latent() and request["frames"] == 3 and request["mode"] == "slerp"
    assert [layer.name for layer in layers] == ["Frame 1 (120ms)", "Frame 2 (120ms)", "Frame 3 (120ms)"]
    assert all(layer.crop == LOWER.box for layer in layers)
    fractions = [fraction for _, fraction in reports]
    assert fractions == sorted(fractions) and 0 <= fractions[0] and fractions[-1] <= 1
    assert ("Projecting lower: waiting for the server (1 job ahead)", 0.0) in reports


def test_style_mix_and_local_blend_requests():
    def mixed(request):
        yield {"event": "result", "result": {"image": image(8, 8), "latent": latent()}}

    client = FakeClient(Project=projected, StyleMix=mixed, LocalBlend=mixed)
    (mix,) = actions.style_mix(session(client), LOWER, UPPER, Options(), 3)
    assert client.calls[-1][1] == {"model": "", "content": latent(), "style": latent(), "split": 3}
    assert mix.name == "Style mix of lower + upper (split 3, default)" and mix.crop == LOWER.box

    mask = b"\xff" * 36
    squares = []
    (blend,) = actions.local_blend(session(client), LOWER, UPPER, lambda square: squares.append(square) or mask,
                                   Options(), 2)
    assert squares == [LOWER.box.square()]  # no latent of its own: the square its projection stands for
    assert client.calls[-1][1]["mask"] == {"width": 6, "height": 6, "data": mask}
    assert client.calls[-1][1]["start_layer"] == 2
    assert blend.name == "Local blend of lower + upper (from layer 2, default)"


@pytest.mark.parametrize("action,value,label", [(actions.style_mix, 11, "Split"),
                                                (actions.local_blend, 12, "Blend from layer")])
def test_latent_rows_are_checked_against_the_model_before_any_projection(action, value, label):
    client = FakeClient(ListModels=listing(("default", 64, True, "", 10)))
    arguments = ((lambda square: b"\xff" * 36),) if action is actions.local_blend else ()
    expected = f"{label} is {value}, but the model 'default' has 10 latent rows: choose 0 to 10"
    with pytest.raises(UserError, match=expected):
        action(session(client), LOWER, UPPER, *arguments, Options(), value)
    assert client.calls == []


def test_the_servers_limits_refuse_a_request_before_it_is_sent():
    canvas = CanvasData(8, 6, [LOWER, UPPER, SCALED], region=Square(0, -1, 8))
    for limits, expected in (({"max_layers": 2}, "3 layers inside the region; the GAN Collage server takes at most 2"),
                             ({"max_request_pixels": 30}, "0.0 million pixels"),
                             ({"max_message_bytes": 100}, "takes at most 0 MiB")):
        client = FakeClient(GetServerInfo=server_info(**limits))
        with pytest.raises(UserError, match=expected):
            actions.realize(session(client), canvas, Options())
        assert client.calls == []
    # 6x4 + 6x4 mask + 3x5 + 2x2 pixels, counted at their declared sizes
    assert requests.request_pixels(requests.canvas_request(canvas)) == 24 + 24 + 15 + 4
    with pytest.raises(UserError, match="20000 x 300 pixels; the GAN Collage server takes images up to 16384"):
        Limits.of({"max_canvas_side": 16384}).check_canvas(20000, 300)
    Limits.of({}).check_canvas(10 ** 6, 10 ** 6)  # an older server: unknown limits, nothing refused
    with pytest.raises(UserError, match="at most 4 frames"):
        actions.interpolate(session(FakeClient(GetServerInfo=server_info(max_frames=4))), LOWER, UPPER, Options(), 5,
                            "linear", 100)


def test_local_blend_without_a_selection_asks_for_one_before_any_call():
    client = FakeClient()
    with pytest.raises(UserError, match="needs a selection"):
        actions.local_blend(session(client), LOWER, UPPER, lambda square: None, Options(), 0)
    assert client.calls == []


def test_progress_text():
    assert describe("Realizing", Progress.of(progress("queued", 0, 0, 2)["progress"])) == \
        ("Realizing: waiting for the server (2 jobs ahead)", 0.0)
    assert describe("Realizing", Progress.of(progress("optimize", 3, 12)["progress"])) == \
        ("Realizing: optimize 3/12", 0.25)
    assert describe("Realizing", Progress.of(progress("compose", 0, 0)["progress"])) == ("Realizing: compose 0/0", 0.0)


def test_the_shared_region_rule_needs_only_the_standard_library():
    """The plug-in imports these shared modules before it knows whether its Python has grpcio or protobuf, and
    its Python may have neither numpy nor torch."""
    import ast

    standard_only = {"region", "defaults", "calls", "address", "errors"}
    for name in standard_only:
        tree = ast.parse((REPO / "server" / "shared" / f"{name}.py").read_text())
        modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        modules |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and not node.level}
        assert {m.split(".")[0] for m in modules} <= set(sys.stdlib_module_names) | {"__future__"}
        siblings = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level}
        assert siblings <= standard_only


# ------------------------------------------------------------------------------------ stylemap models

def stylemap_projected(request):
    yield {"event": "result", "result": {"latent": stylemap_latent(), "image": image(8, 8),
                                         "metrics": {"method": "regressor", "steps": 0}}}


def stylemap_frames(request):
    for index in range(request["frames"]):
        yield {"event": "frame", "frame": {"index": index, "image": image(8, 8), "latent": stylemap_latent()}}


SQUARE = Bounds.sized(8, 16, 12, 12)


def with_latent(layer: LayerData, latent: dict) -> LayerData:
    return dataclasses.replace(layer, latent=Stored(latent, SQUARE))


@pytest.mark.parametrize("model,stored,reused", [
    ("", stylemap_latent(), True),
    ("", stylemap_latent(shape=(4, 4, 4)), False),                      # another size of stylemap
    ("", dict(latent("smgan"), kind="w_plus", shape=[2, 2]), False),    # a W+ latent: never to a stylemap model
    ("", latent("smgan"), False),                                       # ... also from an older plug-in
    ("", stylemap_latent("other"), False),                              # another model's
    ("faces", stylemap_latent("faces", shape=(1, 2, 2)), False),        # a stylemap to a W+ model
    ("faces", dict(latent("faces"), kind="w_plus", shape=[2, 2]), True),
], ids=["own", "other shape", "w plus", "old w plus", "other model", "stylemap to w plus", "w plus to w plus"])
def test_a_latent_is_reused_only_for_a_model_of_its_kind_and_shape(model, stored, reused):
    client = FakeClient(ListModels=stylemap_listing(), Interpolate=stylemap_frames,
                        Project=stylemap_projected if not model else projected)
    run = Session(Connection(client), model=model, timeout=60.0, report=lambda text, fraction: None)
    actions.interpolate(run, with_latent(LOWER, stored), UPPER, Options(), 2, "linear", 100)
    assert [name for name, *_ in client.calls] == ["Project"] * (1 if reused else 2) + ["Interpolate"]
    assert (client.calls[-1][1]["a"] == stored) == reused


def test_levels_come_from_num_levels_and_are_named_as_the_family_has_them():
    client = FakeClient(ListModels=stylemap_listing())
    with pytest.raises(UserError, match=r"Split is 7, but the model 'smgan' has 6 levels \(coarse to fine\): "
                                        "choose 0 to 6"):
        actions.style_mix(session(client), LOWER, UPPER, Options(), 7)
    rows = FakeClient(ListModels=lambda request: iter([{"event": "result", "result": {"models": [dict(
        name="default", resolution=64, is_default=True, available=True, error="", num_ws=10, num_levels=7)]}}]))
    with pytest.raises(UserError, match="Split is 8, but the model 'default' has 7 latent rows: choose 0 to 7"):
        actions.style_mix(session(rows), LOWER, UPPER, Options(), 8)
    assert client.calls == [] and rows.calls == []


def test_a_stylemap_style_mix_without_a_latent_gives_a_layer_without_one():
    def mixed(request):
        yield {"event": "result", "result": {"image": image(8, 8)}}  # the mix exists per resizer level only

    client = FakeClient(ListModels=stylemap_listing(), Project=stylemap_projected, StyleMix=mixed)
    lower = with_latent(LOWER, stylemap_latent(value=0.25))
    (mix,) = actions.style_mix(session(client), lower, UPPER, Options(), 6)
    assert [name for name, *_ in client.calls] == ["Project", "StyleMix"]
    assert client.calls[-1][1] == {"model": "", "content": stylemap_latent(value=0.25), "style": stylemap_latent(),
                                   "split": 6}
    assert mix.latent is None and mix.box == SQUARE and mix.name == "Style mix of lower + upper (split 6, smgan)"


def test_a_stylemap_local_blend_sends_its_mix_space_and_keeps_the_blended_stylemap():
    answers = []

    def blended(request):
        answer = {"image": image(8, 8)}
        if request["mix_space"] == "w":
            answer["latent"] = stylemap_latent(value=0.75)
        answers.append(answer)
        yield {"event": "result", "result": answer}

    client = FakeClient(ListModels=stylemap_listing(), Project=stylemap_projected, LocalBlend=blended)
    lower, upper = with_latent(LOWER, stylemap_latent(value=0.25)), with_latent(UPPER, stylemap_latent())
    mask = b"\xff" * 144
    (whole,) = actions.local_blend(session(client), lower, upper, lambda square: mask, Options(), 3)  # "w": all
    request = client.calls[-1][1]
    assert (request["mix_space"], request["start_layer"]) == ("w", 0)  # the whole stylemap: every level
    assert whole.latent == stylemap_latent(value=0.75) and whole.box == SQUARE
    assert whole.name == "Local blend of lower + upper (whole stylemap, smgan)"
    (levels,) = actions.local_blend(session(client), lower, upper, lambda square: mask, Options(), 2, "w_plus")
    assert (client.calls[-1][1]["mix_space"], client.calls[-1][1]["start_layer"]) == ("w_plus", 2)
    assert levels.latent is None and levels.name == "Local blend of lower + upper (every level from 2, smgan)"
    assert "Project" not in [name for name, *_ in client.calls]
    with pytest.raises(UserError, match="Blend from layer is 7, but the model 'smgan' has 6 levels"):
        actions.local_blend(session(client), lower, upper, lambda square: mask, Options(), 7, "w_plus")
    with pytest.raises(UserError, match="Mix space is 'z'"):
        actions.local_blend(session(client), lower, upper, lambda square: mask, Options(), 0, "z")
    assert len(client.calls) == 2


def test_a_w_plus_local_blend_sends_no_mix_space_whatever_is_chosen():
    def blended(request):
        yield {"event": "result", "result": {"image": image(8, 8)}}

    client = FakeClient(ListModels=stylemap_listing(), Project=projected, LocalBlend=blended)
    faces = Session(Connection(client), model="faces", timeout=60.0, report=lambda text, fraction: None)
    (layer,) = actions.local_blend(faces, LOWER, UPPER, lambda square: b"\xff" * 36, Options(), 1, "w_plus")
    assert "mix_space" not in client.calls[-1][1] and client.calls[-1][1]["start_layer"] == 1
    assert layer.name == "Local blend of lower + upper (from layer 1, default)" and layer.latent is None


def test_model_lists_say_what_each_models_latent_is():
    assert models.latent_words({"latent_kind": "stylemap", "latent_shape": [64, 8, 8]}) == "8x8x64 stylemap"
    assert models.latent_words({"latent_kind": "w_plus", "latent_shape": [12, 512], "num_ws": 12}) == \
        "12 latent rows"
    assert models.latent_words({"num_ws": 12, "w_dim": 512}) == "12 latent rows"  # an older server
