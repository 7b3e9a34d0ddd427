"""The canvas as the engine receives it: layers, a selection, and square regions on it.

Layer groups never reach the engine: the plug-in sends a group's visible layers as plain layers, with
the group's opacity multiplied in (a group's own layer mask is not carried over), so `Canvas.layers`
is a flat bottom-to-top list. A layer may be any part of the artist's layer (a crop to the region of
interest) and may come at reduced scale (`canvas_width`/`canvas_height`); the selection may be any
part of the canvas (a crop to its bounding box). Nothing here allocates anything canvas-sized.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from server.shared.region import Bounds

from .errors import InvalidInput
from .validation import check_int, check_number

MAX_CANVAS_SIDE = 16384  # also the largest layer image and selection side
MAX_LAYERS = 256
MAX_OFFSET = 2 ** 31 - 1


@dataclass
class Layer:
    """One layer: straight (non-premultiplied) RGBA pixels, or opaque RGB, placed at (x, y) on the canvas.

    The offsets may be negative or past the canvas; whatever falls outside is clipped. `mask` is
    the layer mask, same (h, w) as the pixels, 255 = opaque. `canvas_width` x `canvas_height` is the
    canvas area the pixels stand for (0: their own size); a layer read at 1/4 scale has pixels a
    quarter of that size, each standing for 4 x 4 canvas pixels.
    """

    image: np.ndarray  # uint8 (h, w, 4) or (h, w, 3)
    x: int = 0
    y: int = 0
    opacity: float = 1.0
    visible: bool = True
    mask: Optional[np.ndarray] = None  # uint8 (h, w)
    name: str = ""
    canvas_width: int = 0
    canvas_height: int = 0

    @property
    def bounds(self) -> Bounds:
        """Where the layer lies on the canvas."""
        height, width = self.image.shape[:2]
        return Bounds.sized(self.x, self.y, self.canvas_width or width, self.canvas_height or height)


@dataclass
class Canvas:
    """The image to realise: `layers` bottom to top, `selection` uint8, 255 = selected.

    Soft selection values are allowed; `selection=None` means "no selection" (the whole canvas). The
    selection array covers the part of the canvas at (selection_x, selection_y) of its own size
    (the whole canvas when it is canvas-sized at 0, 0); the selection is 0 everywhere else.
    """

    width: int
    height: int
    layers: list[Layer] = field(default_factory=list)
    selection: Optional[np.ndarray] = None
    selection_x: int = 0
    selection_y: int = 0

    @property
    def bounds(self) -> Bounds:
        return Bounds(0, 0, self.width, self.height)

    def selection_window(self, window: Bounds) -> np.ndarray:
        """uint8 selection over `window` (inside the canvas), zeros where none was sent."""
        out = np.zeros((window.height, window.width), np.uint8)
        height, width = self.selection.shape
        sent = Bounds.sized(self.selection_x, self.selection_y, width, height)
        part = sent.intersect(window)
        if part is not None:
            out[part.y0 - window.y0:part.y1 - window.y0, part.x0 - window.x0:part.x1 - window.x0] = \
                self.selection[part.y0 - sent.y0:part.y1 - sent.y0, part.x0 - sent.x0:part.x1 - sent.x0]
        return out


def selection_bbox(canvas: Canvas) -> Optional[Bounds]:
    """Bounding box on the canvas of the pixels with selection > 0; None without a selection."""
    selection = canvas.selection
    if selection is None:
        return None
    rows = np.flatnonzero(selection.any(axis=1))
    if rows.size == 0:
        raise InvalidInput("selection", "the selection is empty; send no selection to use the whole canvas")
    cols = np.flatnonzero(selection.any(axis=0))
    x, y = canvas.selection_x, canvas.selection_y
    return Bounds(x + int(cols[0]), y + int(rows[0]), x + int(cols[-1]) + 1, y + int(rows[-1]) + 1)


def _describe(array) -> str:
    if not isinstance(array, np.ndarray):
        return type(array).__name__
    return f"dtype {array.dtype}, shape {array.shape}"


def _check_layer(layer, where: str, max_side: int):
    if not isinstance(layer, Layer):
        raise InvalidInput(where, f"must be a Layer, got {type(layer).__name__}")
    pixels = layer.image
    if not (isinstance(pixels, np.ndarray) and pixels.dtype == np.uint8 and pixels.ndim == 3
            and pixels.shape[2] in (3, 4) and 1 <= min(pixels.shape[:2]) and max(pixels.shape[:2]) <= max_side):
        raise InvalidInput(f"{where}.image", f"must be uint8 (h, w, 4) or (h, w, 3) with sides in "
                                              f"[1, {max_side}], got {_describe(pixels)}")
    for name in ("x", "y"):
        check_int(f"{where}.{name}", getattr(layer, name), -MAX_OFFSET - 1, MAX_OFFSET)
    for name in ("canvas_width", "canvas_height"):
        check_int(f"{where}.{name}", getattr(layer, name), 0, MAX_OFFSET)
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


def validate_canvas(canvas: Canvas, max_side: int = MAX_CANVAS_SIDE, max_layers: int = MAX_LAYERS) -> None:
    """Raise `InvalidInput` naming the culprit like a request path (`layers[2].image`, `selection`...)."""
    check_int("width", canvas.width, 1, max_side)
    check_int("height", canvas.height, 1, max_side)
    layers = canvas.layers
    if not isinstance(layers, (list, tuple)) or not 1 <= len(layers) <= max_layers:
        count = len(layers) if isinstance(layers, (list, tuple)) else type(layers).__name__
        raise InvalidInput("layers", f"must hold 1 to {max_layers} layers, got {count}")
    for index, layer in enumerate(layers):
        _check_layer(layer, f"layers[{index}]", max_side)
    selection = canvas.selection
    if selection is None:
        return
    if not (isinstance(selection, np.ndarray) and selection.dtype == np.uint8 and selection.ndim == 2
            and min(selection.shape) >= 1):
        raise InvalidInput("selection", f"must be uint8 (h, w), got {_describe(selection)}")
    x = check_int("selection_x", canvas.selection_x, 0, canvas.width - 1)
    y = check_int("selection_y", canvas.selection_y, 0, canvas.height - 1)
    height, width = selection.shape
    if x + width > canvas.width or y + height > canvas.height:
        raise InvalidInput("selection", f"{width}x{height} at ({x}, {y}) must lie inside the "
                                        f"{canvas.width}x{canvas.height} canvas")

