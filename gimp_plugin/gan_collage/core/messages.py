"""What a failed call means for the artist, and what to do about it.

The first line of every message is plain language: no field paths, metadata or status names. The
server's own words follow on later lines, for whoever needs the technical detail.
"""
from __future__ import annotations

import re

from server.shared.errors import CallError

from .session import ServerStopped
from .settings import Config

# "canvas.layers[2].image.rgba: " at the start of a server message
FIELD_PATH = re.compile(r"^\s*([A-Za-z_][\w]*(?:\[\d+\]|\.[A-Za-z_]\w*)*)\s*:\s*")
# the request fields the server may name, in the dialogs' words (the last one named wins)
FIELD_WORDS = {
    "canvas": "the image", "width": "the image size", "height": "the image size", "layers": "the layers",
    "image": "a layer", "mask": "a layer mask", "selection": "the selection", "region": "the region",
    "options": "the settings", "method": "Method", "steps": "Steps", "seed": "Seed", "feather": "Feather edges",
    "margin": "Margin", "model": "the model", "split": "Split", "start_layer": "Blend from layer",
    "frames": "Frames", "mode": "Interpolation mode", "a": "a layer's latent", "b": "a layer's latent",
    "content": "a layer's latent", "style": "a layer's latent", "latent": "a layer's latent",
    "mix_space": "Mix space", "first_layer": "Rows", "last_layer": "Rows", "edits": "the edits",
}
# What one model family cannot do, as the server refuses it: (the field it names, a word its reason
# holds) -> the artist's words. StyleGAN2 models keep W+ latents (rows), StyleMapGAN models stylemaps.
FAMILY = (
    ("mix_space", "stylemap", "The chosen model is a StyleGAN2 model, which blends one way only: Mix space is for "
     "StyleMapGAN models. Run Local blend without a mix space, or pick a StyleMapGAN model in Server settings."),
    ("collage", "stylemap", "Reading each layer of the collage on its own works with StyleMapGAN models only, and "
     "the chosen model is a StyleGAN2 model. Let it read the collage as one picture, or pick a StyleMapGAN model "
     "in Server settings."),
    ("kind", "", "A layer's latent was made by another kind of model than the chosen one (a StyleGAN2 model's W+ "
     "latent and a StyleMapGAN model's stylemap cannot stand in for each other). Project the layer again with "
     "this model (Project layer), or pick the model that made it in Server settings."),
    ("shape", "", "A layer's latent has another size than the chosen model's. Project the layer again with this "
     "model (Project layer), or pick the model that made it in Server settings."),
)
JARGON = re.compile(r"metadata|bearer|grpc|status|authorization|[A-Z]{2,}_[A-Z_]{2,}|\.proto|\w+\.\w+\[",
                    re.IGNORECASE)


def plain_reason(message: str) -> tuple[str, str]:
    """(what the server named, in the dialogs' words, or ""; its reason) from "field.path: reason"; the
    reason is "" when it is not plain language."""
    named, reason = "", message.strip()
    match = FIELD_PATH.match(reason)
    if match:
        reason = reason[match.end():]
        for part in reversed(re.split(r"[.\[\]]+", match.group(1))):
            if part in FIELD_WORDS:
                named = FIELD_WORDS[part]
                break
    reason = reason.splitlines()[0].rstrip(".") if reason else ""
    if JARGON.search(reason) or FIELD_PATH.match(reason) or len(reason) > 160:
        reason = ""
    return named, reason


def family_refusal(message: str) -> str:
    """The artist's words for what the model's family cannot do (FAMILY), or "" for any other refusal."""
    match = FIELD_PATH.match(message.strip())
    if match is None:
        return ""
    field = re.split(r"[.\[\]]+", match.group(1).rstrip("]"))[-1]
    reason = message.strip()[match.end():].lower()
    return next((text for name, word, text in FAMILY if field == name and word in reason), "")


def _refused(error: CallError) -> str:
    family = family_refusal(error.message)
    if family:
        return family
    named, reason = plain_reason(error.message)
    if named == "the model":
        return _no_such_model(reason)
    what = f"{named}: {reason}" if named and reason else reason or (f"{named} is not acceptable" if named else "")
    return (f"The GAN Collage server could not use what was sent ({what}). Change it in the dialog or the image "
            "and try again." if what else "The GAN Collage server could not use what was sent. Check the "
            "action's settings and the chosen layers, and try again.")


def _no_such_model(reason: str) -> str:
    return (f"The GAN Collage server does not have the chosen model{f' ({reason})' if reason else ''}. Pick one of "
            "its models in Server settings.")


def _first_line(error: CallError, config: Config) -> str:
    code = error.code
    if isinstance(error, ServerStopped):
        return (f"The GAN Collage server at {config.server} stopped while working on this (it was closed, or it "
                "crashed: the window where it ran says why). Start it again with: "
                f"{config.server_command()} - then run this again.")
    if code == "UNAVAILABLE":
        return (f"Cannot reach the GAN Collage server at {config.server}. Start it with: {config.server_command()}"
                " - or fix the address in Filters > Generative > GAN Collage > Server settings.")
    if code in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        if config.token:
            return ("The GAN Collage server did not accept the token in Server settings. Enter the token the "
                    "server was started with (its --token).")
        return "The GAN Collage server needs a token (it was started with --token). Enter it in Server settings."
    if code == "DEADLINE_EXCEEDED":
        return (f"The GAN Collage server did not finish within {config.timeout:g} seconds. Use fewer steps or a "
                "smaller selection, or raise \"timeout\" in the plug-in's settings file (gan-collage.json in "
                "GIMP's profile folder).")
    if code == "RESOURCE_EXHAUSTED":
        if "queue is full" in error.message:
            return "The GAN Collage server is busy with other work. Try again in a moment."
        if "limit" in error.message or "larger than max" in error.message:
            return ("This is more than the GAN Collage server takes at once. Select a smaller area, or use "
                    "fewer or smaller layers.")
        return ("The GAN Collage server ran out of memory. Try again with a smaller selection or fewer "
                "layers, or with fewer steps.")
    if code in ("INVALID_ARGUMENT", "OUT_OF_RANGE"):
        return _refused(error)
    if code == "NOT_FOUND":
        return _no_such_model(plain_reason(error.message)[1])
    if code == "FAILED_PRECONDITION":
        named, reason = plain_reason(error.message)
        return (f"The chosen model cannot do this{f' ({reason})' if reason else ''}. Pick another model in "
                "Server settings, or start the server with another --model.")
    if code == "CANCELLED":
        return "The GAN Collage job was cancelled."
    if code == "ABORTED":
        return "The GAN Collage server stopped the job (it may be shutting down). Try again."
    if code == "UNIMPLEMENTED":
        return ("This GAN Collage server is older than the plug-in and cannot do this. Update the server "
                "(in its folder: git pull, then python3 install.py).")
    return ("The GAN Collage server ran into a problem of its own. Try again; if it keeps happening, the "
            "terminal where the server runs says what went wrong.")


def explain(error: CallError, config: Config) -> str:
    """The artist's message for a failed call: a plain first line, then the technical detail."""
    detail = f"{error.code}: {error.message}" if error.message else error.code
    return f"{_first_line(error, config)}\n(Technical detail: {detail})"


# For a failure nothing above foresaw (a bug, or GIMP refusing something), where GIMP would show an empty message.
UNFORESEEN = ("GAN Collage ran into a problem of its own and stopped. Try again; if it keeps happening, please "
              "report it (with the technical detail, when there is one).")


def one_line(error: Exception, config: Config) -> str:
    """Why a preview failed, in one line of the artist's words (a CallError explained, else its text)."""
    return _first_line(error, config) if isinstance(error, CallError) else str(error).strip() or UNFORESEEN


def unforeseen(error: Exception) -> str:
    """The message for an exception no handler expected: UNFORESEEN, then the exception as technical detail."""
    return f"{UNFORESEEN}\n(Technical detail: {type(error).__name__}: {error})"
