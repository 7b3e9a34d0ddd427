"""The canvas as the engine receives it: layers, a selection, and square regions on it.

Layer groups never reach the engine: the plug-in flattens each group (with the group's own opacity,
mask and visibility) into plain layers before sending the canvas, so `Canvas.layers` is a flat
bottom-to-top list.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .errors import InvalidInput
from .validation import check_int, check_number


@dataclass
class Layer:
    """One layer: straight (non-premultiplied) RGBA pixels placed at (x, y) on the canvas.

    The offsets may be negative or past the canvas; whatever falls outside is clipped. `mask` is
    the layer mask, same (h, w) as the pixels, 255 = opaque.
    """

    pixels: np.ndarray  # uint8 (h, w, 4)
    x: int = 0
    y: int = 0
    opacity: float = 1.0
    visible: bool = True
    mask: Optional[np.ndarray] = None  # uint8 (h, w)
    name: str = ""


@dataclass
class Canvas:
    """The image to realise: `layers` bottom to top, `selection` uint8 (height, width), 255 = selected.

    Soft selection values are allowed; `selection=None` means "no selection" (the whole canvas).
    """

    width: int
    height: int
    layers: list[Layer] = field(default_factory=list)
    selection: Optional[np.ndarray] = None


@dataclass(frozen=True)
class Square:
    """A square region in canvas coordinates; it may extend past the canvas."""

    x: int
    y: int
    size: int

    def intersect_canvas(self, width: int, height: int) -> tuple[int, int, int, int]:
        """The part inside a width x height canvas as (x0, y0, x1, y1), ends exclusive (empty: x1 == x0)."""
        x0, y0 = max(self.x, 0), max(self.y, 0)
        x1 = max(min(self.x + self.size, width), x0)
        y1 = max(min(self.y + self.size, height), y0)
        return x0, y0, x1, y1


def selection_bbox(selection: np.ndarray) -> tuple[int, int, int, int]:
    """Bounding box (x0, y0, x1, y1), ends exclusive, of the pixels with selection > 0."""
    rows = np.flatnonzero(selection.any(axis=1))
    if rows.size == 0:
        raise InvalidInput("selection", "the selection is empty; send no selection to use the whole canvas")
    cols = np.flatnonzero(selection.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _describe(array) -> str:
    if not isinstance(array, np.ndarray):
        return type(array).__name__
    return f"dtype {array.dtype}, shape {array.shape}"


def _check_layer(layer, where: str, max_side: int):
    if not isinstance(layer, Layer):
        raise InvalidInput(where, f"must be a Layer, got {type(layer).__name__}")
    pixels = layer.pixels
    if not (isinstance(pixels, np.ndarray) and pixels.dtype == np.uint8 and pixels.ndim == 3
            and pixels.shape[2] == 4 and 1 <= min(pixels.shape[:2]) and max(pixels.shape[:2]) <= max_side):
        raise InvalidInput(f"{where}.pixels", f"must be uint8 (h, w, 4) with sides in [1, {max_side}], "
                                              f"got {_describe(pixels)}")
    for name in ("x", "y"):
        check_int(f"{where}.{name}", getattr(layer, name), -2 ** 31, 2 ** 31 - 1)
    check_number(f"{where}.opacity", layer.opacity, 0.0, 1.0)
    if not isinstance(layer.visible, (bool, np.bool_)):
        raise InvalidInput(f"{where}.visible", f"must be a bool, got {layer.visible!r}")
    mask = layer.mask
    if mask is not None and not (isinstance(mask, np.ndarray) and mask.dtype == np.uint8
                                 and mask.shape == pixels.shape[:2]):
        raise InvalidInput(f"{where}.mask", f"must be uint8 {pixels.shape[:2]} like the layer's pixels, "
                                            f"got {_describe(mask)}")
    if not isinstance(layer.name, str):
        raise InvalidInput(f"{where}.name", f"must be a string, got {type(layer.name).__name__}")


def validate_canvas(canvas: Canvas, max_side: int = 16384, max_layers: int = 256) -> None:
    """Raise `InvalidInput` naming the culprit like a request path (`layers[2].pixels`, `selection`...)."""
    check_int("width", canvas.width, 1, max_side)
    check_int("height", canvas.height, 1, max_side)
    layers = canvas.layers
    if not isinstance(layers, (list, tuple)) or not 1 <= len(layers) <= max_layers:
        count = len(layers) if isinstance(layers, (list, tuple)) else type(layers).__name__
        raise InvalidInput("layers", f"must hold 1 to {max_layers} layers, got {count}")
    for index, layer in enumerate(layers):
        _check_layer(layer, f"layers[{index}]", max_side)
    selection = canvas.selection
    if selection is not None and not (isinstance(selection, np.ndarray) and selection.dtype == np.uint8
                                      and selection.shape == (canvas.height, canvas.width)):
        raise InvalidInput("selection", f"must be uint8 (height, width) = {(canvas.height, canvas.width)}, "
                                        f"got {_describe(selection)}")

