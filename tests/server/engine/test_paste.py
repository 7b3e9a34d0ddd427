"""Paste-back: transparent outside the selection, feathered inside, O(selection box) in strips."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from server.engine.canvas import Canvas, Layer
from server.engine.compose import region_of_interest
from server.engine.errors import Cancelled, InvalidInput
from server.engine.paste import FINE_REACH, coarse_edge_distance, edge_distance, paste_back
from server.shared.region import Square
from tests.support.engine import CancelAfter


def random_canvas(width: int, height: int, selection=None, seed: int = 0) -> Canvas:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
    pixels[: height // 3, ..., 3] = 0  # some uncovered pixels too
    return Canvas(width, height, [Layer(pixels)], selection)


def block_selection(width: int, height: int, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    selection = np.zeros((height, width), np.uint8)
    selection[y0:y1, x0:x1] = 255
    return selection


def placed(canvas: Canvas, margin: float = 0.125) -> tuple[Canvas, Square]:
    return canvas, region_of_interest(canvas, margin)


def paste(generated, c: tuple[Canvas, Square], feather: float = 8.0, **kwargs):
    return paste_back(generated, *c, feather, **kwargs)


def constant(value: float, resolution: int = 8) -> np.ndarray:
    return np.full((3, resolution, resolution), value, np.float32)


def test_hard_edge_covers_the_selection_box():
    c = placed(random_canvas(16, 16, block_selection(16, 16, 5, 5, 11, 11)), margin=0)
    layer = paste(constant(0.5), c, feather=0)
    assert (layer.x, layer.y) == (5, 5) and layer.pixels.shape == (6, 6, 4)
    assert (layer.pixels[..., 3] == 255).all()
    assert (layer.pixels[..., :3] == 191).all()  # (0.5 + 1) * 127.5 = 191.25


def test_feather_ramps_in_from_the_edge():
    c = placed(random_canvas(16, 16, block_selection(16, 16, 5, 5, 11, 11)))
    alpha = paste(constant(0.5), c, feather=2).pixels[..., 3]
    # distance to the edge = distance to the nearest unselected centre - 0.5: 0.5, 1.5, 2.5 ring by ring,
    # ramp = d / 2 -> 255 x (0.25, 0.75, 1) = 63.75, 191.25, 255
    i = np.arange(6)
    ring = np.minimum.outer(np.minimum(i, 5 - i), np.minimum(i, 5 - i))
    np.testing.assert_array_equal(alpha, np.array([64, 191, 255], np.uint8)[ring])


def test_canvas_border_is_not_a_selection_edge():
    c = placed(random_canvas(16, 16, block_selection(16, 16, 0, 0, 8, 16)))
    layer = paste(constant(0.0), c, feather=2)
    assert (layer.x, layer.y) == (0, 0) and layer.pixels.shape == (16, 8, 4)
    alpha = layer.pixels[..., 3]
    assert (alpha[:, :6] == 255).all()
    assert (alpha[:, 6] == 191).all() and (alpha[:, 7] == 64).all()


def test_soft_selection_without_feather_is_the_alpha():
    selection = np.zeros((12, 12), np.uint8)
    selection[3:9, 2:10] = np.arange(48, dtype=np.uint8).reshape(6, 8) * 5 + 1
    c = placed(random_canvas(12, 12, selection))
    layer = paste(constant(-0.2), c, feather=0)
    assert (layer.x, layer.y) == (2, 3)
    np.testing.assert_array_equal(layer.pixels[..., 3], selection[3:9, 2:10])


def round_selection(size: int) -> np.ndarray:
    y, x = np.mgrid[:size, :size]
    radius = np.hypot(x - size * 0.45, y - size * 0.55)
    return np.clip((size * 0.3 - radius) * 80, 0, 255).astype(np.uint8)  # soft rim


@pytest.mark.parametrize("feather", [0.0, 3.0])
def test_outside_the_selection_nothing_changes(feather):
    selection = round_selection(24)
    c = placed(random_canvas(24, 24, selection, seed=3))
    generated = np.random.default_rng(4).uniform(-1, 1, (3, 16, 16)).astype(np.float32)
    layer = paste(generated, c, feather)
    ys, xs = np.nonzero(selection)
    assert (layer.x, layer.y) == (xs.min(), ys.min())
    assert layer.pixels.shape[:2] == (ys.max() + 1 - ys.min(), xs.max() + 1 - xs.min())
    full = np.zeros((24, 24, 4), np.uint8)
    full[layer.y:layer.y + layer.pixels.shape[0], layer.x:layer.x + layer.pixels.shape[1]] = layer.pixels
    assert not full[selection == 0].any()  # alpha exactly 0 and RGB 0



def test_feather_softens_only_near_the_edge():
    selection = block_selection(24, 24, 4, 4, 20, 20)
    c = placed(random_canvas(24, 24, selection))
    hard = paste(constant(0.3, 16), c, 0).pixels[..., 3]
    soft = paste(constant(0.3, 16), c, 4).pixels[..., 3]
    assert (hard == 255).all()
    assert (soft[4:-4, 4:-4] == 255).all() and (soft[0] < 255).all() and soft[0].min() > 0


def test_no_selection_covers_the_whole_canvas_opaque():
    c = placed(random_canvas(10, 6))
    layer = paste(constant(0.0, 5), c)
    assert (layer.x, layer.y) == (0, 0) and layer.pixels.shape == (6, 10, 4)
    assert (layer.pixels[..., 3] == 255).all()


def test_same_size_paste_is_exact_and_accepts_torch_batches():
    c = placed(random_canvas(8, 8))
    values = np.random.default_rng(5).integers(0, 256, (3, 8, 8))
    generated = (values / 127.5 - 1).astype(np.float32)
    layer = paste(generated, c)
    np.testing.assert_array_equal(layer.pixels[..., :3], values.transpose(1, 2, 0))
    from_torch = paste(torch.from_numpy(generated)[None], c)
    np.testing.assert_array_equal(from_torch.pixels, layer.pixels)


def test_edge_distance_matches_brute_force():
    inside = np.random.default_rng(6).uniform(size=(13, 17)) > 0.15
    limit = 4
    oy, ox = np.nonzero(~inside)
    y, x = np.mgrid[:13, :17]
    brute = np.hypot(y[..., None] - oy, x[..., None] - ox).min(axis=-1)
    np.testing.assert_allclose(edge_distance(inside, limit), np.minimum(brute, limit), atol=1e-12)


@pytest.mark.parametrize("generated, feather, field", [
    (np.zeros((3, 8, 7), np.float32), 1.0, "generated"),
    (np.zeros((2, 3, 8, 8), np.float32), 1.0, "generated"),
    (np.full((3, 8, 8), np.nan, np.float32), 1.0, "generated"),
    (np.zeros((3, 8, 8), np.float32), -1.0, "feather"),
    (np.zeros((3, 8, 8), np.float32), float("inf"), "feather"),
])
def test_paste_validation_names_the_field(generated, feather, field):
    c = placed(random_canvas(8, 8))
    with pytest.raises(InvalidInput) as caught:
        paste(generated, c, feather)
    assert caught.value.field == field


def test_a_cropped_selection_pastes_the_same_layer():
    selection = round_selection(40)
    canvas = random_canvas(40, 40, selection, seed=8)
    ys, xs = np.nonzero(selection)
    crop = selection[ys.min():ys.max() + 1, xs.min():xs.max() + 1].copy()
    cropped = Canvas(40, 40, canvas.layers, crop, selection_x=int(xs.min()), selection_y=int(ys.min()))
    generated = np.random.default_rng(9).uniform(-1, 1, (3, 16, 16)).astype(np.float32)
    for feather in (0.0, 3.0):
        a, b = paste(generated, placed(canvas), feather), paste(generated, placed(cropped), feather)
        assert (a.x, a.y) == (b.x, b.y)
        np.testing.assert_array_equal(a.pixels, b.pixels)


def test_strips_give_the_box_of_the_whole_region_resize(monkeypatch):
    """Bit for bit what resizing the generated square to the whole region and cropping gives."""
    import server.engine.paste as module

    selection = round_selection(96)
    c = placed(random_canvas(96, 96, selection, seed=10))
    generated = np.random.default_rng(11).uniform(-1, 1, (3, 16, 16)).astype(np.float32)
    monkeypatch.setattr(module, "STRIP_PIXELS", 200)  # strips of a few rows
    layer = paste(generated, c, 0.0)
    region = c[1]
    whole = np.stack([np.asarray(Image.fromarray(plane).resize((region.size, region.size), Image.Resampling.BICUBIC))
                      for plane in generated], axis=-1)
    h, w = layer.pixels.shape[:2]
    crop = whole[layer.y - region.y:layer.y - region.y + h, layer.x - region.x:layer.x - region.x + w]
    expected = np.floor(np.clip((crop + 1) * 127.5, 0, 255) + 0.5).astype(np.uint8)
    inside = layer.pixels[..., 3] > 0
    np.testing.assert_array_equal(layer.pixels[..., :3][inside], expected[inside])


def test_paste_costs_the_selection_box_not_the_canvas():
    """A 16384 x 16384 canvas with a 40 x 30 selection: the layer and the work are the box's."""
    import tracemalloc

    selection = np.full((30, 40), 255, np.uint8)
    canvas = Canvas(16384, 16384, [Layer(np.full((1, 1, 4), 255, np.uint8))], selection, 9000, 7000)
    region = region_of_interest(canvas)
    tracemalloc.start()
    layer = paste_back(constant(0.1, 64), canvas, region, feather=4)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert (layer.x, layer.y, layer.pixels.shape) == (9000, 7000, (30, 40, 4))
    assert peak < 4 << 20, f"paste peaked at {peak / 2**20:.1f} MiB"


def test_paste_checks_cancel_between_strips(monkeypatch):
    import server.engine.paste as module

    monkeypatch.setattr(module, "STRIP_PIXELS", 64 * 4)  # 4 rows a strip: 16 strips
    token = CancelAfter(2)
    with pytest.raises(Cancelled):
        paste(constant(0.0), placed(random_canvas(64, 64)), cancel=token)
    assert token.left == -1


def test_wide_feathers_measure_the_distance_on_a_coarser_grid_within_its_bound():
    rng = np.random.default_rng(3)
    inside = np.ones((300, 420), bool)
    inside[rng.integers(0, 300, 40), rng.integers(0, 420, 40)] = False
    inside[:, 200:203] = False
    limit = 5 * FINE_REACH
    exact, coarse = edge_distance(inside, limit), coarse_edge_distance(inside, limit)
    k = 5
    assert np.abs(coarse - exact).max() <= 1.5 * k + 1
    assert np.abs(coarse - exact).mean() < k
    np.testing.assert_array_equal(coarse_edge_distance(inside, FINE_REACH), edge_distance(inside, FINE_REACH))
