"""Canvas compositing, validation, region of interest and the model-resolution composite."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from server.engine.canvas import Canvas, Layer, Square, validate_canvas
from server.engine.compose import composite, compose, region_of_interest, to_tensors
from server.engine.errors import InvalidInput


def solid(h: int, w: int, rgba) -> np.ndarray:
    return np.tile(np.array(rgba, np.uint8), (h, w, 1))


def box_selection(width: int, height: int, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    selection = np.zeros((height, width), np.uint8)
    selection[y0:y1, x0:x1] = 255
    return selection


# --- composite ---------------------------------------------------------------------------------------

def test_single_layer_is_identity_and_transparent_pixels_are_zero():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (5, 7, 4), dtype=np.uint8)
    pixels[0, 0, 3] = 0
    expected = pixels.copy()
    expected[pixels[..., 3] == 0] = 0  # alpha 0 carries no colour
    out = composite(Canvas(7, 5, [Layer(pixels)]))
    assert out.dtype == np.uint8 and out.shape == (5, 7, 4)
    np.testing.assert_array_equal(out, expected)


def test_two_layers_with_opacity_and_mask_match_hand_computed_values():
    bottom = Layer(solid(1, 2, (200, 100, 50, 153)))  # alpha 0.6
    top = Layer(solid(1, 2, (0, 255, 100, 255)), opacity=0.5, mask=np.array([[255, 51]], np.uint8))
    out = composite(Canvas(2, 1, [bottom, top]))
    # pixel 0: top alpha 0.5; A = 0.5 + 0.6 * 0.5 = 0.8 -> 204;
    #   colour = (0.5 top + 0.3 bottom) / 0.8 = 0.625 top + 0.375 bottom = (75, 196.875, 81.25)
    # pixel 1: top alpha 0.5 * 51/255 = 0.1; A = 0.1 + 0.6 * 0.9 = 0.64 -> 163.2;
    #   colour = (0.1 top + 0.54 bottom) / 0.64 = 0.15625 top + 0.84375 bottom = (168.75, 124.21875, 57.8125)
    np.testing.assert_array_equal(out[0], [[75, 197, 81, 204], [169, 124, 58, 163]])


def test_rounding_is_half_up():
    bottom = Layer(solid(1, 1, (1, 3, 254, 255)))
    top = Layer(solid(1, 1, (0, 2, 255, 255)), opacity=0.5)
    out = composite(Canvas(1, 1, [bottom, top]))
    np.testing.assert_array_equal(out[0, 0], [1, 3, 255, 255])  # exact ties 0.5, 2.5, 254.5 go up


def test_negative_and_past_the_edge_offsets_are_clipped():
    a = np.arange(36, dtype=np.uint8).reshape(3, 3, 4) + 100
    a[..., 3] = 255
    b = solid(2, 2, (9, 8, 7, 255))
    layers = [Layer(a, x=-1, y=-1), Layer(b, x=3, y=2), Layer(b, x=4, y=0), Layer(b, x=-2, y=1),
              Layer(b, x=0, y=-2)]
    out = composite(Canvas(4, 3, layers))
    expected = np.zeros((3, 4, 4), np.uint8)
    expected[0:2, 0:2] = a[1:3, 1:3]
    expected[2, 3] = (9, 8, 7, 255)
    np.testing.assert_array_equal(out, expected)


def test_odd_canvas_size_and_uncovered_pixels():
    out = composite(Canvas(7, 5, [Layer(solid(3, 3, (10, 20, 30, 255)), x=5, y=3)]))
    assert out.shape == (5, 7, 4)
    covered = np.zeros((5, 7), bool)
    covered[3:5, 5:7] = True
    np.testing.assert_array_equal(out[covered], np.tile([10, 20, 30, 255], (4, 1)))
    assert not out[~covered].any()  # uncovered: (0, 0, 0, 0)


def test_invisible_layers_are_ignored():
    bottom = Layer(solid(2, 2, (1, 2, 3, 255)))
    hidden = Layer(solid(2, 2, (255, 0, 0, 255)), visible=False)
    out = composite(Canvas(2, 2, [bottom, hidden]))
    np.testing.assert_array_equal(out, bottom.pixels)


# --- validation --------------------------------------------------------------------------------------

def valid_canvas() -> Canvas:
    layers = [Layer(solid(4, 5, (1, 2, 3, 255)), name=f"l{i}") for i in range(3)]
    return Canvas(6, 4, layers, selection=np.zeros((4, 6), np.uint8) + 255)


def with_layer(canvas: Canvas, index: int, **changes) -> Canvas:
    layers = list(canvas.layers)
    layers[index] = dataclasses.replace(layers[index], **changes)
    return dataclasses.replace(canvas, layers=layers)


@pytest.mark.parametrize("make, field", [
    (lambda c: with_layer(c, 2, pixels=np.zeros((4, 5, 4), np.float32)), "layers[2].pixels"),
    (lambda c: with_layer(c, 2, pixels=np.zeros((4, 5, 3), np.uint8)), "layers[2].pixels"),
    (lambda c: with_layer(c, 0, mask=np.zeros((5, 4), np.uint8)), "layers[0].mask"),
    (lambda c: with_layer(c, 1, opacity=float("nan")), "layers[1].opacity"),
    (lambda c: with_layer(c, 1, opacity=1.5), "layers[1].opacity"),
    (lambda c: with_layer(c, 0, x=1.5), "layers[0].x"),
    (lambda c: dataclasses.replace(c, selection=np.zeros((6, 4), np.uint8)), "selection"),
    (lambda c: dataclasses.replace(c, selection=np.zeros((4, 6), bool)), "selection"),
    (lambda c: dataclasses.replace(c, width=0), "width"),
    (lambda c: dataclasses.replace(c, height=100_000), "height"),
    (lambda c: dataclasses.replace(c, layers=[]), "layers"),
    (lambda c: dataclasses.replace(c, layers=c.layers * 100), "layers"),
])
def test_validation_names_the_field(make, field):
    validate_canvas(valid_canvas())
    with pytest.raises(InvalidInput) as caught:
        validate_canvas(make(valid_canvas()))
    assert caught.value.field == field
    assert str(caught.value).startswith(field + ": ")


def test_compose_rejects_bad_resolution_and_empty_selection():
    with pytest.raises(InvalidInput) as caught:
        compose(valid_canvas(), 0)
    assert caught.value.field == "resolution"
    empty = dataclasses.replace(valid_canvas(), selection=np.zeros((4, 6), np.uint8))
    with pytest.raises(InvalidInput, match="the selection is empty") as caught:
        compose(empty, 8)
    assert caught.value.field == "selection"


# --- region of interest ------------------------------------------------------------------------------

def roi(width: int, height: int, selection=None, **kwargs) -> Square:
    return region_of_interest(Canvas(width, height, [Layer(solid(1, 1, (0, 0, 0, 255)))], selection), **kwargs)


def test_roi_small_selection_in_the_middle():
    # box 20 x 10 at (40, 45); margin 0.125 * 20 = 2.5 -> 3 per side; side 26, centred on the box
    assert roi(100, 100, box_selection(100, 100, 40, 45, 60, 55)) == Square(37, 37, 26)
    assert roi(100, 100, box_selection(100, 100, 40, 45, 60, 55), margin=0, margin_px=5) == Square(35, 35, 30)


def test_roi_soft_selection_counts_every_nonzero_pixel():
    selection = np.zeros((100, 100), np.uint8)
    selection[50, 50] = 1
    selection[59, 57] = 3
    assert roi(100, 100, selection, margin=0) == Square(49, 50, 10)  # box 8 x 10 at (50, 50)


def test_roi_at_a_corner_is_shifted_inside():
    # box 10 x 10; margin 0.125 * 10 = 1.25 -> 1 per side; side 12
    assert roi(100, 100, box_selection(100, 100, 0, 0, 10, 10)) == Square(0, 0, 12)
    assert roi(100, 80, box_selection(100, 80, 90, 70, 100, 80)) == Square(88, 68, 12)


def test_roi_wide_selection_on_a_short_canvas_extends_past_it():
    # box 80 x 10: side 80 + 2 * 10 = 100 > height 20 -> centred vertically on the canvas
    assert roi(120, 20, box_selection(120, 20, 20, 5, 100, 15)) == Square(10, -40, 100)


def test_roi_is_capped_at_the_whole_canvas_square():
    assert roi(100, 20, box_selection(100, 20, 5, 5, 95, 15)) == Square(0, -40, 100)


def test_roi_without_selection_is_the_whole_canvas():
    assert roi(30, 20) == Square(0, -5, 30)
    assert roi(7, 5) == Square(0, -1, 7)
    assert roi(5, 8) == Square(-1, 0, 8)  # odd leftover on the right


# --- compose -----------------------------------------------------------------------------------------

def half_covered_canvas() -> Canvas:
    """8 x 4 canvas; a half-transparent layer over x 0..2; the rest uncovered."""
    return Canvas(8, 4, [Layer(solid(4, 3, (200, 100, 50, 128)))])


COLOUR = np.array([200, 100, 50], np.float32) / 127.5 - 1


def test_compose_shrinking_coverage_and_colour():
    c = compose(half_covered_canvas(), 4)  # region Square(0, -2, 8), box-averaged by 2
    assert c.region == Square(0, -2, 8)
    assert c.image.shape == (3, 4, 4) and c.image.dtype == np.float32
    assert c.mask.shape == (1, 4, 4) and c.mask.dtype == np.float32
    expected_mask = np.zeros((4, 4), np.float32)
    expected_mask[1:3, 0] = 128 / 255  # fully covered, half transparent
    expected_mask[1:3, 1] = 64 / 255  # half covered
    np.testing.assert_allclose(c.mask[0], expected_mask, atol=1e-6)
    covered = expected_mask > 0
    np.testing.assert_allclose(c.image[:, covered], np.repeat(COLOUR[:, None], 4, 1), atol=1e-5)  # not darkened
    assert not c.image[:, ~covered].any()
    np.testing.assert_array_equal(c.canvas_rgba, composite(half_covered_canvas()))
    assert c.selection is None and c.canvas_size == (8, 4)


def test_compose_enlarging_keeps_off_canvas_at_zero_and_colour_intact():
    c = compose(half_covered_canvas(), 16)  # bilinear by 2; canvas rows are output rows 4..11
    assert not c.mask[0, :4].any() and not c.mask[0, 12:].any()
    assert not c.mask[0, :, 8:].any()  # far from the layer: uncovered
    assert (c.mask[0, 5:11, :5] > 0.49).all()  # rows 4 and 11 blend with the unknown past the canvas
    known = c.mask[0] > 0
    np.testing.assert_allclose(c.image[:, known], np.repeat(COLOUR[:, None], known.sum(), 1), atol=1e-5)
    assert not c.image[:, ~known].any()


def test_compose_crops_the_selected_region():
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (16, 16, 4), dtype=np.uint8)
    pixels[..., 3] = rng.integers(1, 256, (16, 16))
    canvas = Canvas(16, 16, [Layer(pixels)], selection=box_selection(16, 16, 4, 6, 12, 14))
    c = compose(canvas, 8, margin=0)
    assert c.region == Square(4, 6, 8)
    crop = pixels[6:14, 4:12].astype(np.float32)
    np.testing.assert_allclose(c.mask[0], crop[..., 3] / 255, atol=1e-6)
    np.testing.assert_allclose(c.image, crop[..., :3].transpose(2, 0, 1) / 127.5 - 1, atol=1e-5)
    assert c.selection is canvas.selection


def test_to_tensors():
    c = compose(half_covered_canvas(), 4)
    image, mask = to_tensors(c)
    assert tuple(image.shape) == (1, 3, 4, 4) and tuple(mask.shape) == (1, 1, 4, 4)
    assert str(image.dtype) == "torch.float32" and str(mask.dtype) == "torch.float32"
    np.testing.assert_array_equal(image[0].numpy(), c.image)
    np.testing.assert_array_equal(mask[0].numpy(), c.mask)
