"""Canvas validation, region of interest, and composing the region straight onto the model's grid."""
from __future__ import annotations

import dataclasses
import tracemalloc

import numpy as np
import pytest

from server.engine.canvas import Canvas, Layer, validate_canvas
from server.engine.compose import compose, region_of_interest
from server.engine.errors import Cancelled, InvalidInput
from server.shared.region import Square
from tests.support.engine import CancelAfter, peak_rss_growth


def solid(h: int, w: int, rgba) -> np.ndarray:
    return np.tile(np.array(rgba, np.uint8), (h, w, 1))


def box_selection(width: int, height: int, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    selection = np.zeros((height, width), np.uint8)
    selection[y0:y1, x0:x1] = 255
    return selection


def at_canvas_scale(canvas: Canvas) -> tuple[np.ndarray, np.ndarray]:
    """The composite where one model pixel is one canvas pixel: (RGB 0..255 (h, w, 3), alpha 0..1 (h, w))
    of the canvas part of the region (the canvas' own square)."""
    c = compose(canvas, max(canvas.width, canvas.height))
    rows = slice(-c.region.y, -c.region.y + canvas.height)
    cols = slice(-c.region.x, -c.region.x + canvas.width)
    rgb = (c.image[0].numpy().transpose(1, 2, 0)[rows, cols] + 1) * 127.5
    return rgb, c.mask[0, 0].numpy()[rows, cols]


# --- composite -----------------------------------------------------------------------------------
# At canvas scale each cell is one canvas pixel, so these are the per-pixel Porter-Duff values (float32:
# tolerances of 1e-3 on the 0..255 scale).

def test_single_layer_is_identity_and_transparent_pixels_are_unknown():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (5, 7, 4), dtype=np.uint8)
    pixels[0, 0, 3] = 0
    rgb, alpha = at_canvas_scale(Canvas(7, 5, [Layer(pixels)]))
    np.testing.assert_allclose(alpha, pixels[..., 3] / 255, atol=1e-6)
    known = pixels[..., 3] > 0
    np.testing.assert_allclose(rgb[known], pixels[known][:, :3], atol=2e-3)
    assert (rgb[~known] == 127.5).all()  # image 0 where the mask is 0: unknown, not a colour


def test_two_layers_with_opacity_and_mask_match_hand_computed_values():
    bottom = Layer(solid(1, 2, (200, 100, 50, 153)))  # alpha 0.6
    top = Layer(solid(1, 2, (0, 255, 100, 255)), opacity=0.5, mask=np.array([[255, 51]], np.uint8))
    rgb, alpha = at_canvas_scale(Canvas(2, 1, [bottom, top]))
    # pixel 0: top alpha 0.5; A = 0.5 + 0.6 * 0.5 = 0.8;
    #   colour = (0.5 top + 0.3 bottom) / 0.8 = 0.625 top + 0.375 bottom = (75, 196.875, 81.25)
    # pixel 1: top alpha 0.5 * 51/255 = 0.1; A = 0.1 + 0.6 * 0.9 = 0.64;
    #   colour = (0.1 top + 0.54 bottom) / 0.64 = 0.15625 top + 0.84375 bottom = (168.75, 124.21875, 57.8125)
    np.testing.assert_allclose(alpha[0], [0.8, 0.64], atol=1e-6)
    np.testing.assert_allclose(rgb[0], [[75, 196.875, 81.25], [168.75, 124.21875, 57.8125]], atol=2e-3)


def test_opaque_rgb_layers_equal_rgba_layers_at_alpha_255():
    rng = np.random.default_rng(7)
    rgba = rng.integers(0, 256, (6, 9, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    top = Layer(solid(3, 3, (9, 8, 7, 100)), x=2, y=1)
    as_rgba = compose(Canvas(9, 6, [Layer(rgba), top]), 4)
    as_rgb = compose(Canvas(9, 6, [Layer(np.ascontiguousarray(rgba[..., :3])), top]), 4)
    np.testing.assert_array_equal(as_rgb.image.numpy(), as_rgba.image.numpy())
    np.testing.assert_array_equal(as_rgb.mask.numpy(), as_rgba.mask.numpy())


def test_negative_and_past_the_edge_offsets_are_clipped():
    a = np.arange(36, dtype=np.uint8).reshape(3, 3, 4) + 100
    a[..., 3] = 255
    b = solid(2, 2, (9, 8, 7, 255))
    layers = [Layer(a, x=-1, y=-1), Layer(b, x=3, y=2), Layer(b, x=4, y=0), Layer(b, x=-2, y=1),
              Layer(b, x=0, y=-2)]
    rgb, alpha = at_canvas_scale(Canvas(4, 3, layers))
    expected = np.zeros((3, 4))
    expected[0:2, 0:2] = 1
    expected[2, 3] = 1
    np.testing.assert_array_equal(alpha, expected)
    np.testing.assert_allclose(rgb[0:2, 0:2], a[1:3, 1:3, :3], atol=2e-3)
    np.testing.assert_allclose(rgb[2, 3], (9, 8, 7), atol=2e-3)


def test_invisible_layers_are_ignored():
    bottom = Layer(solid(2, 2, (1, 2, 3, 255)))
    hidden = Layer(solid(2, 2, (255, 0, 0, 255)), visible=False)
    rgb, alpha = at_canvas_scale(Canvas(2, 2, [bottom, hidden]))
    np.testing.assert_allclose(rgb, solid(2, 2, (1, 2, 3))[..., :3], atol=2e-3)


# --- validation ------------------------------------------------------------------------------------

def valid_canvas() -> Canvas:
    layers = [Layer(solid(4, 5, (1, 2, 3, 255)), name=f"l{i}") for i in range(3)]
    return Canvas(6, 4, layers, selection=np.zeros((4, 6), np.uint8) + 255)


def with_layer(canvas: Canvas, index: int, **changes) -> Canvas:
    layers = list(canvas.layers)
    layers[index] = dataclasses.replace(layers[index], **changes)
    return dataclasses.replace(canvas, layers=layers)


@pytest.mark.parametrize("make, field", [
    (lambda c: with_layer(c, 2, image=np.zeros((4, 5, 4), np.float32)), "layers[2].image"),
    (lambda c: with_layer(c, 2, image=np.zeros((4, 5, 2), np.uint8)), "layers[2].image"),
    (lambda c: with_layer(c, 0, mask=np.zeros((5, 4), np.uint8)), "layers[0].mask"),
    (lambda c: with_layer(c, 1, opacity=float("nan")), "layers[1].opacity"),
    (lambda c: with_layer(c, 1, opacity=1.5), "layers[1].opacity"),
    (lambda c: with_layer(c, 0, x=1.5), "layers[0].x"),
    (lambda c: with_layer(c, 0, canvas_width=-1), "layers[0].canvas_width"),
    (lambda c: with_layer(c, 0, canvas_height=2 ** 31), "layers[0].canvas_height"),
    (lambda c: dataclasses.replace(c, selection=np.zeros((6, 4), np.uint8)), "selection"),
    (lambda c: dataclasses.replace(c, selection=np.zeros((4, 6), bool)), "selection"),
    (lambda c: dataclasses.replace(c, selection=np.zeros((2, 2), np.uint8), selection_x=5), "selection"),
    (lambda c: dataclasses.replace(c, selection=np.zeros((2, 2), np.uint8), selection_y=-1), "selection_y"),
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


# --- region of interest ----------------------------------------------------------------------------

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


def test_roi_of_a_cropped_selection_is_that_of_the_whole_one():
    whole = box_selection(100, 80, 40, 45, 60, 55)
    crop = whole[40:60, 30:70].copy()
    canvas = Canvas(100, 80, [Layer(solid(1, 1, (0, 0, 0, 255)))], crop, selection_x=30, selection_y=40)
    assert region_of_interest(canvas) == roi(100, 80, whole)


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


# --- compose ---------------------------------------------------------------------------------------

def half_covered_canvas() -> Canvas:
    """8 x 4 canvas; a half-transparent layer over x 0..2; the rest uncovered."""
    return Canvas(8, 4, [Layer(solid(4, 3, (200, 100, 50, 128)))])


COLOUR = np.array([200, 100, 50], np.float32) / 127.5 - 1


def test_compose_shrinking_coverage_and_colour():
    c = compose(half_covered_canvas(), 4)  # region Square(0, -2, 8), area-averaged by 2
    assert c.region == Square(0, -2, 8)
    assert tuple(c.image.shape) == (1, 3, 4, 4) and str(c.image.dtype) == "torch.float32"
    assert tuple(c.mask.shape) == (1, 1, 4, 4) and str(c.mask.dtype) == "torch.float32"
    image, mask = c.image[0].numpy(), c.mask[0, 0].numpy()
    expected_mask = np.zeros((4, 4), np.float32)
    expected_mask[1:3, 0] = 128 / 255  # fully covered, half transparent
    expected_mask[1:3, 1] = 64 / 255  # half covered
    np.testing.assert_allclose(mask, expected_mask, atol=1e-6)
    covered = expected_mask > 0
    np.testing.assert_allclose(image[:, covered], np.repeat(COLOUR[:, None], 4, 1), atol=1e-5)  # not darkened
    assert not image[:, ~covered].any()


def test_compose_enlarging_keeps_off_canvas_at_zero_and_colour_intact():
    c = compose(half_covered_canvas(), 16)  # bilinear by 2; canvas rows are output rows 4..11
    mask, image = c.mask[0, 0].numpy(), c.image[0].numpy()
    assert not mask[:4].any() and not mask[12:].any()
    assert not mask[:, 8:].any()  # far from the layer: uncovered
    assert (mask[5:11, :5] > 0.49).all()  # rows 4 and 11 blend with the unknown past the canvas
    known = mask > 0
    np.testing.assert_allclose(image[:, known], np.repeat(COLOUR[:, None], known.sum(), 1), atol=1e-5)
    assert not image[:, ~known].any()


def test_compose_crops_the_selected_region():
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (16, 16, 4), dtype=np.uint8)
    pixels[..., 3] = rng.integers(1, 256, (16, 16))
    canvas = Canvas(16, 16, [Layer(pixels)], selection=box_selection(16, 16, 4, 6, 12, 14))
    c = compose(canvas, 8, margin=0)
    assert c.region == Square(4, 6, 8)
    crop = pixels[6:14, 4:12].astype(np.float32)
    np.testing.assert_allclose(c.mask[0, 0].numpy(), crop[..., 3] / 255, atol=1e-6)
    np.testing.assert_allclose(c.image[0].numpy(), crop[..., :3].transpose(2, 0, 1) / 127.5 - 1, atol=1e-5)


def collage(width: int, height: int, seed: int = 0) -> list[Layer]:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
    base[..., 3] = 255
    piece = rng.integers(0, 256, (height // 2, width // 3, 4), dtype=np.uint8)
    mask = rng.integers(0, 256, piece.shape[:2], dtype=np.uint8)
    return [Layer(base), Layer(piece, x=width // 5, y=height // 4 - 3, opacity=0.7, mask=mask),
            Layer(solid(9, 40, (250, 10, 10, 200)), x=-7, y=height - 5)]


def cropped(layer: Layer, area) -> Layer:
    """The layer's part inside canvas rectangle `area` (x0, y0, x1, y1), placed where it was."""
    x0, y0 = max(area[0], layer.x), max(area[1], layer.y)
    x1 = min(area[2], layer.x + layer.image.shape[1])
    y1 = min(area[3], layer.y + layer.image.shape[0])
    rows, cols = slice(y0 - layer.y, y1 - layer.y), slice(x0 - layer.x, x1 - layer.x)
    return dataclasses.replace(layer, image=layer.image[rows, cols], x=x0, y=y0,
                               mask=None if layer.mask is None else layer.mask[rows, cols])


def test_layers_cropped_to_the_region_give_the_same_composite():
    selection = box_selection(120, 90, 30, 20, 70, 50)
    whole = Canvas(120, 90, collage(120, 90), selection)
    region = region_of_interest(whole)
    area = (region.x, region.y, region.x + region.size, region.y + region.size)
    parts = [cropped(layer, area) for layer in whole.layers]
    crops = Canvas(120, 90, [part for part in parts if part.image.size],  # the plug-in leaves out the rest
                   selection[20:50, 30:70].copy(), selection_x=30, selection_y=20)
    for resolution in (16, 32, 128):  # shrinking, and enlarging past the region's 50 px
        a, b = compose(whole, resolution), compose(crops, resolution)
        assert a.region == b.region == region
        np.testing.assert_allclose(b.image.numpy(), a.image.numpy(), atol=1e-5)
        np.testing.assert_allclose(b.mask.numpy(), a.mask.numpy(), atol=1e-6)


def box_reduced(layer: Layer, step: int) -> Layer:
    """The layer at 1/step scale as a premultiplied box average (what GIMP's scaled reads give)."""
    h, w = layer.image.shape[:2]
    alpha = layer.image[..., 3] / 255.0 * (1.0 if layer.mask is None else layer.mask / 255.0)
    planes = np.concatenate([layer.image[..., :3] * alpha[..., None], alpha[..., None] * 255], axis=2)
    sums = planes.reshape(h // step, step, w // step, step, 4).mean(axis=(1, 3))
    a = sums[..., 3:] / 255
    rgb = np.divide(sums[..., :3], a, out=np.zeros_like(sums[..., :3]), where=a > 0)
    pixels = np.floor(np.concatenate([rgb, sums[..., 3:]], axis=2) + 0.5).astype(np.uint8)
    return dataclasses.replace(layer, image=pixels, mask=None, canvas_width=w, canvas_height=h)


def test_a_layer_read_at_reduced_scale_stands_for_its_full_size():
    rng = np.random.default_rng(2)
    blocks = rng.integers(0, 256, (16, 12, 4), dtype=np.uint8)
    blocks[..., 3] = rng.integers(0, 256, (16, 12))
    full = Layer(np.repeat(np.repeat(blocks, 8, axis=0), 8, axis=1), x=-24, y=40)  # 96 x 128, 8 x 8 blocks
    small = dataclasses.replace(full, image=blocks, canvas_width=96, canvas_height=128)
    for resolution in (16, 50, 200):  # cells of 16 px, of 5.12 px (unaligned), and enlarging
        a = compose(Canvas(160, 170, [full]), resolution)
        b = compose(Canvas(160, 170, [small]), resolution)
        np.testing.assert_allclose(b.mask.numpy(), a.mask.numpy(), atol=1e-6)
        np.testing.assert_allclose(b.image.numpy(), a.image.numpy(), atol=1e-5)

    # white noise (the worst case) box-averaged by 4 at an offset that is not a multiple of 4: close, not equal
    photo = Layer(rng.integers(0, 256, (64, 64, 4), dtype=np.uint8), x=3, y=5, mask=rng.integers(0, 256, (64, 64),
                                                                                              dtype=np.uint8))
    a = compose(Canvas(70, 70, [photo]), 8)
    b = compose(Canvas(70, 70, [box_reduced(photo, 4)]), 8)
    assert float((a.mask - b.mask).abs().max()) < 0.03
    assert float((a.image - b.image).abs().mean()) < 0.05  # 6 levels of 255


def test_memory_follows_the_region_not_the_canvas():
    """A 16384 x 16384 canvas with one small layer: nothing canvas-sized (a float64 plane is 2 GiB)."""
    canvas = Canvas(16384, 16384, [Layer(solid(3, 5, (10, 200, 30, 255)), x=8000, y=9000)])
    tracemalloc.start()
    c = compose(canvas, 64)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 8 << 20, f"compose's numpy work peaked at {peak / 2**20:.1f} MiB"
    growth = peak_rss_growth(lambda: compose(canvas, 64))  # torch's tensors too (a float32 plane: 1 GiB)
    assert growth < 64 << 20, f"compose's peak RSS grew {growth / 2**20:.1f} MiB"
    assert c.region == Square(0, 0, 16384)
    assert 0 < float(c.mask.sum()) < 0.01  # 15 canvas pixels of 256 x 256 in one cell


def test_compose_checks_cancel_between_strips_of_a_large_layer(monkeypatch):
    import server.engine.compose as module

    monkeypatch.setattr(module, "STRIP_VALUES", 4096)  # 4 rows of 1024 a strip: 256 strips
    layer = Layer(np.full((1024, 1024, 4), 200, np.uint8))
    token = CancelAfter(3)
    with pytest.raises(Cancelled):
        compose(Canvas(1024, 1024, [layer]), 16, cancel=token)
    assert token.left == -1  # stopped at the 4th check, not after the whole layer
