"""gimp_io against a fake of the few Gimp/Gegl calls it makes (tests/support/fake_gi.py)."""
from __future__ import annotations

import importlib
import sys

import pytest

from core.errors import UserError
from core.layer_data import NewLayer
from server.shared.region import Bounds, Square
from tests.support import fake_gi
from tests.support.fake_gi import Channel, Image, Layer


@pytest.fixture
def gimp_io(monkeypatch):
    log = fake_gi.install(monkeypatch)
    monkeypatch.delitem(sys.modules, "gimp_io", raising=False)
    module = importlib.import_module("gimp_io")
    module.calls = log
    yield module
    sys.modules.pop("gimp_io", None)


def solid(width, height, value):
    return bytes([value, value, value, 255]) * (width * height)


def collage():
    """Top first: a hidden layer, a 50% group (an 80% child, a hidden child), masked layers, the background."""
    child = Layer("child", 2, 2, x=1, y=1, opacity=80.0, rgba=solid(2, 2, 1))
    hidden_child = Layer("hidden child", 2, 2, visible=False, rgba=solid(2, 2, 2))
    layers = {
        "hidden": Layer("hidden", 4, 4, visible=False, rgba=solid(4, 4, 3)),
        "group": Layer("group", opacity=50.0, children=[child, hidden_child]),
        "masked": Layer("masked", 3, 2, x=-1, y=5, rgba=solid(3, 2, 4), mask=Channel(3, 2, b"\xff\x00\x80" * 2)),
        "mask off": Layer("mask off", 2, 2, rgba=solid(2, 2, 5), mask=Channel(2, 2, b"\x00" * 4), apply_mask=False),
        "background": Layer("background", 8, 6, rgba=solid(8, 6, 6)),
    }
    layers.update(child=child, **{"hidden child": hidden_child})
    top_first = [layers[name] for name in ("hidden", "group", "masked", "mask off", "background")]
    return top_first, layers


def summary(canvas):
    return [(layer.name, layer.x, layer.y, layer.opacity, layer.mask) for layer in canvas.layers]


def test_visible_layers_bottom_first_with_groups_flattened(gimp_io):
    top_first, _ = collage()
    canvas = gimp_io.read_canvas(Image(8, 6, top_first), resolution=64)
    # no selection: the region is the canvas' square, (0, -1, 8); the layers are read inside the canvas
    assert (canvas.width, canvas.height, canvas.region, canvas.has_selection) == (8, 6, Square(0, -1, 8), False)
    assert summary(canvas) == [("background", 0, 0, 1.0, None), ("mask off", 0, 0, 1.0, None),
                               ("masked", 0, 5, 1.0, b"\x00\x80"), ("child", 1, 1, 0.4, None)]
    assert canvas.layers[0].pixels == solid(8, 6, 6) and canvas.layers[0].canvas_width == 0
    assert canvas.layers[2].pixels == solid(2, 1, 4)  # the part of "masked" on the canvas


def test_selected_layers_only(gimp_io):
    top_first, named = collage()
    image = Image(8, 6, top_first, selected=[named["hidden child"], named["background"]])
    chosen = gimp_io.read_canvas(image, 64, selected_only=True)
    # a selected layer counts even when hidden; the group around it still passes its opacity on
    assert summary(chosen) == [("background", 0, 0, 1.0, None), ("hidden child", 0, 0, 0.5, None)]
    group = gimp_io.read_canvas(Image(8, 6, top_first, selected=[named["group"]]), 64, selected_only=True)
    assert summary(group) == [("child", 1, 1, 0.4, None)]  # a selected group: its visible children


def test_earlier_results_are_left_out_of_visible_layers_unless_asked(gimp_io):
    top_first, named = collage()
    image = Image(8, 6, top_first)
    (made,) = gimp_io.insert_layers(image, [named["background"]], [
        NewLayer("Realized (regressor, default)", {"width": 8, "height": 8, "rgba": solid(8, 8, 7)},
                 Bounds.sized(0, -1, 8, 8))])
    assert gimp_io.is_result(made) and made.parasites[gimp_io.RESULT_MARK].flags == 1  # persistent: kept in XCF
    assert not any(gimp_io.is_result(layer) for layer in named.values())
    names = [layer.name for layer in gimp_io.read_canvas(image, 64).layers]
    assert "Realized (regressor, default)" not in names and "background" in names
    with_results = [layer.name for layer in gimp_io.read_canvas(image, 64, with_results=True).layers]
    assert with_results == ["background", "Realized (regressor, default)", "mask off", "masked", "child"]
    image.selected = [made]
    assert [layer.name for layer in gimp_io.read_canvas(image, 64, selected_only=True).layers] == \
        ["Realized (regressor, default)"]  # chosen by hand: sent


def test_only_the_region_of_the_selection_is_read(gimp_io):
    selection = bytearray(48)
    selection[5 * 8 + 0] = 255  # one pixel at (0, 5): bounds (0, 5)-(1, 6), region (0, 5, 1)
    image = Image(8, 6, collage()[0], selection=bytes(selection))
    canvas = gimp_io.read_canvas(image, 64)
    assert (canvas.region, canvas.has_selection) == (Square(0, 5, 1), True)
    assert summary(canvas) == [("background", 0, 5, 1.0, None), ("masked", 0, 5, 1.0, b"\x00")]  # no others there
    assert all((layer.width, layer.height) == (1, 1) for layer in canvas.layers)


def test_large_regions_are_read_at_reduced_scale(gimp_io):
    """A 40 x 24 canvas for a 4 px model: read at 1/8 (40 / 8 = 5 >= 4), RGB layers as RGB."""
    h, w = 24, 40
    base = bytes(v for i in range(w * h) for v in (i % 256, (i * 7) % 256, 9, 255))
    photo = Layer("photo", w, h, rgba=base, alpha=False)
    piece = Layer("piece", 12, 6, x=5, y=3, rgba=bytes([200, 0, 0, 255, 0, 255, 0, 0]) * 36)  # green hidden
    canvas = gimp_io.read_canvas(Image(w, h, [piece, photo]), resolution=4)
    assert canvas.region == Square(0, -8, 40)
    low, high = canvas.layers
    assert (low.width, low.height, low.channels, low.canvas_width, low.canvas_height) == (5, 3, 3, 40, 24)
    assert len(low.pixels) == 5 * 3 * 3
    block = [(i % 256, (i * 7) % 256, 9) for i in (y * w + x for y in range(8) for x in range(8))]
    assert low.pixels[:3] == bytes(int(sum(p[c] for p in block) / 64 + 0.5) for c in range(3))  # not black
    # the piece's scaled pixels start at multiples of 8 from its own origin: (5, 3) .. (21, 11) on the canvas
    assert (high.x, high.y, high.width, high.height, high.canvas_width, high.canvas_height) == (5, 3, 2, 1, 16, 8)
    # premultiplied averages: half the pixels red and opaque, half transparent (hiding green, which must not
    # bleed in); 8 x 6 of the block's 8 x 8 pixels are the layer's
    assert high.pixels[:4] == bytes([200, 0, 0, round(255 * 0.5 * 8 * 6 / 64)])


def test_selection_mask_and_its_crop(gimp_io):
    selection = bytes(range(48))
    image = Image(8, 6, collage()[0], selection=selection)
    assert gimp_io.read_selection(image) == selection
    # a box reaching past the canvas reads 0 there
    assert gimp_io.read_selection(image, Bounds.sized(-1, 4, 3, 3)) == bytes([0, 32, 33, 0, 40, 41, 0, 0, 0])
    assert gimp_io.read_selection(Image(8, 6, collage()[0], selection=bytes(48))) is None


def test_chosen_layers_in_stacking_order(gimp_io):
    top_first, named = collage()
    image = Image(8, 6, top_first, selected=[named["masked"]])
    lower, upper = gimp_io.two_layers(image, [named["child"], named["background"]])
    assert (lower.name, upper.name) == ("background", "child")
    assert gimp_io.one_layer(image, []).name == "masked"  # no drawables: the selected layer
    with pytest.raises(UserError, match="exactly two layers"):
        gimp_io.two_layers(image, [named["child"]])
    with pytest.raises(UserError, match="Select one layer"):
        gimp_io.one_layer(image, [named["child"], named["masked"]])


def test_new_layers_go_above_the_active_layer_scaled_and_cropped(gimp_io):
    top_first, named = collage()
    image = Image(8, 6, top_first)
    square = Bounds.sized(1, 0, 2, 2)
    results = [NewLayer("Frame 1 (100ms)", {"width": 4, "height": 4, "rgba": solid(4, 4, 9)}, square,
                        Bounds.sized(1, 1, 2, 1)),
               NewLayer("Frame 2 (100ms)", {"width": 4, "height": 4, "rgba": solid(4, 4, 8)}, square,
                        Bounds.sized(1, 1, 2, 1))]
    added = gimp_io.insert_layers(image, [named["child"]], results)
    group = named["group"]
    assert [layer.name for layer in group.children] == ["Frame 2 (100ms)", "Frame 1 (100ms)", "child", "hidden child"]
    first = added[0]
    assert first.ops == [("update", 0, 0, 4, 4), ("scale", 2, 2), ("resize", 2, 1, 0, -1)]
    assert (first.x, first.y, first.width, first.height) == (1, 1, 2, 1)
    assert first.buffer.data == solid(4, 4, 9) and first.buffer.flushed
    assert image.undo_groups == 1 and image.undo_depth == 0
    assert ("interpolation", "cubic") in gimp_io.calls
    assert gimp_io.calls.count(("context", "push")) == gimp_io.calls.count(("context", "pop")) == 1


def test_results_at_their_size_are_not_scaled_and_go_on_top_without_an_active_layer(gimp_io):
    top_first, _ = collage()
    image = Image(8, 6, top_first, base_type="GRAY")
    (layer,) = gimp_io.insert_layers(image, [], [NewLayer("Realized", {"width": 2, "height": 3, "rgba": solid(2, 3, 7)},
                                                          Bounds.sized(5, 2, 2, 3))])
    assert image.layers[0] is layer and layer.ops == [("update", 0, 0, 2, 3)] and (layer.x, layer.y) == (5, 2)
    assert ("new", "Realized", "GRAYA") in gimp_io.calls


def test_a_failed_insertion_still_closes_the_undo_group(gimp_io):
    image = Image(8, 6, collage()[0])
    broken = NewLayer("broken", {"width": 2, "height": 2, "rgba": b"short"}, Bounds.sized(0, 0, 2, 2))
    with pytest.raises(AssertionError):
        gimp_io.insert_layers(image, [], [broken])
    assert image.undo_depth == 0
    assert gimp_io.calls.count(("context", "push")) == gimp_io.calls.count(("context", "pop"))


def test_progress_bar(gimp_io):
    progress = gimp_io.Progress("Realize collage - fast")
    progress("Realizing: optimize 3/4", 1.5)
    progress.end()
    assert gimp_io.calls == [("progress", "Realize collage - fast"), ("progress", "Realizing: optimize 3/4"),
                             ("progress", 1.0), ("progress", "end")]


def test_a_realized_layer_is_scaled_cropped_then_masked_by_the_selection(gimp_io):
    image = Image(8, 6, collage()[0], selection=bytes([255]) * 48)
    new = NewLayer("Realized", {"width": 4, "height": 4, "rgba": solid(4, 4, 9)}, Bounds.sized(0, -1, 8, 8),
                   Bounds.sized(0, 0, 8, 6), masked=True)
    (layer,) = gimp_io.insert_layers(image, [], [new])
    assert layer.ops == [("update", 0, 0, 4, 4), ("scale", 8, 8), ("resize", 8, 6, 0, -1),
                         ("add mask", ("mask from the selection", 0, 0, 8, 6))]
    assert image.undo_groups == 1
