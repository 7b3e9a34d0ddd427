"""server.engine.realize end to end on the tiny random model."""
from __future__ import annotations

import numpy as np
import pytest

from server.engine.canvas import Canvas, Layer
from server.engine.errors import Cancelled, InvalidInput
from server.engine.progress import CancelToken
from server.engine.project import ProjectOptions
from server.engine.realize import RealizeOptions, realize

pytestmark = pytest.mark.usefixtures("one_thread")


def make_canvas(selected: bool = True) -> Canvas:
    rng = np.random.default_rng(0)
    bottom = rng.integers(0, 256, (50, 70, 4), dtype=np.uint8)
    bottom[..., 3] = 255
    top = rng.integers(0, 256, (30, 20, 4), dtype=np.uint8)
    top[..., 3] = 200
    top_mask = np.full((30, 20), 255, np.uint8)
    top_mask[:, :5] = 0
    selection = None
    if selected:
        selection = np.zeros((50, 70), np.uint8)
        selection[10:30, 20:45] = 255
    return Canvas(70, 50, [Layer(bottom), Layer(top, x=-4, y=12, opacity=0.8, mask=top_mask)], selection)


def test_realize_returns_a_layer_inside_the_selection(tiny_model):
    canvas = make_canvas()
    before = [layer.image.copy() for layer in canvas.layers], canvas.selection.copy()
    events = []
    opts = RealizeOptions(ProjectOptions(method="optimize", steps=3), feather=2.0)
    result = realize(tiny_model, canvas, opts, progress=events.append)
    layer = result.layer
    assert (layer.x, layer.y, *layer.pixels.shape[:2]) == (20, 10, 20, 25)
    assert layer.pixels[..., 3].max() == 255 and layer.pixels[0, 0, 3] < 255  # feathered edge
    assert result.latent.shape == (1, tiny_model.generator.num_ws, tiny_model.generator.w_dim)
    assert result.generated.shape == (32, 32, 3) and result.generated.dtype == np.uint8
    assert np.isfinite(result.metrics["masked_psnr"]) and result.metrics["steps"] == 3
    stages = [e.stage for e in events]
    assert stages[0] == "compose" and stages[-1] == "paste" and stages.count("optimize") == 3
    # The user's data is untouched.
    assert all(np.array_equal(a, layer.image) for a, layer in zip(before[0], canvas.layers))
    assert np.array_equal(before[1], canvas.selection)


def test_whole_canvas_without_selection(tiny_model):
    result = realize(tiny_model, make_canvas(selected=False), RealizeOptions(ProjectOptions(method="regressor")))
    assert (result.layer.x, result.layer.y, *result.layer.pixels.shape[:2]) == (0, 0, 50, 70)
    assert (result.layer.pixels[..., 3] == 255).all()
    assert result.metrics["steps"] == 0


def test_same_seed_same_result(tiny_model):
    opts = RealizeOptions(ProjectOptions(method="hybrid", steps=2, seed=7))
    a = realize(tiny_model, make_canvas(), opts)
    b = realize(tiny_model, make_canvas(), opts)
    assert np.array_equal(a.layer.pixels, b.layer.pixels)


def test_nothing_visible_is_refused(tiny_model):
    canvas = make_canvas()
    for layer in canvas.layers:
        layer.visible = False
    with pytest.raises(InvalidInput) as info:
        realize(tiny_model, canvas)
    assert info.value.field == "layers"


def test_bad_options_name_the_field(tiny_model):
    with pytest.raises(InvalidInput) as info:
        realize(tiny_model, make_canvas(), RealizeOptions(feather=float("nan")))
    assert info.value.field == "feather"


def test_cancel_stops_the_job(tiny_model):
    token = CancelToken()

    def cancel_at_step_2(event):
        if event.stage == "optimize" and event.step == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        realize(tiny_model, make_canvas(), RealizeOptions(ProjectOptions(steps=50)), cancel_at_step_2, token)
