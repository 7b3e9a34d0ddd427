"""A ListModels entry in the plug-in's words: its latent's kind, shape and levels, its label in model lists,
and the names results get after the model and method that made them."""
from __future__ import annotations

from .latent_parasite import STYLEMAP, W_PLUS
from .layer_data import Options


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


def model_label(model: dict, say_no_regressor: bool = False) -> str:
    """"faces (256 px, 14 latent rows, regressor)", "cars (256 px, 8x8x64 stylemap, no regressor)": a model
    in the dialogs' and Live preview's lists."""
    details = [f"{model['resolution']} px", latent_words(model)]
    if model["has_regressor"]:
        details.append("regressor")
    elif say_no_regressor:
        details.append("no regressor")
    if not model["available"]:
        details.append("unavailable")
    return f"{model['name']} ({', '.join(details)})"
