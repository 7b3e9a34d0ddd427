"""A layer's own latent when it can serve the session's model, else its projection: no second projection,
no drift (see actions.py)."""
from __future__ import annotations

from typing import Optional

from server.shared.region import Bounds

from .latent_parasite import Stored, kind_of, shape_of
from .layer_data import LayerData, Options
from .models import model_kind, model_shape
from .session import Session


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
