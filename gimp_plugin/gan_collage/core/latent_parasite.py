"""A result layer's latent as the bytes of a persistent GIMP parasite (so it is saved in XCF files).

Layout, version 2 (little-endian):

    b"GCL" + version byte (2)
    u32    length of the header
    header UTF-8 JSON: {"model": name, "kind": "w_plus" | "stylemap", "shape": [sides],
                        "square": [dx, dy, size]}
    values the product of the shape's sides float32, row-major: the Latent's values exactly as gRPC
           carried them

`kind` and `shape` are the gRPC Latent's: W+ is [num_ws, w_dim] (StyleGAN2), a stylemap [C, L, L]
(StyleMapGAN). Version 1 (plug-ins before stylemaps) had {"model", "num_ws", "w_dim", "square"} in
its header and W+ values; it still reads, as a W+ latent.

`square` is the canvas square the latent's image covers, relative to the layer's offsets (a Realize
result cropped at the canvas edge covers less than its square), so it follows the layer when moved.

In memory a latent is the gRPC Latent as a dict, {"num_ws", "w_dim", "values", "model", "kind",
"shape"} (num_ws and w_dim are 0 for a stylemap), so a decoded one goes back to the server exactly.

GIMP 3 refuses to load an XCF parasite over 256 MiB (MAX_XCF_PARASITE_DATA_LEN in xcf-load.c); an
18 x 512 latent is 36 KiB, a 64 x 8 x 8 stylemap 16 KiB. A parasite can come from anywhere (an XCF
someone sent), so everything in it is checked before it is used: data that is not a latent of a known
version (damaged, cut short, an absurd shape, values that are not finite or beyond what the server
takes) decodes to None, and `read` also refuses a square that cannot be the layer's (`fits`). An
unusable latent is treated as none: the layer is projected when an action needs a latent, and the
action says so (actions.latent_of), never an error.
"""
from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import Optional

from server.shared.defaults import MAX_LATENT_SIDE, MAX_LATENT_VALUE  # the server's own
from server.shared.region import Bounds

NAME = "gan-collage-latent"
MAGIC = b"GCL"
VERSION = 2
W_PLUS, STYLEMAP = "w_plus", "stylemap"
DIMENSIONS = {W_PLUS: 2, STYLEMAP: 3}  # sides of each kind's shape
MAX_VALUES = 1 << 20  # 4 MiB of floats: far past any StyleGAN2 W+ (18 x 512) or stylemap (64 x 8 x 8)
MAX_BYTES = 8 + 64 * 1024 + 4 * MAX_VALUES  # the largest parasite worth reading (a header of up to 64 KiB)


@dataclass(frozen=True)
class Stored:
    latent: dict   # a Latent dict: num_ws, w_dim, values, model, kind, shape
    square: Bounds  # the canvas square its image covers (relative to the layer's offsets in the parasite)


def kind_of(latent: dict) -> str:
    """"w_plus" or "stylemap" ("" from an older server means W+)."""
    return latent.get("kind") or W_PLUS


def shape_of(latent: dict) -> tuple:
    """The latent's shape without the batch: [num_ws, w_dim] for a W+ latent that states none."""
    return tuple(latent.get("shape") or ()) or (latent.get("num_ws", 0), latent.get("w_dim", 0))


def latent_dict(values: list, model: str, kind: str, shape) -> dict:
    """A Latent dict as the server answers it (num_ws and w_dim set for W+ only)."""
    rows, width = shape if kind == W_PLUS else (0, 0)
    return {"num_ws": rows, "w_dim": width, "values": values, "model": model, "kind": kind, "shape": list(shape)}


def _sides(shape, kind) -> Optional[tuple]:
    """The shape as a tuple of ints when it is one of `kind`'s shapes; else None."""
    if (kind not in DIMENSIONS or not isinstance(shape, (list, tuple)) or len(shape) != DIMENSIONS[kind]
            or not all(type(side) is int and 0 < side <= MAX_LATENT_SIDE for side in shape)):
        return None
    return tuple(shape)


def encode(latent: dict, square: Bounds) -> bytes:
    kind, shape = kind_of(latent), _sides(shape_of(latent), kind_of(latent))
    if square.width != square.height or square.width <= 0:
        raise ValueError(f"{square} is not a square")
    if shape is None:
        raise ValueError(f"{shape_of(latent)} is not the shape of a {kind} latent")
    count = math.prod(shape)
    if len(latent["values"]) != count or not 0 < count <= MAX_VALUES:
        raise ValueError(f"a latent of {' x '.join(map(str, shape))} needs {count} values (at most "
                         f"{MAX_VALUES}), not {len(latent['values'])}")
    header = json.dumps({"model": latent.get("model", ""), "kind": kind, "shape": list(shape),
                         "square": [square.x0, square.y0, square.width]}, separators=(",", ":")).encode()
    return (MAGIC + bytes([VERSION]) + struct.pack("<I", len(header)) + header
            + struct.pack(f"<{count}f", *latent["values"]))


def _header(header: dict, version: int) -> Optional[tuple]:
    """(model, kind, shape, square) from a version's header; None when it is not one."""
    if version == 1:
        kind, shape = W_PLUS, [header["num_ws"], header["w_dim"]]
    else:
        kind, shape = header["kind"], header["shape"]
    model, square = header["model"], header["square"]
    sides = _sides(shape, kind)
    if (not isinstance(model, str) or sides is None or not isinstance(square, list) or len(square) != 3
            or not all(type(value) is int for value in square) or square[2] <= 0):
        return None
    return model, kind, sides, Bounds.sized(square[0], square[1], square[2], square[2])


def decode(data: bytes) -> Optional[Stored]:
    """The latent and its square; None for anything else (another version, damaged or cut short)."""
    if not 8 <= len(data) <= MAX_BYTES or data[:3] != MAGIC or data[3] not in (1, VERSION):
        return None
    (length,) = struct.unpack_from("<I", data, 4)
    try:
        header = json.loads(data[8:8 + length])
        read = _header(header, data[3]) if isinstance(header, dict) and len(data) >= 8 + length else None
    except (ValueError, KeyError, TypeError, RecursionError):
        return None
    if read is None:
        return None
    model, kind, shape, square = read
    count = math.prod(shape)
    if not 0 < count <= MAX_VALUES or len(data) != 8 + length + 4 * count:
        return None
    values = list(struct.unpack_from(f"<{count}f", data, 8 + length))
    if not all(abs(value) <= MAX_LATENT_VALUE for value in values):  # NaN fails this too
        return None
    return Stored(latent_dict(values, model, kind, shape), square)


def fits(square: Bounds, layer: Bounds, canvas: Bounds) -> bool:
    """Whether `square` (canvas coordinates) can be the square that a result layer at `layer` stands for.

    A result covers its square cropped to the canvas (Realize) or to its source layer (the others), so
    its square overlaps it and is no longer than the canvas' or the layer's longer side; moving the layer
    moves both. Anything else was not made by GAN Collage, and could be costly: every result of a
    layer is scaled by GIMP to its square first, so a 16384 px square on a 48 px layer costs gigabytes.
    """
    longest = max(canvas.width, canvas.height, layer.width, layer.height)
    return square.width <= longest and square.intersect(layer) is not None


def read(data: bytes, layer: Bounds, canvas: Bounds) -> Optional[Stored]:
    """The latent stored with a layer at `layer` on `canvas`, its square moved to canvas coordinates (the
    parasite's is relative to the layer's offsets); None unless `data` decodes and its square `fits`."""
    stored = decode(data)
    if stored is None:
        return None
    square = Bounds.sized(stored.square.x0 + layer.x0, stored.square.y0 + layer.y0, stored.square.width,
                          stored.square.width)
    return Stored(stored.latent, square) if fits(square, layer, canvas) else None


def parasite_data(data: bytes) -> list:
    """Bytes as Gimp.Parasite.new takes them in GIMP 3.0.4's PyGObject: a list of signed ints (gchar)."""
    return [value - 256 if value > 127 else value for value in data]


def parasite_bytes(data) -> bytes:
    """Gimp.Parasite.get_data() as bytes: GIMP 3.0.4's PyGObject gives a list of signed ints."""
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    return bytes(value & 0xFF for value in data)
