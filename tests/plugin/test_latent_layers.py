"""Latents kept with their layers: gimp_io writing and reading the parasite (moved layers, masks,
stylemap results, crafted parasites marked unusable), and the actions' choice between a layer's own
latent and a projection."""
from __future__ import annotations

import importlib
import sys
from dataclasses import replace

import pytest

from core import actions, attributes, latent_parasite
from core.layer_data import LayerData, NewLayer, Options
from server.shared.region import Bounds
from tests.support import fake_gi
from tests.support.fake_gi import Image, Layer
from tests.support.latents import LOWER, OWN, SQUARE, carrying, crafted, edited, listed, w_plus
from tests.support.plugin_fakes import FakeClient, image, latent, listing, projected, session

# ------------------------------------------------------------------------------------ in the image


@pytest.fixture
def gimp_io(monkeypatch):
    fake_gi.install(monkeypatch)
    monkeypatch.delitem(sys.modules, "gimp_io", raising=False)
    yield importlib.import_module("gimp_io")
    sys.modules.pop("gimp_io", None)


def test_a_result_layer_carries_its_latent_and_square_and_follows_when_moved(gimp_io):
    source = Layer("photo", 6, 4, x=10, y=20, rgba=b"\x01" * 96)
    image_ = Image(40, 40, [source])
    latent = w_plus(10, 128, "default")
    new = NewLayer("Projection of photo", image(8, 8), Bounds.sized(10, 19, 6, 6), Bounds.sized(10, 20, 6, 4),
                   latent=latent)
    (layer,) = gimp_io.insert_layers(image_, [source], [new])
    parasite = layer.parasites[latent_parasite.NAME]
    assert parasite.flags == 1  # persistent: saved in XCF
    read = gimp_io.one_layer(image_, [layer])
    assert read.latent.latent == latent and read.latent.square == Bounds.sized(10, 19, 6, 6)
    layer.set_offsets(0, 0)  # the artist moves it: the square goes along
    assert gimp_io.one_layer(image_, [layer]).latent.square == Bounds.sized(0, -1, 6, 6)
    assert gimp_io.one_layer(image_, [source]).latent is None


def test_an_edited_layer_gets_the_source_layers_mask(gimp_io):
    source = Layer("photo", 3, 2, rgba=b"\x01" * 24, mask=fake_gi.Channel(3, 2, b"\x00\x80\xff" * 2))
    image_ = Image(8, 8, [source])
    read = gimp_io.one_layer(image_, [source])
    (layer,) = gimp_io.insert_layers(image_, [source], [NewLayer("Edited", image(4, 4), read.box.square(), read.box,
                                                                 mask=read.mask)])
    assert bytes(layer.mask.buffer.data) == b"\x00\x80\xff" * 2 and layer.mask.buffer.flushed
    assert image_.undo_groups == 1


# ------------------------------------------------------------------------------------ reuse


UPPER = LayerData("upper", 3, 5, b"\x10" * 60, x=-2, y=1)


def frames(request):
    for index in range(request["frames"]):
        yield {"event": "frame", "frame": {"index": index, "image": image(8, 8), "latent": latent("default", index)}}


def test_a_layer_with_a_latent_for_the_model_is_not_projected_again():
    client = FakeClient(Project=projected, Interpolate=frames, ListModels=listing(("default", 64, True, "", 2)))
    run = session(client)
    layers = actions.interpolate(run, carrying(LOWER, OWN, SQUARE), UPPER, Options(), 2, "linear", 100)
    assert [name for name, *_ in client.calls] == ["Project", "Interpolate"]  # only the upper layer
    assert client.calls[0][1]["image"]["rgba"] == UPPER.pixels
    assert client.calls[1][1]["a"] == OWN and client.calls[1][1]["b"] == latent()
    assert run.timings.counts == {"latents_reused": 1, "layers_projected": 1, "request_bytes": 60}
    # the frames stand for the stored latent's square and carry their own latents
    assert [(layer.box, layer.crop, layer.latent["values"][0]) for layer in layers] == \
        [(SQUARE, LOWER.box, 0), (SQUARE, LOWER.box, 1)]


@pytest.mark.parametrize("stored", [latent("faces"), dict(latent("default"), num_ws=1, values=[0.5] * 2)],
                         ids=["another model", "another shape"])
def test_a_latent_of_another_model_is_projected_again(stored):
    client = FakeClient(Project=projected, Interpolate=frames, ListModels=listing(("default", 64, True, "", 2)))
    layers = actions.interpolate(session(client), carrying(LOWER, stored, SQUARE), carrying(UPPER, stored, SQUARE),
                                 Options(), 2, "linear", 100)
    assert [name for name, *_ in client.calls] == ["Project", "Project", "Interpolate"]
    assert layers[0].box == LOWER.box.square()


def test_mix_and_blend_use_the_stored_latents_and_the_base_layers_square():
    def mixed(request):
        yield {"event": "result", "result": {"image": image(8, 8), "latent": latent("default", 0.75)}}

    def blended(request):  # a W+ model's blend has no latent (it is made in image space)
        yield {"event": "result", "result": {"image": image(8, 8)}}

    client = FakeClient(Project=projected, StyleMix=mixed, LocalBlend=blended,
                        ListModels=listing(("default", 64, True, "", 2)))
    lower, upper = carrying(LOWER, OWN, SQUARE), carrying(UPPER, OWN, Bounds.sized(0, 0, 5, 5))
    (mix,) = actions.style_mix(session(client), lower, upper, Options(), 1)
    assert mix.box == SQUARE and mix.latent == latent("default", 0.75)
    squares = []
    (blend,) = actions.local_blend(session(client), lower, upper,
                                   lambda square: squares.append(square) or b"\xff" * 144, Options(), 1)
    assert squares == [SQUARE] and client.calls[-1][1]["mask"]["width"] == 12
    assert blend.latent is None and "mix_space" not in client.calls[-1][1]  # W+: never sent a mix space
    assert "Project" not in [name for name, *_ in client.calls]


def test_stylemap_results_keep_their_latent_and_a_mix_without_one_gets_no_parasite(gimp_io):
    from tests.support.plugin_fakes import stylemap_latent

    source = Layer("photo", 8, 8, rgba=b"\x01" * 256)
    image_ = Image(16, 16, [source])
    blend = NewLayer("Local blend", image(8, 8), Bounds.sized(0, 0, 8, 8), latent=stylemap_latent(value=0.75))
    mix = NewLayer("Style mix", image(8, 8), Bounds.sized(0, 0, 8, 8), latent=None)
    with_latent, without = gimp_io.insert_layers(image_, [source], [blend, mix])
    assert gimp_io.one_layer(image_, [with_latent]).latent.latent == stylemap_latent(value=0.75)
    assert latent_parasite.NAME not in without.parasites and gimp_io.one_layer(image_, [without]).latent is None


# ------------------------------------------------------------------------------------ crafted parasites


def photo_with(data: bytes | None) -> Layer:
    """A 48 px layer at (8, 0) of a 64 x 48 image, carrying `data` as its latent parasite."""
    layer = Layer("photo", 48, 48, x=8, rgba=b"\x40\x80\xc0\xff" * (48 * 48))
    if data is not None:
        layer.attach_parasite(fake_gi.Parasite(latent_parasite.NAME, 1, data))
    return layer


CRAFTED = {
    "square 16384": crafted("[0,0,16384]"),  # 15 s and 4.6 GB for an Edit in GIMP before it was refused
    "square Infinity": crafted("[0,0,Infinity]"), "square NaN": crafted("[NaN,0,48]"),
    "square 1e400": crafted("[0,0,1e400]"), "square 10^400": crafted(f"[0,0,{10 ** 400}]"),
    "square far away": crafted(f"[{10 ** 12},0,48]"), "square beside the layer": crafted("[48,0,48]"),
    "square past the canvas and layer": crafted("[-8,0,65]"),
    "values NaN": crafted(values=(0, float("nan"), 0, 0)), "values -inf": crafted(values=(0, 0, float("-inf"), 0)),
    "values past the server's limit": crafted(values=(0, 0, 0, 1e30)),
    "cut short": crafted()[:-1],
    "oversized": crafted() + bytes(8 << 20),  # past latent_parasite.MAX_BYTES: not even fetched from GIMP
}


@pytest.mark.parametrize("data", list(CRAFTED.values()), ids=list(CRAFTED))
def test_a_crafted_latent_is_treated_as_none_and_marked_unusable(gimp_io, data):
    layer = photo_with(data)
    image_ = Image(64, 48, [layer])
    read = gimp_io.one_layer(image_, [layer])
    assert read.latent is None and read.latent_unusable


def test_a_plausible_latent_is_read_and_a_layer_without_one_is_not_marked(gimp_io):
    layer, plain = photo_with(crafted()), photo_with(None)
    image_ = Image(64, 48, [layer, plain])
    read = gimp_io.one_layer(image_, [layer])
    assert read.latent.square == Bounds.sized(8, 0, 48, 48) and not read.latent_unusable
    assert read.latent.latent["values"] == [0.5, -0.5, 1.0, 2.0]
    layer.set_offsets(-40, 10)  # moved mostly off the canvas: its square goes along, still its own
    assert gimp_io.one_layer(image_, [layer]).latent.square == Bounds.sized(-40, 10, 48, 48)
    assert gimp_io.one_layer(image_, [plain]) == replace(read, latent=None)


def test_actions_on_a_layer_with_a_crafted_latent_project_it_again_and_say_so(gimp_io):
    """Edit, Interpolate and Mix styles on a layer whose latent claims a 16384 px square: the layer is projected
    (its own 48 px square), the results are scaled to 48 px, the action says why, the layer is left as it was."""
    def mixed(request):
        yield {"event": "result", "result": {"image": image(8, 8), "latent": latent("default", 0.75)}}

    layer, other = photo_with(CRAFTED["square 16384"]), photo_with(crafted())
    other.name = "other"
    image_ = Image(64, 48, [other, layer])
    client = FakeClient(Project=projected, Interpolate=frames, StyleMix=mixed, ListDirections=listed,
                        EditLatent=edited, ListModels=listing(("default", 64, True, "", 2)))
    note = ("The latent stored with the layer 'photo' could not be used (it is damaged, or GAN Collage did not "
            "make it), so the layer was projected again.")
    for act in (lambda run: attributes.edit(run, gimp_io.one_layer(image_, [layer]), Options(), "pc1=2", "all"),
                lambda run: actions.interpolate(run, *gimp_io.two_layers(image_, [layer, other]), Options(), 2,
                                                "linear", 100),
                lambda run: actions.style_mix(run, *gimp_io.two_layers(image_, [layer, other]), Options(), 1)):
        run = session(client)
        results = act(run)
        assert run.notes == [note] and run.timings.counts["layers_projected"] == 1
        assert {result.box for result in results} == {Bounds.sized(8, 0, 48, 48)}
        added = gimp_io.insert_layers(image_, [layer], results)
        assert {op for new in added for op in new.ops if op[0] == "scale"} == {("scale", 48, 48)}
    assert [name for name, *_ in client.calls if name == "Project"] == ["Project"] * 3
    assert layer.parasites[latent_parasite.NAME].data == CRAFTED["square 16384"] and layer.ops == []
