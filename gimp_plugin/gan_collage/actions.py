"""What each menu action asks the server, and the layers it adds, on plain data (no GIMP here).

`gimp_io` turns the image into `LayerData`/`CanvasData` and `NewLayer`s back into GIMP layers; the
procedures in gan_collage.py only wire the two together. Requests are plain dicts with the proto's field
names (see server/client/messages.py), so the same code serves both gRPC stacks.

Where results go: Realize reads only the region of interest (the rule in server/region.py, shared
with the server) and asks for no pasted layer: the generated square is scaled onto the region by GIMP,
cropped to the canvas and masked with the selection. The other calls answer images at model
resolution that stand for the square the server centred on the source layer (ProjectRequest: "centred
in the square of its longer side"); they are scaled to that square and cropped to the layer's bounds.

Two-layer actions read the layers in stacking order: the lower one is the first (interpolation start,
content, blend base), the upper one the second (end, style, what is blended in).

Latents stay with their layers: every result that has a latent carries it and the square of the
canvas its image covers (latent_parasite.py). Local blend's result has none for a W+ model (the server
blends in image space) and for a stylemap model's "every level" blend; Mix styles' has none for a
stylemap model (its mix exists per resizer level). Interpolate, Mix styles, Local blend and Edit
attributes use a layer's own latent when it is for the session's model (its name, kind and shape: a W+
latent never goes to a stylemap model, nor the other way round) and project only the layers without
one: no second projection, no drift. Results then go over the latent's square, cropped to the layer,
as after a projection. A layer whose latent cannot be used (damaged, or crafted: see latent_parasite.read)
is projected as if it had none, and the session's notes say so for the artist.

A call that fails UNAVAILABLE after the server has answered the session raises ServerStopped: the server
went away while working, which the artist is told apart from a server that was never reached.

Before anything is read or sent, the server's limits (GetServerInfo) and the model's levels (ListModels:
num_levels, W+ rows or a stylemap model's resizer levels; num_ws from an older server) are checked, so
an oversized image or an out-of-range Split is refused with a reason instead of after an upload or two
projections.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional

import paths  # noqa: F401  (vendor/ on sys.path first)
from latent_parasite import STYLEMAP, W_PLUS, Stored, kind_of, shape_of
from server.client.errors import CallError
from server.client.progress import jobs_ahead
from server.defaults import DEFAULT_FEATHER, DEFAULT_MARGIN, DEFAULT_STEPS
from server.region import Bounds, Square, read_step, region_square

if TYPE_CHECKING:  # only a type: actions itself never touches a transport
    from transport import Client


class UserError(Exception):
    """Something the artist can fix in the image (select two layers, make a selection, ...)."""


class ServerStopped(CallError):
    """The server went away while working on the action: a call failed UNAVAILABLE after the server had
    answered this session, so it was reachable a moment before (it crashed, or was closed: both gRPC
    stacks say UNAVAILABLE then, as when nothing listens)."""


class Cancelled(Exception):
    """The artist cancelled a dialog the action showed."""


@dataclass
class LayerData:
    """A layer's pixels (RGBA u8 rows, or RGB u8 rows for a layer without alpha) and where they lie.

    For Realize the pixels are only the layer's part inside the region of interest, possibly read at
    reduced scale: then they stand for `canvas_width` x `canvas_height` canvas pixels from (x, y).
    """
    name: str
    width: int
    height: int
    pixels: bytes
    x: int = 0
    y: int = 0
    opacity: float = 1.0          # 0..1, times the opacities of the groups holding it
    mask: Optional[bytes] = None  # the layer mask, width * height bytes
    channels: int = 4             # 3: opaque RGB
    canvas_width: int = 0         # 0: the pixels' own size (full scale)
    canvas_height: int = 0
    latent: Optional[Stored] = None  # the latent the layer carries (its square in canvas coordinates)
    latent_unusable: bool = False    # it carries one that cannot be used (latent_parasite.read): as if none

    @property
    def box(self) -> Bounds:
        return Bounds.sized(self.x, self.y, self.canvas_width or self.width, self.canvas_height or self.height)


@dataclass
class CanvasData:
    """What Realize sends: the layers' parts inside `region` (a square, the shared rule's)."""
    width: int
    height: int
    layers: list               # LayerData, bottom to top, groups flattened
    region: Square             # the region of interest
    has_selection: bool = False  # the result gets a layer mask from the selection


@dataclass(frozen=True)
class ReadPlan:
    """Which part of the canvas Realize reads, and how coarsely."""
    region: Square    # the region of interest (may reach past the canvas)
    area: Bounds      # its part inside the canvas: what the layers are read over
    step: int         # read at 1/step scale

    @classmethod
    def of(cls, selection: Optional[Bounds], width: int, height: int, resolution: int,
           margin: float = DEFAULT_MARGIN) -> "ReadPlan":
        """For the selection's bounds (None: nothing selected), the model's resolution and the margin (a
        fraction of the selection's longer side)."""
        region = region_square(selection, width, height, margin)
        area = region.bounds.intersect(Bounds(0, 0, width, height))
        return cls(region, area, read_step(region.size, resolution))


@dataclass
class NewLayer:
    """A result for gimp_io: `image` (an Image dict) is scaled to `box`, then cropped to `crop`;
    `masked`: it gets a layer mask from the selection, softened `feather` pixels in from its edge;
    `mask`: else this layer mask (the cropped layer's size); `latent`: the latent `image` was made from,
    kept with the layer."""
    name: str
    image: dict
    box: Bounds
    crop: Optional[Bounds] = None
    masked: bool = False
    feather: float = 0.0
    mask: Optional[bytes] = None
    latent: Optional[dict] = None


@dataclass
class Options:
    """Projection options the dialogs offer; the server's defaults cover the rest. The regressor is one
    deterministic pass: steps and seed only matter for the other methods."""
    method: str = "regressor"
    steps: int = DEFAULT_STEPS
    seed: int = 0
    feather: float = DEFAULT_FEATHER  # Realize: the result's mask fades in over this many pixels inside the selection
    margin: float = DEFAULT_MARGIN    # Realize: context around the selection, a fraction of its longer side
    truncation: float = 1.0           # the latent pulled toward the average, w_avg + psi (w - w_avg); 1 = none

    @property
    def optimizes(self) -> bool:
        return self.method != "regressor"

    def request(self) -> dict:
        request = {"method": self.method, "steps": self.steps, "seed": self.seed}
        if self.truncation != 1.0:  # only then: older servers know no such field
            request["truncation"] = self.truncation
        return request


# ------------------------------------------------------------------------------------ requests


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


# ------------------------------------------------------------------------------------ naming


def model_name(latent: dict | None, fallback: str) -> str:
    return (latent or {}).get("model") or fallback or "default"


def made_by(metrics: dict, model: str, options: Options) -> str:
    """"hybrid, default, seed 3, 200 steps" (the regressor: "regressor, default"): what made a projection."""
    parts = [metrics.get("method") or options.method, model]
    if options.optimizes:
        parts.append(f"seed {options.seed}")
    if metrics.get("steps"):
        parts.append(f"{metrics['steps']} steps")
    if options.truncation != 1.0:
        parts.append(f"truncation {options.truncation:g}")
    return ", ".join(parts)


def frame_name(number: int, milliseconds: int) -> str:
    """GIMP's animation naming: frame 1 is the bottom layer, the delay in brackets."""
    return f"Frame {number} ({milliseconds}ms)"


# ------------------------------------------------------------------------------------ calls


Report = Callable[[str, float], None]  # (text, fraction done)


def describe(label: str, progress: dict) -> tuple[str, float]:
    """Progress text and the fraction of the current stage done."""
    if progress.get("stage") == "queued":
        return f"{label}: waiting for the server ({jobs_ahead(progress)})", 0.0
    step, total = progress.get("step", 0), progress.get("total", 0)
    return f"{label}: {progress.get('stage', '')} {step}/{total}", (step / total if total else 0.0)


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


@dataclass(frozen=True)
class Limits:
    """What one request may carry (GetServerInfo; 0 = unknown, from an older server)."""
    max_canvas_side: int = 0
    max_layers: int = 0
    max_request_pixels: int = 0
    max_message_bytes: int = 0
    max_frames: int = 0

    @classmethod
    def of(cls, info: dict) -> "Limits":
        return cls(**{name: info.get(name, 0) for name in cls.__dataclass_fields__})

    def check_canvas(self, width: int, height: int) -> None:
        side = self.max_canvas_side
        if side and max(width, height) > side:
            raise UserError(f"This image is {width} x {height} pixels; the GAN Collage server takes images up to "
                            f"{side} pixels on a side. Scale it down (Image > Scale Image) or crop it, then try again.")

    def check_request(self, request: dict) -> None:
        layers = len(request.get("canvas", {}).get("layers", []))
        if self.max_layers and layers > self.max_layers:
            raise UserError(f"The collage has {layers} layers inside the region; the GAN Collage server takes at most "
                            f"{self.max_layers}. Merge some layers, or choose \"Selected layers only\".")
        pixels = request_pixels(request)
        if self.max_request_pixels and pixels > self.max_request_pixels:
            raise UserError(f"This would send {pixels / 1e6:.1f} million pixels; the GAN Collage server takes at most "
                            f"{self.max_request_pixels / 1e6:.1f} million at once. Use a smaller selection or layer, "
                            "or fewer layers.")
        size = payload_bytes(request)
        if self.max_message_bytes and size > self.max_message_bytes:
            raise UserError(f"This would send {size / 2**20:.0f} MiB; the GAN Collage server takes at most "
                            f"{self.max_message_bytes / 2**20:.0f} MiB at once. Use a smaller selection or layer.")

    def check_frames(self, frames: int) -> None:
        if self.max_frames and frames > self.max_frames:
            raise UserError(f"The GAN Collage server makes at most {self.max_frames} frames; ask for fewer.")


class Timings:
    """Seconds per phase of one action (read, call, write...) and a few counts, for the benchmark."""

    def __init__(self):
        self.seconds: dict = {}
        self.counts: dict = {}

    def add(self, phase: str, seconds: float) -> None:
        self.seconds[phase] = self.seconds.get(phase, 0.0) + seconds

    def timed(self, phase: str, work: Callable):
        started = time.perf_counter()
        try:
            return work()
        finally:
            self.add(phase, time.perf_counter() - started)


@dataclass
class Session:
    """One action's way to the server: a client (DirectClient or GrpclibClient), settings, progress; `notes`
    collects what the artist should hear about a finished action (a stored latent that could not be used)."""
    client: Client
    model: str
    timeout: float
    report: Report
    timings: Timings = field(default_factory=Timings)
    notes: list = field(default_factory=list)
    answered: bool = False  # the server has answered a call of this session (see ServerStopped)

    _info: Optional[dict] = field(default=None, init=False, repr=False)      # GetServerInfo, asked once
    _listing: Optional[dict] = field(default=None, init=False, repr=False)   # ListModels, asked once

    def call(self, name: str, request: dict, label: str, part: int = 0, parts: int = 1) -> list:
        """The payloads of the call's result/frame events; progress maps to [part, part + 1] / parts. A
        request past the server's limits is refused before it is sent."""
        if request:
            self.limits().check_request(request)
        payloads = []
        self.report(label, part / parts)
        started = time.perf_counter()
        self.timings.counts["request_bytes"] = self.timings.counts.get("request_bytes", 0) + payload_bytes(request)
        try:
            for event in self.client.call(name, request, self.timeout):
                self.answered = True
                kind = event["event"]
                if kind == "progress":
                    text, fraction = describe(label, event["progress"])
                    self.report(text, (part + fraction) / parts)
                else:
                    payloads.append(event[kind])
        except CallError as error:
            if error.code == "UNAVAILABLE" and self.answered:
                raise ServerStopped(error.code, error.message) from None
            raise
        self.timings.add("call", time.perf_counter() - started)
        return payloads

    def limits(self) -> Limits:
        """The server's limits (asked once per session)."""
        if self._info is None:
            (self._info,) = self.call("GetServerInfo", {}, "Asking the server for its limits")
        return Limits.of(self._info)

    def model_info(self) -> dict:
        """The session's model as ListModels lists it (resolution, num_ws, has_regressor, ...)."""
        if self._listing is None:
            (self._listing,) = self.call("ListModels", {}, "Asking the server for its models")
        for model in self._listing["models"]:
            if (model["name"] == self.model) if self.model else model["is_default"]:
                if not model["available"]:
                    raise UserError(f"The server cannot use the model {model['name']!r}: {model['error']}")
                return model
        raise UserError(f"The model {self.model!r} is not on this server; pick one of "
                        f"{', '.join(m['name'] for m in self._listing['models'])} in Server settings.")

    def resolution(self) -> int:
        """The side of the images the session's model makes."""
        return self.model_info()["resolution"]

    def stylemap(self) -> bool:
        """Whether the session's model keeps its latents as stylemaps (StyleMapGAN)."""
        return model_kind(self.model_info()) == STYLEMAP

    def check_rows(self, label: str, value: int) -> None:
        """`value` must name a level boundary of the model (0..num_levels: W+ rows, or a stylemap model's
        resizer levels): checked before any projection."""
        model = self.model_info()
        levels = model_levels(model)
        if levels and not 0 <= value <= levels:
            what = "levels (coarse to fine)" if model_kind(model) == STYLEMAP else "latent rows"
            raise UserError(f"{label} is {value}, but the model {model['name']!r} has {levels} {what}: choose "
                            f"0 to {levels}.")

    def project(self, layer: LayerData, options: Options, part: int = 0, parts: int = 1) -> dict:
        (result,) = self.call("Project", project_request(layer, options, self.model),
                              f"Projecting {layer.name}", part, parts)
        return result


# ------------------------------------------------------------------------------------ latents


def model_kind(model: dict) -> str:
    """A ListModels entry's latent kind, "w_plus" or "stylemap" (an older server names none: W+)."""
    return model.get("latent_kind") or W_PLUS


def model_shape(model: dict) -> tuple:
    """A ListModels entry's latent shape ([num_ws, w_dim] from an older server; 0 = not known)."""
    return tuple(model.get("latent_shape") or ()) or (model.get("num_ws", 0), model.get("w_dim", 0))


def model_levels(model: dict) -> int:
    """The range of Split and "Blend from layer": num_levels (num_ws from an older server); 0 = not known."""
    return model.get("num_levels") or model.get("num_ws", 0)


def latent_words(model: dict) -> str:
    """What a ListModels entry's latent is, for model lists: "12 latent rows" or "8x8x64 stylemap"."""
    shape = model_shape(model)
    if model_kind(model) == STYLEMAP and len(shape) == 3:
        return f"{shape[1]}x{shape[2]}x{shape[0]} stylemap"
    return f"{model.get('num_ws', 0)} latent rows"


def reusable(session: Session, layer: LayerData) -> Optional[Stored]:
    """The layer's own latent when it is for the session's model (its name, kind and shape), else None."""
    stored, model = layer.latent, session.model_info()
    if stored is None or stored.latent.get("model") != model["name"] or kind_of(stored.latent) != model_kind(model):
        return None
    wanted, shape = model_shape(model), shape_of(stored.latent)
    return stored if len(wanted) == len(shape) and all(m in (0, s) for m, s in zip(wanted, shape)) else None


def square_of(session: Session, layer: LayerData) -> Bounds:
    """The canvas square a result made from the layer's latent stands for."""
    stored = reusable(session, layer)
    return stored.square if stored is not None else layer.box.square()


def latent_of(session: Session, layer: LayerData, options: Options, part: int = 0, parts: int = 1) -> Stored:
    """The layer's own latent, or its projection (progress part `part` of `parts`); counted in the timings."""
    stored = reusable(session, layer)
    counts = session.timings.counts
    if stored is not None:
        counts["latents_reused"] = counts.get("latents_reused", 0) + 1
        return stored
    counts["layers_projected"] = counts.get("layers_projected", 0) + 1
    projected = Stored(session.project(layer, options, part, parts)["latent"], layer.box.square())
    if layer.latent_unusable:
        session.notes.append(f"The latent stored with the layer {layer.name!r} could not be used (it is damaged, "
                             "or GAN Collage did not make it), so the layer was projected again.")
    return projected


# ------------------------------------------------------------------------------------ actions


def realized_layer(result: dict, width: int, height: int, has_selection: bool, options: Options,
                   model: str) -> NewLayer:
    """A Realize answer as its layer: the generated square scaled onto the region, cropped to the
    `width` x `height` canvas, masked by the selection when there is one (Realize and Live preview)."""
    region = result["region"]
    square = Square(region["x"], region["y"], region["size"]).bounds
    crop = square.intersect(Bounds(0, 0, width, height))
    name = f"Realized ({made_by(result.get('metrics', {}), model_name(result.get('latent'), model), options)})"
    return NewLayer(name, result["generated"], square, None if crop == square else crop, has_selection,
                    options.feather, latent=result.get("latent"))


def realize(session: Session, canvas: CanvasData, options: Options) -> list:
    request = realize_request(canvas, options, session.model)
    (result,) = session.call("Realize", request, "Realizing the collage")
    metrics = result.get("metrics", {})
    session.timings.add("server", metrics.get("seconds", 0.0) + metrics.get("queue_seconds", 0.0))
    return [realized_layer(result, canvas.width, canvas.height, canvas.has_selection, options, session.model)]


def _on(layer: LayerData, square: Bounds, name: str, image: dict, latent: Optional[dict] = None) -> NewLayer:
    """A model-resolution image standing for `square`, placed over `layer` (see the module docstring)."""
    return NewLayer(name, image, square, layer.box, latent=latent)


def project(session: Session, layer: LayerData, options: Options) -> list:
    result = session.project(layer, options)
    model = model_name(result.get("latent"), session.model)
    return [_on(layer, layer.box.square(),
                f"Projection of {layer.name} ({made_by(result.get('metrics', {}), model, options)})",
                result["image"], result.get("latent"))]


def _latents(session: Session, lower: LayerData, upper: LayerData, options: Options, parts: int):
    """Both layers' latents (projected in the first two of `parts` progress parts where they have none)."""
    return latent_of(session, lower, options, 0, parts), latent_of(session, upper, options, 1, parts)


def interpolate(session: Session, lower: LayerData, upper: LayerData, options: Options,
                frames: int, mode: str, frame_ms: int) -> list:
    session.limits().check_frames(frames)
    a, b = _latents(session, lower, upper, options, 3)
    request = {"model": session.model, "a": a.latent, "b": b.latent, "frames": frames, "mode": mode}
    answers = session.call("Interpolate", request, "Interpolating", 2, 3)
    return [_on(lower, a.square, frame_name(frame["index"] + 1, frame_ms), frame["image"], frame.get("latent"))
            for frame in answers]


def style_mix(session: Session, content: LayerData, style: LayerData, options: Options, split: int) -> list:
    session.check_rows("Split", split)
    a, b = _latents(session, content, style, options, 3)
    request = {"model": session.model, "content": a.latent, "style": b.latent, "split": split}
    (result,) = session.call("StyleMix", request, "Mixing styles", 2, 3)
    name = f"Style mix of {content.name} + {style.name} (split {split}, {model_name(a.latent, session.model)})"
    return [_on(content, a.square, name, result["image"], result.get("latent"))]


MIX_SPACES = (("w", "Whole stylemap (StyleMapGAN)"), ("w_plus", "Every level"))  # a stylemap model's blends


def local_blend(session: Session, base: LayerData, other: LayerData, read_mask: Callable[[Bounds], Optional[bytes]],
                options: Options, start_layer: int, mix_space: str = "w") -> list:
    """`read_mask(square)`: the selection over a canvas square, 255 = take `other`; None when nothing is
    selected. The square is the one `base`'s latent stands for. `mix_space` (a stylemap model's blend,
    MIX_SPACES; W+ models have one kind of blend and are never sent it): "w" blends the stylemaps once
    (every level: `start_layer` is not used), and the result keeps the blend as its latent; "w_plus"
    blends every level from `start_layer` on."""
    square = square_of(session, base)
    mask = read_mask(square)
    if mask is None:
        raise UserError("Local blend needs a selection: select where the upper layer should be blended in.")
    stylemap = session.stylemap()
    if stylemap and mix_space not in dict(MIX_SPACES):
        raise UserError(f"Mix space is {mix_space!r}: choose one of {', '.join(dict(MIX_SPACES))}.")
    if stylemap and mix_space == "w":
        start_layer = 0
    session.check_rows("Blend from layer", start_layer)
    a, b = _latents(session, base, other, options, 3)
    request = {"model": session.model, "a": a.latent, "b": b.latent,
               "mask": mask_dict(square.width, square.width, mask), "start_layer": start_layer}
    if stylemap:
        request["mix_space"] = mix_space
    (result,) = session.call("LocalBlend", request, "Blending", 2, 3)
    model = model_name(a.latent, session.model)
    how = (f"from layer {start_layer}" if not stylemap else "whole stylemap" if mix_space == "w"
           else f"every level from {start_layer}")
    name = f"Local blend of {base.name} + {other.name} ({how}, {model})"
    return [_on(base, a.square, name, result["image"], result.get("latent"))]
