"""Latents kept with their layers (the parasite encoding, gimp_io writing and reading it) and the actions'
choice between a layer's own latent and a projection; Edit attributes on plain data."""
from __future__ import annotations

import importlib
import json
import random
import struct
import sys
from dataclasses import replace

import pytest

from core import (
    actions,
    attributes,
    latent_parasite,
)
from core.errors import UserError
from core.layer_data import LayerData, NewLayer, Options
from server.shared.region import Bounds
from tests.support import fake_gi
from tests.support.fake_gi import Image, Layer
from tests.support.plugin_fakes import FakeClient, image, latent, listing, projected, session


def exact_values(count, seed):
    """Values that are exact float32 numbers, as gRPC delivers them."""
    generator = random.Random(seed)
    return [struct.unpack("<f", struct.pack("<f", generator.gauss(0, 2)))[0] for _ in range(count)]


def w_plus(rows=18, width=512, model="ffhq", seed=0):
    """A W+ latent as the server answers it (kind and shape included)."""
    return {"num_ws": rows, "w_dim": width, "values": exact_values(rows * width, seed), "model": model,
            "kind": "w_plus", "shape": [rows, width]}


def stylemap(channels=64, side=8, model="smgan", seed=0):
    """A stylemap latent as the server answers it: no rows, its shape [C, L, L]."""
    return {"num_ws": 0, "w_dim": 0, "values": exact_values(channels * side * side, seed), "model": model,
            "kind": "stylemap", "shape": [channels, side, side]}


def packed(header, values=b"", version=2):
    """Parasite bytes with this header (a dict, or raw bytes) and value bytes."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return b"GCL" + bytes([version]) + struct.pack("<I", len(raw)) + raw + values


# ------------------------------------------------------------------------------------ the encoding


def test_a_stylegan2_w_plus_survives_the_encoding_exactly_and_stays_small():
    latent = w_plus()
    square = Bounds.sized(-3, 5, 40, 40)
    data = latent_parasite.encode(latent, square)
    assert len(data) < 9216 * 4 + 200  # float32 values and a small header: 36 KiB, far under GIMP's 256 MiB
    assert data[:4] == b"GCL\x02"
    stored = latent_parasite.decode(data)
    assert stored.latent == latent and stored.square == square  # bit for bit


def test_a_stylemap_survives_the_encoding_exactly_with_its_kind_and_shape():
    latent = stylemap()
    square = Bounds.sized(4, -2, 32, 32)
    data = latent_parasite.encode(latent, square)
    length = struct.unpack_from("<I", data, 4)[0]
    assert json.loads(data[8:8 + length]) == {"model": "smgan", "kind": "stylemap", "shape": [64, 8, 8],
                                              "square": [4, -2, 32]}
    assert len(data) == 8 + length + 4 * 64 * 8 * 8  # 16 KiB of float32
    stored = latent_parasite.decode(data)
    assert stored.latent == latent and stored.square == square  # as gRPC carried it: back to the server exactly


def test_a_latent_from_an_older_server_is_stored_as_w_plus():
    older = {"num_ws": 2, "w_dim": 3, "values": [0.5] * 6, "model": "old", "kind": "", "shape": []}
    stored = latent_parasite.decode(latent_parasite.encode(older, Bounds.sized(0, 0, 4, 4)))
    assert stored.latent == dict(older, kind="w_plus", shape=[2, 3])


def test_a_version_1_parasite_still_reads_as_w_plus():
    latent = w_plus(3, 4, "faces", seed=2)
    header = {"model": "faces", "num_ws": 3, "w_dim": 4, "square": [1, 2, 16]}
    stored = latent_parasite.decode(packed(header, struct.pack("<12f", *latent["values"]), version=1))
    assert stored.latent == latent and stored.square == Bounds.sized(1, 2, 16, 16)
    assert latent_parasite.decode(packed(dict(header, w_dim=5), struct.pack("<12f", *latent["values"]), 1)) is None


GOOD = {"model": "smgan", "kind": "stylemap", "shape": [2, 2, 2], "square": [0, 0, 8]}
EIGHT = struct.pack("<8f", *range(8))


@pytest.mark.parametrize("header,values", [
    (GOOD, EIGHT[:-4]),                                          # fewer values than the shape holds
    (GOOD, EIGHT + b"\x00" * 4),                                 # more
    (dict(GOOD, shape=[2, 2, 3]), EIGHT),                        # a shape whose product disagrees
    (dict(GOOD, shape=[2, 4]), EIGHT),                           # a stylemap needs three sides
    (dict(GOOD, kind="w_plus"), EIGHT),                          # W+ needs two
    (dict(GOOD, kind="w"), EIGHT),                               # an unknown kind
    ({k: v for k, v in GOOD.items() if k != "kind"}, EIGHT),     # none
    ({k: v for k, v in GOOD.items() if k != "shape"}, EIGHT),
    (dict(GOOD, shape=[2, 2, -2]), EIGHT), (dict(GOOD, shape=[2, 0, 2]), b""),
    (dict(GOOD, shape=[2, 2, 2.0]), EIGHT), (dict(GOOD, shape=[2, 2, True]), EIGHT[:16]),
    (dict(GOOD, shape=[2, 2, "2"]), EIGHT), (dict(GOOD, shape="2x2x2"), EIGHT), (dict(GOOD, shape=None), EIGHT),
    (dict(GOOD, shape=[1 << 17, 1, 1]), EIGHT),                  # a side past the server's limit
    (dict(GOOD, shape=[4096, 4096, 4096]), EIGHT),               # past MAX_VALUES (and far past the data)
    (dict(GOOD, shape=[10 ** 30, 1, 1]), EIGHT),
    (dict(GOOD, model=7), EIGHT), (dict(GOOD, square=[0, 0]), EIGHT), (dict(GOOD, square=[0, 0, 0]), EIGHT),
    (dict(GOOD, square=[0, 0, -8]), EIGHT), (dict(GOOD, square=[0.5, 0, 8]), EIGHT),
    (dict(GOOD, square="0,0,8"), EIGHT), (dict(GOOD, square=[0, 0, float("nan")]), EIGHT),
    ([GOOD], EIGHT), ("GOOD", EIGHT), (None, EIGHT),             # not an object
    (b"[" * 100000 + b"]" * 100000, EIGHT),                      # nested past the parser's recursion limit
    (b"\xff\xfe{}", EIGHT), (b"{", EIGHT),                        # not UTF-8, not JSON
    (GOOD, struct.pack("<8f", 0, 1, 2, float("nan"), 4, 5, 6, 7)),  # values that are not finite numbers
    (GOOD, struct.pack("<8f", 0, 1, 2, float("inf"), 4, 5, 6, 7)),
    (GOOD, struct.pack("<8f", 0, 1, 2, 3, 4, 5, 6, float("-inf"))),
], ids=lambda value: None)
def test_hostile_version_2_parasites_decode_to_no_latent(header, values):
    assert latent_parasite.decode(packed(header, values)) is None


def test_a_good_version_2_parasite_decodes_and_a_header_length_past_the_end_does_not():
    assert latent_parasite.decode(packed(GOOD, EIGHT)).latent["values"] == list(range(8))
    data = packed(GOOD, EIGHT)
    assert latent_parasite.decode(data[:4] + struct.pack("<I", 1 << 31) + data[8:]) is None
    assert latent_parasite.decode(data[:4] + struct.pack("<I", 3) + data[8:]) is None


def test_anything_else_decodes_to_no_latent():
    data = latent_parasite.encode(w_plus(2, 4), Bounds.sized(0, 0, 8, 8))
    assert latent_parasite.decode(data[:-1]) is None                 # cut short
    assert latent_parasite.decode(data + b"\x00") is None            # trailing bytes
    assert latent_parasite.decode(b"GCL\x03" + data[4:]) is None     # a later version
    assert latent_parasite.decode(b"GCL\x00" + data[4:]) is None     # no such version
    assert latent_parasite.decode(b"1") is None                      # the result mark's data
    assert latent_parasite.decode(data[:8] + b"{" * (len(data) - 8)) is None
    with pytest.raises(ValueError, match="needs 8 values"):
        latent_parasite.encode(dict(w_plus(2, 4), values=[0.0] * 7), Bounds.sized(0, 0, 8, 8))
    with pytest.raises(ValueError, match="not a square"):
        latent_parasite.encode(w_plus(2, 4), Bounds.sized(0, 0, 8, 7))
    with pytest.raises(ValueError, match="needs 256 values"):
        latent_parasite.encode(dict(stylemap(4, 8), values=[0.0] * 255), Bounds.sized(0, 0, 8, 8))
    with pytest.raises(ValueError, match="not the shape of a stylemap"):
        latent_parasite.encode(dict(stylemap(4, 8), shape=[4, 64]), Bounds.sized(0, 0, 8, 8))


def test_parasite_data_from_gimp_as_signed_ints():
    data = bytes(range(256))
    assert latent_parasite.parasite_data(data)[127:130] == [127, -128, -127]
    assert latent_parasite.parasite_bytes(fake_gi.Parasite("p", 1, data).get_data()) == data
    assert latent_parasite.parasite_bytes(data) == data


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


def carrying(layer: LayerData, stored_latent: dict, square: Bounds) -> LayerData:
    return replace(layer, latent=latent_parasite.Stored(stored_latent, square))


LOWER = LayerData("lower", 6, 4, b"\x00" * 96, x=10, y=20, mask=b"\xff" * 24)
UPPER = LayerData("upper", 3, 5, b"\x10" * 60, x=-2, y=1)
OWN = latent("default", 0.25)  # 2 x 2, as the fake server's model has
SQUARE = Bounds.sized(8, 16, 12, 12)


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


# ------------------------------------------------------------------------------------ Edit attributes


def direction(name, kind, first=0, last=2):
    return {"name": name, "kind": kind, "first_layer": first, "last_layer": last, "description": "", "sigma": 1.0,
            "accuracy": 0.0}


DIRECTIONS = ([direction(f"pc{i}", "ganspace") for i in range(1, 21)] + [direction(f"sefa{i}", "sefa")
              for i in range(1, 21)] + [direction("smile", "supervised", 1, 2), direction("glasses", "supervised")])


def listed(request):
    yield {"event": "result", "result": {"directions": DIRECTIONS}}


def edited(request):
    yield {"event": "result", "result": {"image": image(8, 8), "latent": latent("default", 0.125)}}


def test_the_dialog_offers_named_directions_and_the_first_components():
    names = [d["name"] for d in attributes.offered(DIRECTIONS)]
    assert names == ["smile", "glasses", *[f"pc{i}" for i in range(1, 9)], *[f"sefa{i}" for i in range(1, 9)]]


def test_edits_as_written_by_a_script():
    assert attributes.parse(" smile=2, glasses=-1.5; pc3=+.5e1 ,", DIRECTIONS) == \
        [("smile", 2.0), ("glasses", -1.5), ("pc3", 5.0)]
    assert attributes.parse("smile=0", DIRECTIONS) == []
    assert attributes.written([("smile", 2.0), ("pc3", -0.5)]) == "smile=2, pc3=-0.5"
    for text, expected in (("smile", "as name=strength"), ("smile=1.2.3", "as name=strength"),
                           ("beard=1", "no direction called 'beard'. It has: glasses, pc1"),
                           ("smile=1, smile=2", "smile is given twice"), ("smile=11", "strengths go from -10 to 10")):
        with pytest.raises(UserError, match=expected):
            attributes.parse(text, DIRECTIONS)


@pytest.mark.parametrize("rows,ten,eighteen", [("default", None, None), ("coarse", (0, 3), (0, 6)),
                                               ("middle", (3, 7), (6, 12)), ("fine", (7, 10), (12, 18)),
                                               ("all", (0, 10), (0, 18))])
def test_rows_are_thirds_of_the_models_rows(rows, ten, eighteen):
    assert attributes.row_range(rows, 10) == ten and attributes.row_range(rows, 18) == eighteen


def test_edit_with_a_stored_latent_asks_only_for_the_edit():
    client = FakeClient(Project=projected, ListDirections=listed, EditLatent=edited,
                        ListModels=listing(("default", 64, True, "", 2)))
    source = carrying(LOWER, OWN, SQUARE)
    (layer,) = attributes.edit(session(client), source, Options(), "smile=2, glasses=-1", "fine")
    assert [name for name, *_ in client.calls] == ["ListDirections", "EditLatent"]
    assert client.calls[1][1] == {"model": "", "latent": OWN, "edits": [
        {"direction": "smile", "strength": 2.0, "first_layer": 1, "last_layer": 2},
        {"direction": "glasses", "strength": -1.0, "first_layer": 1, "last_layer": 2}]}
    assert layer.name == "Edited lower (smile +2, glasses -1; fine rows, default)"
    assert (layer.box, layer.crop, layer.mask, layer.masked) == (SQUARE, LOWER.box, LOWER.mask, False)
    assert layer.latent == latent("default", 0.125)  # the edited latent goes with the new layer


def test_edit_projects_a_layer_without_a_latent_and_keeps_each_directions_rows():
    client = FakeClient(Project=projected, ListDirections=listed, EditLatent=edited)
    (layer,) = attributes.edit(session(client), LOWER, Options(), "pc1=1", "default")
    assert [name for name, *_ in client.calls] == ["Project", "ListDirections", "EditLatent"]
    assert client.calls[2][1]["edits"] == [{"direction": "pc1", "strength": 1.0, "first_layer": None,
                                            "last_layer": None}]  # None: not sent
    assert layer.box == LOWER.box.square() and layer.name == "Edited lower (pc1 +1, default)"


def test_an_edit_without_changes_is_refused_before_the_edit():
    client = FakeClient(Project=projected, ListDirections=listed, EditLatent=edited,
                        ListModels=listing(("default", 64, True, "", 2)))
    with pytest.raises(UserError, match="No attribute change was asked for"):
        attributes.edit(session(client), carrying(LOWER, OWN, SQUARE), Options(), " smile=0 ", "all")
    assert "EditLatent" not in [name for name, *_ in client.calls]


def test_a_stylemap_edit_moves_all_of_it_and_refuses_the_thirds_in_the_artists_words():
    from tests.support.plugin_fakes import stylemap_latent, stylemap_listing

    def listed_stylemap(request):  # GANSpace over stylemaps: one "row", the whole stylemap
        yield {"event": "result", "result": {"directions": [direction(f"pc{i}", "ganspace", 0, 1) for i in (1, 2)]}}

    def edited_stylemap(request):
        yield {"event": "result", "result": {"image": image(8, 8), "latent": stylemap_latent(value=0.125)}}

    client = FakeClient(ListModels=stylemap_listing(), ListDirections=listed_stylemap, EditLatent=edited_stylemap)
    source = carrying(LOWER, stylemap_latent(), SQUARE)
    for layer in (source, LOWER):  # with a stylemap of its own, or none yet
        for rows in ("coarse", "middle", "fine"):
            with pytest.raises(UserError, match="The model 'smgan' keeps its latent as a stylemap, so an edit moves "
                                                "all of it: choose Rows: each direction's own or all"):
                attributes.edit(session(client), layer, Options(), "pc1=2", rows)
    assert client.calls == []  # refused before any projection or call
    with pytest.raises(UserError, match="keeps its latent as a stylemap"):  # the preview's way: the latent says
        attributes.edit_request("", stylemap_latent(), [("pc1", 1.0)], "fine")
    (layer,) = attributes.edit(session(client), source, Options(), "pc1=2, pc2=-1", "all")
    assert [(edit["first_layer"], edit["last_layer"]) for edit in client.calls[-1][1]["edits"]] == [(0, 1), (0, 1)]
    assert client.calls[-1][1]["latent"] == stylemap_latent()  # its own: not projected again
    assert layer.latent == stylemap_latent(value=0.125)
    assert layer.name == "Edited lower (pc1 +2, pc2 -1; all rows, smgan)"
    attributes.edit(session(client), source, Options(), "pc1=2", "default")
    assert client.calls[-1][1]["edits"][0]["first_layer"] is None  # each direction's own (0, 1): not sent
    assert "Project" not in [name for name, *_ in client.calls]
    assert [nick for nick, _ in attributes.row_choices(stylemap_latent())] == ["default", "all"]
    assert attributes.row_choices(OWN) == attributes.ROWS


def test_stylemap_results_keep_their_latent_and_a_mix_without_one_gets_no_parasite(gimp_io):
    from tests.support.plugin_fakes import stylemap_latent

    source = Layer("photo", 8, 8, rgba=b"\x01" * 256)
    image_ = Image(16, 16, [source])
    blend = NewLayer("Local blend", image(8, 8), Bounds.sized(0, 0, 8, 8), latent=stylemap_latent(value=0.75))
    mix = NewLayer("Style mix", image(8, 8), Bounds.sized(0, 0, 8, 8), latent=None)
    with_latent, without = gimp_io.insert_layers(image_, [source], [blend, mix])
    assert gimp_io.one_layer(image_, [with_latent]).latent.latent == stylemap_latent(value=0.75)
    assert latent_parasite.NAME not in without.parasites and gimp_io.one_layer(image_, [without]).latent is None


# ------------------------------------------------------------------------------------ the live preview


def test_the_preview_skips_to_the_newest_values_and_shows_the_unedited_image_first():
    import threading

    from core import attributes
    from core.connection import CallError
    from server.shared.calls import Result, Status

    release, busy = threading.Event(), threading.Event()

    def editing(request):
        busy.set()
        release.wait(10)
        if request["edits"][0]["strength"] == 9.0:
            raise CallError("INVALID_ARGUMENT", "edits[0].strength: too far")
        yield {"event": "result", "result": {"image": image(2, 2), "latent": latent()}}

    client = FakeClient(EditLatent=editing)
    delivered, done = [], threading.Event()

    def deliver(delivery):  # GLib.idle_add in the dialog
        event = delivery.event
        delivered.append((delivery.job, isinstance(event, Result), None if event.status is Status.DONE
                          else event.error.code))
        done.set()

    previews = attributes.previews(session(client), latent_parasite.Stored(OWN, SQUARE), "pc1", deliver)
    previews.submit(((), "default"))
    assert busy.wait(10)
    for strength in (1.0, 2.0, 3.0):  # while the first call runs: only the last one is sent next
        previews.submit(((("smile", strength),), "fine"))
    release.set()
    while len(delivered) < 2:
        assert done.wait(10)
        done.clear()
    previews.submit(((("smile", 9.0),), "all"))
    while len(delivered) < 3:
        assert done.wait(10)
        done.clear()
    previews.close()
    sent = [[(edit["direction"], edit["strength"]) for edit in request["edits"]] for _, request, _ in client.calls]
    assert sent == [[("pc1", 0.0)], [("smile", 3.0)], [("smile", 9.0)]]  # nothing moved: strength 0, unedited
    assert delivered == [(((), "default"), True, None), (((("smile", 3.0),), "fine"), True, None),
                         (((("smile", 9.0),), "all"), False, "INVALID_ARGUMENT")]


# ------------------------------------------------------------------------------------ crafted parasites


def crafted(square="[0,0,48]", values=(0.5, -0.5, 1.0, 2.0)) -> bytes:
    """A 2 x 2 W+ parasite of the fake server's model with this square (JSON text: Infinity, NaN, any
    number) and values; square [0, 0, 48] and these values make a usable one for PHOTO."""
    header = f'{{"model":"default","kind":"w_plus","shape":[2,2],"square":{square}}}'.encode()
    return packed(header, struct.pack("<4f", *values))


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


def test_the_plugin_refuses_what_the_server_would():
    """One definition of the latent limits (server/shared/defaults.py) for the server's checks and the plug-in's."""
    from server.rpc import convert
    from server.shared import defaults

    assert (convert.MAX_LATENT_SIDE, convert.MAX_LATENT_VALUE) == (defaults.MAX_LATENT_SIDE, defaults.MAX_LATENT_VALUE)
    limit = defaults.MAX_LATENT_VALUE
    assert latent_parasite.decode(crafted(values=(0, 0, 0, limit))) is not None
    assert latent_parasite.decode(crafted(values=(0, 0, 0, limit * 1.01))) is None


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
