"""Files <-> the request/answer dicts: PNG images and masks, .npy latents, and a preview composite."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

_LAYER_SPEC = re.compile(r"^(?P<file>.+?)(?:@(?P<x>-?\d+),(?P<y>-?\d+))?(?::(?P<opacity>\d*\.?\d+))?$")


@dataclass
class LayerSpec:
    file: Path
    x: int = 0
    y: int = 0
    opacity: float = 1.0


def parse_layer(spec: str) -> LayerSpec:
    """`FILE[@X,Y][:OPACITY]`, e.g. `face.png@120,-8:0.5`."""
    match = _LAYER_SPEC.match(spec)
    if match is None:
        raise ValueError(f"bad layer {spec!r}: expected FILE[@X,Y][:OPACITY]")
    opacity = float(match["opacity"]) if match["opacity"] else 1.0
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"bad layer {spec!r}: opacity must be in [0, 1]")
    return LayerSpec(Path(match["file"]), int(match["x"] or 0), int(match["y"] or 0), opacity)


def read_image(path: Path) -> dict:
    """A PNG (or any Pillow-readable file) as an Image dict with raw RGBA."""
    with Image.open(path) as image:
        rgba = image.convert("RGBA")
    return {"width": rgba.width, "height": rgba.height, "rgba": rgba.tobytes()}


def read_mask(path: Path) -> dict:
    """A greyscale image as a Mask dict (255 = selected)."""
    with Image.open(path) as image:
        grey = image.convert("L")
    return {"width": grey.width, "height": grey.height, "data": grey.tobytes()}


def rgba_array(image: dict) -> np.ndarray:
    return np.frombuffer(image["rgba"], np.uint8).reshape(image["height"], image["width"], 4)


def write_image(image: dict, path: Path) -> None:
    Image.fromarray(rgba_array(image), "RGBA").save(path)


def read_latent(path: Path) -> dict:
    """A .npy latent as a Latent dict: W+ (num_ws, w_dim) or (1, num_ws, w_dim), or a stylemap (C, L, L) or
    (1, C, L, L). A 3-d array whose first side is 1 is a batch of one W+ latent; any other is a stylemap."""
    array = np.load(path, allow_pickle=False)
    if array.ndim in (3, 4) and array.shape[0] == 1:
        array = array[0]  # a batch of one: W+ (1, num_ws, w_dim) or a stylemap (1, C, L, L)
    if array.ndim not in (2, 3) or 0 in array.shape or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{path}: expected a W+ latent of shape (num_ws, w_dim) or a stylemap of shape (C, L, L), "
                         f"got {array.shape} {array.dtype}")
    values = array.astype(np.float32).ravel().tolist()
    if array.ndim == 2:
        return {"num_ws": array.shape[0], "w_dim": array.shape[1], "values": values}
    return {"values": values, "kind": "stylemap", "shape": list(array.shape)}


def write_latent(latent: dict, path: Path) -> None:
    """Save as float32 with a batch of one: (1, num_ws, w_dim) for W+, (1, C, L, L) for a stylemap."""
    values = np.asarray(latent["values"], np.float32)
    shape = latent.get("shape") if latent.get("kind") == "stylemap" else (latent["num_ws"], latent["w_dim"])
    np.save(path, values.reshape(1, *shape))


def flatten(width: int, height: int, layers: list[tuple[np.ndarray, int, int, float]]) -> Image.Image:
    """A preview of layers (RGBA pixels, x, y, opacity), bottom first, over a transparent canvas.

    Pillow's "over" compositing; the server's own composite may differ by a rounding step.
    """
    canvas = Image.new("RGBA", (width, height))
    for pixels, x, y, opacity in layers:
        h, w = pixels.shape[:2]
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, width), min(y + h, height)
        if x1 <= x0 or y1 <= y0:
            continue
        part = pixels[y0 - y:y1 - y, x0 - x:x1 - x].copy()
        part[..., 3] = np.floor(part[..., 3] * opacity + 0.5).astype(np.uint8)
        canvas.alpha_composite(Image.fromarray(part, "RGBA"), dest=(x0, y0))
    return canvas
