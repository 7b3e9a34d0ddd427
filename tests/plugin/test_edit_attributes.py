"""Edit attributes on plain data: the offered directions, edits as a script writes them, rows, the
edit with a stored latent or a projection, stylemap edits, and the live preview's calls."""
from __future__ import annotations

import pytest

from core import attributes, latent_parasite
from core.errors import UserError
from core.layer_data import Options
from tests.support.latents import DIRECTIONS, LOWER, OWN, SQUARE, carrying, direction, edited, listed
from tests.support.plugin_fakes import FakeClient, image, latent, listing, projected, session

# ------------------------------------------------------------------------------------ Edit attributes


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

