"""The artist's messages: every status the server or the transport gives, from a real loopback server
where it can be provoked and for every gRPC status code besides, has a plain first line (no field paths,
metadata or status names) and keeps the technical detail below it."""
from __future__ import annotations

import re

import grpc
import pytest

from core import layer_data
from core.connection import CallError, connect
from core.messages import explain, plain_reason
from core.settings import Config
from server.shared import messages
from tests.support.plugin import closed_port
from tests.support.servers import serving

CODES = [code.name for code in grpc.StatusCode if code is not grpc.StatusCode.OK]
# a request field path: a top-level field of some request, then ".field" or "[index]" (not a file name such
# as gan-collage.json: RealizeRequest has a field "collage")
TOP_FIELDS = sorted({field.name for method in messages.SERVICE.methods for field in method.input_type.fields})
FIELD_PATH = re.compile(rf"(?<![\w-])({'|'.join(TOP_FIELDS)})(\.[a-z_]+|\[\d+\])")
JARGON = re.compile(r"metadata|bearer|authorization|grpc|\bstatus\b", re.IGNORECASE)
LAYER = {"width": 4, "height": 4, "rgba": b"\x80" * 64}


def assert_plain(text: str, code: str) -> None:
    first, *rest = text.splitlines()
    assert first.strip() and len(first) < 400, text
    assert not any(name in first for name in CODES), first
    assert not FIELD_PATH.search(first) and not JARGON.search(first), first
    assert rest and code in rest[-1], text  # the technical detail follows


def failure(config: Config, name: str, request: dict, timeout: float = 60) -> CallError:
    with pytest.raises(CallError) as error, connect(config) as connection:
        list(connection.client.call(name, request, timeout))
    return error.value


def test_every_status_the_server_gives_reads_plainly(served, catalog):
    here = Config(server=served.address)
    provoked = {
        "unknown model": failure(here, "Project", {"model": "nope", "image": LAYER}),
        "no visible pixels": failure(here, "Realize", {"canvas": {"width": 4, "height": 4, "layers": [
            {"image": {"width": 4, "height": 4, "rgba": bytes(64)}}]}}),
        "unreadable model": failure(here, "Project", {"model": "broken", "image": LAYER}),
        "missing regressor": failure(here, "Project", {"model": "bare", "image": LAYER,
                                                       "options": {"method": "hybrid", "steps": 1}}),
        "deadline": failure(here, "Project", {"image": LAYER, "options": {"method": "optimize", "steps": 10000}}, 0.3),
        "closed port": failure(Config(server=f"127.0.0.1:{closed_port()}"), "GetServerInfo", {}),
    }
    with serving(catalog, token="s3cret") as guarded:
        provoked["no token"] = failure(Config(server=guarded.address), "GetServerInfo", {})
        provoked["wrong token"] = failure(Config(server=guarded.address, token="guess"), "GetServerInfo", {})
    with serving(catalog, max_message_bytes=1000) as small:
        provoked["too large"] = failure(Config(server=small.address), "Project",
                                        {"image": {"width": 64, "height": 64, "rgba": bytes(64 * 64 * 4)}})
    assert {name: error.code for name, error in provoked.items()} == {
        "unknown model": "INVALID_ARGUMENT", "no visible pixels": "INVALID_ARGUMENT",
        "unreadable model": "FAILED_PRECONDITION", "missing regressor": "FAILED_PRECONDITION",
        "deadline": "DEADLINE_EXCEEDED", "closed port": "UNAVAILABLE", "no token": "UNAUTHENTICATED",
        "wrong token": "UNAUTHENTICATED", "too large": "RESOURCE_EXHAUSTED"}
    for name, error in provoked.items():
        assert_plain(explain(error, here), error.code)
    assert "needs a token" in explain(provoked["no token"], Config()).splitlines()[0]
    assert "did not accept the token" in explain(provoked["wrong token"], Config(token="guess")).splitlines()[0]
    assert "Start it with:" in explain(provoked["closed port"], here).splitlines()[0]
    assert "Pick another model" in explain(provoked["missing regressor"], here).splitlines()[0]
    assert "more than the GAN Collage server takes" in explain(provoked["too large"], here).splitlines()[0]


def test_the_three_kinds_of_resource_exhausted_read_differently():
    def first_line(message: str) -> str:
        return explain(CallError("RESOURCE_EXHAUSTED", message), Config()).splitlines()[0]

    busy = first_line("the job queue is full (8 jobs waiting, queue size 8); try again later")
    big = first_line("canvas.layers[3].image: the request's images and masks add up to more than this "
                     "server's limit of 33.6 megapixels (ServerInfo.max_request_pixels)")
    memory = first_line("the device ran out of memory: CUDA out of memory")
    assert "busy" in busy and "more than" in big and "out of memory" in memory
    assert len({busy, big, memory}) == 3


SERVER_STYLE = ["", "canvas.layers[2].image.rgba: expected 64 bytes, got 12",
                "this server needs a token: send metadata 'authorization: Bearer <token>'",
                "options.steps: 20000 is over the limit 10000", "x" * 300,
                "Received message larger than max (4194304 vs. 1000)", "model: unknown model 'nope'"]


@pytest.mark.parametrize("code", CODES)
def test_every_status_code_reads_plainly(code):
    for message in SERVER_STYLE:
        for config in (Config(), Config(token="t", server="gpu-box:7000")):
            assert_plain(explain(CallError(code, message), config), code)


def test_a_field_path_becomes_the_dialogs_words():
    assert plain_reason("options.steps: 20000 is over the limit 10000") == ("Steps", "20000 is over the limit 10000")
    assert plain_reason("canvas.width: 20000 is over the limit 16384") == ("the image size",
                                                                          "20000 is over the limit 16384")
    assert plain_reason("send metadata 'authorization: Bearer <token>'") == ("", "")  # jargon stays below
    text = explain(CallError("INVALID_ARGUMENT", "split: 11 is over the model's 10 rows"), Config())
    assert text.splitlines()[0] == ("The GAN Collage server could not use what was sent (Split: 11 is over the "
                                    "model's 10 rows). Change it in the dialog or the image and try again.")


# what one model family cannot do, as the server refuses it (its own words, server/engine and server/rpc)
FAMILY_REFUSALS = {
    "mix_space: applies to stylemap models only; this model's latent is W+": "Mix space is for StyleMapGAN models",
    "collage: 'layers' needs a stylemap model (StyleMapGAN); this model's latent is W+":
        "works with StyleMapGAN models only",
    "a.kind: is a W+ latent, but model 'smgan' takes a stylemap": "another kind of model than the chosen one",
    "content.kind: is a stylemap, but model 'faces' takes a W+ latent": "another kind of model than the chosen one",
    "options.init_latent.kind: is a W+ latent, but model 'smgan' takes a stylemap": "another kind of model",
    "latent.shape: a stylemap needs its shape [C, L, L], got []": "another size than the chosen model's",
}


@pytest.mark.parametrize("message", list(FAMILY_REFUSALS))
def test_what_a_model_family_cannot_do_is_said_in_an_artists_words(message):
    text = explain(CallError("INVALID_ARGUMENT", message), Config())
    assert_plain(text, "INVALID_ARGUMENT")
    assert FAMILY_REFUSALS[message] in text.splitlines()[0] and message in text.splitlines()[-1]


def test_a_refusal_of_another_field_is_not_taken_for_a_familys():
    text = explain(CallError("INVALID_ARGUMENT", "mix_space: must be one of ['w', 'w_plus'], got 'z'"), Config())
    assert text.splitlines()[0].startswith("The GAN Collage server could not use what was sent (Mix space: must be")


def test_a_server_that_stops_while_working_is_told_apart_from_one_never_reached():
    """UNAVAILABLE after the server answered (both gRPC stacks say so when it dies mid-job: see
    plugin/test_transport) means it stopped while working; before any answer, that nothing listens."""
    from core import actions
    from tests.support.plugin_fakes import FakeClient, session

    def dies(request):
        yield {"event": "progress", "progress": {"stage": "optimize", "step": 3, "total": 100, "queue_position": 0}}
        raise CallError("UNAVAILABLE", "Stream removed (Socket closed)")

    def unreachable(request):
        raise CallError("UNAVAILABLE", "failed to connect to all addresses")
        yield

    here = Config(server="127.0.0.1:7000")
    texts = []
    for client in (FakeClient(Project=dies), FakeClient(GetServerInfo=unreachable)):
        with pytest.raises(CallError) as error:
            actions.project(session(client), layer_data.LayerData("photo", 2, 2, bytes(16)), layer_data.Options())
        assert error.value.code == "UNAVAILABLE"
        texts.append(explain(error.value, here))
        assert_plain(texts[-1], "UNAVAILABLE")
    stopped, never = (text.splitlines()[0] for text in texts)
    assert stopped.startswith("The GAN Collage server at 127.0.0.1:7000 stopped while working on this")
    assert "Start it again with: .venv/bin/python -m server --host 127.0.0.1 --port 7000" in stopped
    assert never.startswith("Cannot reach the GAN Collage server at 127.0.0.1:7000.")


def test_no_message_is_ever_empty():
    from core.messages import one_line, unforeseen

    for error in (KeyError(), OverflowError("Python int too large to convert to C int"), ValueError("  ")):
        first, detail = unforeseen(error).splitlines()
        assert first.startswith("GAN Collage ran into a problem of its own") and type(error).__name__ in detail
        assert one_line(error, Config()).strip()
    assert one_line(ValueError(""), Config()).startswith("GAN Collage ran into a problem of its own")
