"""What each menu action asks the server, and the layers it adds, on plain data (no GIMP here).

`gimp_io` turns the image into `LayerData`/`CanvasData` (layer_data.py) and `NewLayer`s back into GIMP
layers; the run functions in procedures/ only wire the two together. Requests are plain dicts with the
proto's field names (requests.py, server/shared/messages.py), so the same code serves both gRPC stacks.

Where results go: Realize reads only the region of interest (the rule in server/shared/region.py, shared
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

from typing import Callable, Optional

from server.shared.region import Bounds, Square

from .errors import UserError
from .latents import latent_of, square_of
from .layer_data import CanvasData, LayerData, NewLayer, Options
from .models import frame_name, made_by, model_name
from .requests import mask_dict, realize_request
from .session import Session


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
