"""The latent parasite's encoding (core/latent_parasite.py): W+ and stylemap latents survive it
exactly, older versions still read, hostile or crafted bytes decode to no latent, and the plug-in's
limits are the server's."""
from __future__ import annotations

import json
import struct

import pytest

from core import latent_parasite
from server.shared.region import Bounds
from tests.support import fake_gi
from tests.support.latents import crafted, exact_values, packed, w_plus


def stylemap(channels=64, side=8, model="smgan", seed=0):
    """A stylemap latent as the server answers it: no rows, its shape [C, L, L]."""
    return {"num_ws": 0, "w_dim": 0, "values": exact_values(channels * side * side, seed), "model": model,
            "kind": "stylemap", "shape": [channels, side, side]}


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


def test_the_plugin_refuses_what_the_server_would():
    """One definition of the latent limits (server/shared/defaults.py) for the server's checks and the plug-in's."""
    from server.rpc import convert
    from server.shared import defaults

    assert (convert.MAX_LATENT_SIDE, convert.MAX_LATENT_VALUE) == (defaults.MAX_LATENT_SIDE, defaults.MAX_LATENT_VALUE)
    limit = defaults.MAX_LATENT_VALUE
    assert latent_parasite.decode(crafted(values=(0, 0, 0, limit))) is not None
    assert latent_parasite.decode(crafted(values=(0, 0, 0, limit * 1.01))) is None

