"""A result layer's latent as the bytes of a persistent GIMP parasite (so it is saved in XCF files).

Layout, version 1 (little-endian):

    b"GCL" + version byte (1)
    u32    length of the header
    header UTF-8 JSON: {"model": name, "num_ws": rows, "w_dim": width, "square": [dx, dy, size]}
    values num_ws * w_dim float32, row-major: the Latent's values exactly as gRPC carried them

`square` is the canvas square the latent's image covers, relative to the layer's offsets (a Realize
result cropped at the canvas edge covers less than its square), so it follows the layer when moved.

GIMP 3 refuses to load an XCF parasite over 256 MiB (MAX_XCF_PARASITE_DATA_LEN in xcf-load.c); an
18 x 512 latent is 36 KiB. Data that is not a version-1 latent decodes to None: the layer is then
treated as having no latent (and projected when an action needs one), never as an error.
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Optional

import paths  # noqa: F401  (vendor/ on sys.path first)
from server.region import Bounds

NAME = "gan-collage-latent"
MAGIC = b"GCL"
VERSION = 1
MAX_VALUES = 64 * 1024 * 1024 // 4  # 64 MiB of floats: far past any StyleGAN2 W+ (18 x 512), under GIMP's limit


@dataclass(frozen=True)
class Stored:
    latent: dict   # a Latent dict: num_ws, w_dim, values, model
    square: Bounds  # the canvas square its image covers (relative to the layer's offsets in the parasite)


def encode(latent: dict, square: Bounds) -> bytes:
    count = latent["num_ws"] * latent["w_dim"]
    if square.width != square.height or square.width <= 0:
        raise ValueError(f"{square} is not a square")
    if len(latent["values"]) != count or not 0 < count <= MAX_VALUES:
        raise ValueError(f"a latent of {latent['num_ws']} x {latent['w_dim']} needs {count} values (at most "
                         f"{MAX_VALUES}), not {len(latent['values'])}")
    header = json.dumps({"model": latent.get("model", ""), "num_ws": latent["num_ws"], "w_dim": latent["w_dim"],
                         "square": [square.x0, square.y0, square.width]}, separators=(",", ":")).encode()
    return (MAGIC + bytes([VERSION]) + struct.pack("<I", len(header)) + header
            + struct.pack(f"<{count}f", *latent["values"]))


def decode(data: bytes) -> Optional[Stored]:
    """The latent and its square; None for anything else (another version, damaged or cut short)."""
    if len(data) < 8 or data[:4] != MAGIC + bytes([VERSION]):
        return None
    (length,) = struct.unpack_from("<I", data, 4)
    try:
        header = json.loads(data[8:8 + length])
        rows, width, (dx, dy, size) = header["num_ws"], header["w_dim"], header["square"]
        count = rows * width
        if not (isinstance(header["model"], str) and 0 < count <= MAX_VALUES and size > 0
                and len(data) == 8 + length + 4 * count):
            return None
        values = list(struct.unpack_from(f"<{count}f", data, 8 + length))
    except (ValueError, KeyError, TypeError, struct.error):
        return None
    return Stored({"num_ws": rows, "w_dim": width, "values": values, "model": header["model"]},
                  Bounds.sized(int(dx), int(dy), int(size), int(size)))


def parasite_data(data: bytes) -> list:
    """Bytes as Gimp.Parasite.new takes them in GIMP 3.0.4's PyGObject: a list of signed ints (gchar)."""
    return [value - 256 if value > 127 else value for value in data]


def parasite_bytes(data) -> bytes:
    """Gimp.Parasite.get_data() as bytes: GIMP 3.0.4's PyGObject gives a list of signed ints."""
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    return bytes(value & 0xFF for value in data)
