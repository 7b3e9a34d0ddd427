"""The request dicts the actions send (the proto's field names, see server/shared/messages.py), and what
they weigh: bytes of pixel data and decoded pixels, for the server's limits."""
from __future__ import annotations

from .errors import UserError
from .layer_data import CanvasData, LayerData, Options


def image_dict(layer: LayerData) -> dict:
    return {"width": layer.width, "height": layer.height, "rgba" if layer.channels == 4 else "rgb": layer.pixels}


def mask_dict(width: int, height: int, data: bytes) -> dict:
    return {"width": width, "height": height, "data": data}


def canvas_request(canvas: CanvasData) -> dict:
    if not canvas.layers:
        raise UserError("There is nothing to realize: no visible layer (or none of the chosen layers is visible) "
                        "inside the selection and its margin.")
    layers = []
    for layer in canvas.layers:
        entry = {"image": image_dict(layer), "x": layer.x, "y": layer.y, "opacity": layer.opacity, "name": layer.name}
        if layer.mask is not None:
            entry["mask"] = mask_dict(layer.width, layer.height, layer.mask)
        if layer.canvas_width:
            entry.update(canvas_width=layer.canvas_width, canvas_height=layer.canvas_height)
        layers.append(entry)
    return {"width": canvas.width, "height": canvas.height, "layers": layers}


def realize_request(canvas: CanvasData, options: Options, model: str) -> dict:
    """The region and its layers; the answer is the generated square only (no pasted layer)."""
    region = canvas.region
    return {"model": model, "canvas": canvas_request(canvas), "options": options.request(),
            "region": {"x": region.x, "y": region.y, "size": region.size}, "skip_layer": True}


def project_request(layer: LayerData, options: Options, model: str) -> dict:
    """The layer's own pixels (alpha and layer mask say what is known); its offsets and opacity do not matter."""
    request = {"model": model, "image": image_dict(layer), "options": options.request()}
    if layer.mask is not None:
        request["mask"] = mask_dict(layer.width, layer.height, layer.mask)
    return request


def payload_bytes(value) -> int:
    """Bytes of pixel data in a request dict."""
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if isinstance(value, dict):
        return sum(payload_bytes(item) for item in value.values())
    if isinstance(value, list):
        return sum(payload_bytes(item) for item in value)
    return 0


def request_pixels(value) -> int:
    """Decoded pixels a request carries: every Image and Mask counted at its declared size."""
    if isinstance(value, dict):
        own = value["width"] * value["height"] if {"rgba", "rgb", "data"} & value.keys() else 0
        return own + sum(request_pixels(item) for item in value.values())
    if isinstance(value, list):
        return sum(request_pixels(item) for item in value)
    return 0
