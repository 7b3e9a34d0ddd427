"""Paste-back: transparent outside the selection, feathered inside, bit-exact paste_into."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from server.engine.canvas import Canvas, Layer
from server.engine.compose import compose
from server.engine.errors import InvalidInput
from server.engine.paste import edge_distance, paste_back, paste_into


def random_canvas(width: int, height: int, selection=None, seed: int = 0) -> Canvas:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
    pixels[: height // 3, ..., 3] = 0  # some uncovered pixels too
    return Canvas(width, height, [Layer(pixels)], selection)


def block_selection(width: int, height: int, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    selection = np.zeros((height, width), np.uint8)
    selection[y0:y1, x0:x1] = 255
    return selection


def constant(value: float, resolution: int = 8) -> np.ndarray:
    return np.full((3, resolution, resolution), value, np.float32)


def test_hard_edge_covers_the_selection_box():
    c = compose(random_canvas(16, 16, block_selection(16, 16, 5, 5, 11, 11)), 8, margin=0)
    layer = paste_back(constant(0.5), c, feather=0)
    assert (layer.x, layer.y) == (5, 5) and layer.pixels.shape == (6, 6, 4)
    assert (layer.pixels[..., 3] == 255).all()
    assert (layer.pixels[..., :3] == 191).all()  # (0.5 + 1) * 127.5 = 191.25


def test_feather_ramps_in_from_the_edge():
    c = compose(random_canvas(16, 16, block_selection(16, 16, 5, 5, 11, 11)), 8)
    alpha = paste_back(constant(0.5), c, feather=2).pixels[..., 3]
    # distance to the edge = distance to the nearest unselected centre - 0.5: 0.5, 1.5, 2.5 ring by ring,
    # ramp = d / 2 -> 255 x (0.25, 0.75, 1) = 63.75, 191.25, 255
    i = np.arange(6)
    ring = np.minimum.outer(np.minimum(i, 5 - i), np.minimum(i, 5 - i))
    np.testing.assert_array_equal(alpha, np.array([64, 191, 255], np.uint8)[ring])


def test_canvas_border_is_not_a_selection_edge():
    c = compose(random_canvas(16, 16, block_selection(16, 16, 0, 0, 8, 16)), 8)
    layer = paste_back(constant(0.0), c, feather=2)
    assert (layer.x, layer.y) == (0, 0) and layer.pixels.shape == (16, 8, 4)
    alpha = layer.pixels[..., 3]
    assert (alpha[:, :6] == 255).all()
    assert (alpha[:, 6] == 191).all() and (alpha[:, 7] == 64).all()


def test_soft_selection_without_feather_is_the_alpha():
    selection = np.zeros((12, 12), np.uint8)
    selection[3:9, 2:10] = np.arange(48, dtype=np.uint8).reshape(6, 8) * 5 + 1
    c = compose(random_canvas(12, 12, selection), 8)
    layer = paste_back(constant(-0.2), c, feather=0)
    assert (layer.x, layer.y) == (2, 3)
    np.testing.assert_array_equal(layer.pixels[..., 3], selection[3:9, 2:10])


def round_selection(size: int) -> np.ndarray:
    y, x = np.mgrid[:size, :size]
    radius = np.hypot(x - size * 0.45, y - size * 0.55)
    return np.clip((size * 0.3 - radius) * 80, 0, 255).astype(np.uint8)  # soft rim


@pytest.mark.parametrize("feather", [0.0, 3.0])
def test_outside_the_selection_nothing_changes(feather):
    selection = round_selection(24)
    c = compose(random_canvas(24, 24, selection, seed=3), 16)
    generated = np.random.default_rng(4).uniform(-1, 1, (3, 16, 16)).astype(np.float32)
    layer = paste_back(generated, c, feather)
    ys, xs = np.nonzero(selection)
    assert (layer.x, layer.y) == (xs.min(), ys.min())
    assert layer.pixels.shape[:2] == (ys.max() + 1 - ys.min(), xs.max() + 1 - xs.min())
    full = np.zeros((24, 24, 4), np.uint8)
    full[layer.y:layer.y + layer.pixels.shape[0], layer.x:layer.x + layer.pixels.shape[1]] = layer.pixels
    assert not full[selection == 0].any()  # alpha exactly 0 and RGB 0

    merged = paste_into(generated, c, feather)
    outside = selection == 0
    np.testing.assert_array_equal(merged[outside], c.canvas_rgba[outside])
    opaque = full[..., 3] == 255
    assert opaque.sum() > 20
    np.testing.assert_array_equal(merged[opaque], full[opaque])


def test_feather_softens_only_near_the_edge():
    selection = block_selection(24, 24, 4, 4, 20, 20)
    c = compose(random_canvas(24, 24, selection), 16)
    hard = paste_back(constant(0.3, 16), c, 0).pixels[..., 3]
    soft = paste_back(constant(0.3, 16), c, 4).pixels[..., 3]
    assert (hard == 255).all()
    assert (soft[4:-4, 4:-4] == 255).all() and (soft[0] < 255).all() and soft[0].min() > 0


def test_no_selection_covers_the_whole_canvas_opaque():
    c = compose(random_canvas(10, 6), 5)
    layer = paste_back(constant(0.0, 5), c)
    assert (layer.x, layer.y) == (0, 0) and layer.pixels.shape == (6, 10, 4)
    assert (layer.pixels[..., 3] == 255).all()
    np.testing.assert_array_equal(paste_into(constant(0.0, 5), c), layer.pixels)


def test_same_size_paste_is_exact_and_accepts_torch_batches():
    c = compose(random_canvas(8, 8), 8)
    values = np.random.default_rng(5).integers(0, 256, (3, 8, 8))
    generated = (values / 127.5 - 1).astype(np.float32)
    layer = paste_back(generated, c)
    np.testing.assert_array_equal(layer.pixels[..., :3], values.transpose(1, 2, 0))
    from_torch = paste_back(torch.from_numpy(generated)[None], c)
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
    c = compose(random_canvas(8, 8), 8)
    with pytest.raises(InvalidInput) as caught:
        paste_back(generated, c, feather)
    assert caught.value.field == field
