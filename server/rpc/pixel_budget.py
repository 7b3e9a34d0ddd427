"""The per-request pixel budget: a request's images, masks and selection counted at their declared sizes
(raw width x height, or a PNG's header) before anything is decoded.

A PNG of a few hundred bytes can claim 16384 x 10000 pixels and decode to 625 MiB, so sizes are read
from the IHDR chunk and summed over the whole request first; a request over the limit is refused
(RESOURCE_EXHAUSTED) having cost only that walk. Decoding then checks that each PNG is the size its
header said (see convert.py).
"""
from __future__ import annotations

import struct
from typing import Iterator

from server.engine.errors import InvalidInput, TooLarge, pixel_count
from server.shared.api.gancollage.v1 import gancollage_pb2 as pb

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DEFAULT_MAX_REQUEST_PIXELS = 1 << 25  # 33.5 Mpx: e.g. a 6000 x 5000 photo, or 8 full 2048-px layers
DEFAULT_MAX_RESULT_PIXELS = 1 << 24  # 16.8 Mpx of pixels one response may carry (a 4096-px layer)


def png_size(data: bytes, path: str) -> tuple[int, int]:
    """(width, height) from a PNG's header, without decoding anything."""
    if len(data) < 24 or data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise InvalidInput(path, "is not a PNG file")
    return struct.unpack(">II", data[16:24])


def pixel_kind(message: pb.Image | pb.Mask) -> str | None:
    """Which of its pixel fields an Image or Mask holds ("rgba", "rgb", "data", "png"), or None."""
    return message.WhichOneof(message.DESCRIPTOR.oneofs[0].name)


def declared_pixels(message: pb.Image | pb.Mask, path: str) -> int:
    """Pixels an Image or Mask will decode to (0 when it holds none; conversion reports that)."""
    kind = pixel_kind(message)
    if kind is None:
        return 0
    if kind == "png":
        width, height = png_size(message.png, f"{path}.png")
    else:
        width, height = message.width, message.height
    return width * height


def _canvas_pixels(canvas: pb.Canvas, path: str) -> Iterator[tuple[str, pb.Image | pb.Mask]]:
    for index, layer in enumerate(canvas.layers):
        yield f"{path}.layers[{index}].image", layer.image
        if layer.HasField("mask"):
            yield f"{path}.layers[{index}].mask", layer.mask
    if canvas.HasField("selection"):
        yield f"{path}.selection", canvas.selection


def pixel_fields(request) -> Iterator[tuple[str, pb.Image | pb.Mask]]:
    """(request path, message) of every Image and Mask a request carries."""
    if isinstance(request, pb.RealizeRequest):
        yield from _canvas_pixels(request.canvas, "canvas")
    for name in ("image", "mask"):
        if name in request.DESCRIPTOR.fields_by_name and request.HasField(name):
            yield name, getattr(request, name)


def check_request_pixels(request, limit: int) -> None:
    """Raise TooLarge, naming the field where the total passes `limit`, before anything is decoded."""
    total = 0
    for path, message in pixel_fields(request):
        total += declared_pixels(message, path)
        if total > limit:
            raise TooLarge(path, f"the request's images and masks add up to more than this server's "
                                 f"limit of {pixel_count(limit)} (ServerInfo.max_request_pixels); "
                                 f"send them at a reduced scale or in parts")

