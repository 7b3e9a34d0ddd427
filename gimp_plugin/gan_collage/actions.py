"""What each menu action asks the server, and the layers it adds, on plain data (no GIMP here).

`gimp_io` turns the image into `LayerData`/`CanvasData` and `NewLayer`s back into GIMP layers; the
procedures in gan_collage.py only wire the two together. Requests are plain dicts with the proto's field
names (see server/client/bridge_protocol.py), so the same code serves both transports.

Where results go: Realize answers a canvas-placed layer. The other calls answer images at model
resolution that stand for the square the server centred on the source layer (ProjectRequest: "centred
in the square of its longer side"); they are scaled to that square and cropped to the layer's bounds.

Two-layer actions read the layers in stacking order: the lower one is the first (interpolation start,
content, blend base), the upper one the second (end, style, what is blended in).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional


class UserError(Exception):
    """Something the artist can fix in the image (select two layers, make a selection, ...)."""


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    width: int
    height: int

    def square(self) -> "Box":
        """The square of the longer side centred on the box, as the server pads a projected image
        (an odd leftover pixel goes to the right / bottom)."""
        side = max(self.width, self.height)
        return Box(self.x - (side - self.width) // 2, self.y - (side - self.height) // 2, side, side)


@dataclass
class LayerData:
    """A layer's own pixels (RGBA u8 rows) and how it sits on the canvas."""
    name: str
    width: int
    height: int
    rgba: bytes
    x: int = 0
    y: int = 0
    opacity: float = 1.0          # 0..1, times the opacities of the groups holding it
    mask: Optional[bytes] = None  # the layer mask, width * height bytes

    @property
    def box(self) -> Box:
        return Box(self.x, self.y, self.width, self.height)


@dataclass
class CanvasData:
    width: int
    height: int
    layers: list                       # LayerData, bottom to top, groups flattened
    selection: Optional[bytes] = None  # width * height bytes, 255 = selected; None = no selection


@dataclass
class NewLayer:
    """A result for gimp_io: `image` (an Image dict) is scaled to `box`, then cropped to `crop`."""
    name: str
    image: dict
    box: Box
    crop: Optional[Box] = None


@dataclass
class Options:
    """Projection options the dialogs offer; the server's defaults cover the rest."""
    method: str = "regressor"
    steps: int = 200
    seed: int = 0

    def request(self) -> dict:
        return {"method": self.method, "steps": self.steps, "seed": self.seed}


# ------------------------------------------------------------------------------------ requests


def image_dict(layer: LayerData) -> dict:
    return {"width": layer.width, "height": layer.height, "rgba": layer.rgba}


def mask_dict(width: int, height: int, data: bytes) -> dict:
    return {"width": width, "height": height, "data": data}


def canvas_request(canvas: CanvasData) -> dict:
    if not canvas.layers:
        raise UserError("There is nothing to realize: no visible layer (or none of the chosen layers is visible).")
    layers = []
    for layer in canvas.layers:
        entry = {"image": image_dict(layer), "x": layer.x, "y": layer.y, "opacity": layer.opacity, "name": layer.name}
        if layer.mask is not None:
            entry["mask"] = mask_dict(layer.width, layer.height, layer.mask)
        layers.append(entry)
    request = {"width": canvas.width, "height": canvas.height, "layers": layers}
    if canvas.selection is not None:
        request["selection"] = mask_dict(canvas.width, canvas.height, canvas.selection)
    return request


def project_request(layer: LayerData, options: Options, model: str) -> dict:
    """The layer's own pixels (alpha and layer mask say what is known); its offsets and opacity do not matter."""
    request = {"model": model, "image": image_dict(layer), "options": options.request()}
    if layer.mask is not None:
        request["mask"] = mask_dict(layer.width, layer.height, layer.mask)
    return request


# ------------------------------------------------------------------------------------ naming


def model_name(latent: dict | None, fallback: str) -> str:
    return (latent or {}).get("model") or fallback or "default"


def made_by(metrics: dict, model: str, seed: int) -> str:
    """"hybrid, default, seed 3, 200 steps": what made a projection."""
    parts = [metrics.get("method") or "?", model, f"seed {seed}"]
    if metrics.get("steps"):
        parts.append(f"{metrics['steps']} steps")
    return ", ".join(parts)


def frame_name(number: int, milliseconds: int) -> str:
    """GIMP's animation naming: frame 1 is the bottom layer, the delay in brackets."""
    return f"Frame {number} ({milliseconds}ms)"


# ------------------------------------------------------------------------------------ calls


Report = Callable[[str, float], None]  # (text, fraction done)


def describe(label: str, progress: dict) -> tuple[str, float]:
    """Progress text and the fraction of the current stage done."""
    if progress.get("stage") == "queued":
        ahead = progress.get("queue_position", 0)
        return f"{label}: waiting for the server ({ahead} job{'s' if ahead != 1 else ''} ahead)", 0.0
    step, total = progress.get("step", 0), progress.get("total", 0)
    return f"{label}: {progress.get('stage', '')} {step}/{total}", (step / total if total else 0.0)


@dataclass
class Session:
    """One action's way to the server: a client (DirectClient or BridgeClient), settings, progress."""
    client: Any
    model: str
    timeout: float
    report: Report

    def call(self, name: str, request: dict, label: str, part: int = 0, parts: int = 1) -> list:
        """The payloads of the call's result/frame events; progress maps to [part, part + 1] / parts."""
        payloads = []
        self.report(label, part / parts)
        for event in self.client.call(name, request, self.timeout):
            kind = event["event"]
            if kind == "progress":
                text, fraction = describe(label, event["progress"])
                self.report(text, (part + fraction) / parts)
            else:
                payloads.append(event[kind])
        return payloads

    def project(self, layer: LayerData, options: Options, part: int = 0, parts: int = 1) -> dict:
        (result,) = self.call("Project", project_request(layer, options, self.model),
                              f"Projecting {layer.name}", part, parts)
        return result


# ------------------------------------------------------------------------------------ actions


def realize(session: Session, canvas: CanvasData, options: Options) -> list:
    request = {"model": session.model, "canvas": canvas_request(canvas), "options": options.request()}
    (result,) = session.call("Realize", request, "Realizing the collage")
    layer = result["layer"]
    model = model_name(result.get("latent"), session.model)
    name = f"Realized ({made_by(result.get('metrics', {}), model, options.seed)})"
    return [NewLayer(name, layer, Box(result["x"], result["y"], layer["width"], layer["height"]))]


def _on(layer: LayerData, name: str, image: dict) -> NewLayer:
    """A model-resolution image placed over `layer` (see the module docstring)."""
    return NewLayer(name, image, layer.box.square(), layer.box)


def project(session: Session, layer: LayerData, options: Options) -> list:
    result = session.project(layer, options)
    model = model_name(result.get("latent"), session.model)
    return [_on(layer, f"Projection of {layer.name} ({made_by(result.get('metrics', {}), model, options.seed)})",
                result["image"])]


def _latents(session: Session, lower: LayerData, upper: LayerData, options: Options, parts: int):
    """Project both layers (the first two of `parts` progress parts); their latents."""
    return (session.project(lower, options, 0, parts)["latent"],
            session.project(upper, options, 1, parts)["latent"])


def interpolate(session: Session, lower: LayerData, upper: LayerData, options: Options,
                frames: int, mode: str, frame_ms: int) -> list:
    a, b = _latents(session, lower, upper, options, 3)
    request = {"model": session.model, "a": a, "b": b, "frames": frames, "mode": mode}
    answers = session.call("Interpolate", request, "Interpolating", 2, 3)
    return [_on(lower, frame_name(frame["index"] + 1, frame_ms), frame["image"]) for frame in answers]


def style_mix(session: Session, content: LayerData, style: LayerData, options: Options, split: int) -> list:
    a, b = _latents(session, content, style, options, 3)
    request = {"model": session.model, "content": a, "style": b, "split": split}
    (result,) = session.call("StyleMix", request, "Mixing styles", 2, 3)
    name = f"Style mix of {content.name} + {style.name} (split {split}, {model_name(a, session.model)})"
    return [_on(content, name, result["image"])]


def local_blend(session: Session, base: LayerData, other: LayerData, mask: Optional[bytes], options: Options,
                start_layer: int) -> list:
    """`mask` is the selection over `base`'s square (see Box.square), 255 = take `other`."""
    if mask is None:
        raise UserError("Local blend needs a selection: select where the upper layer should be blended in.")
    a, b = _latents(session, base, other, options, 3)
    side = base.box.square().width
    request = {"model": session.model, "a": a, "b": b, "mask": mask_dict(side, side, mask),
               "start_layer": start_layer}
    (result,) = session.call("LocalBlend", request, "Blending", 2, 3)
    name = f"Local blend of {base.name} + {other.name} (from layer {start_layer}, {model_name(a, session.model)})"
    return [_on(base, name, result["image"])]
