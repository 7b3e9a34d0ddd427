"""The image actions' run function: the dialog, the settings, a session, the action's body, the new layers.

Each body takes (session, image, drawables, config) and gives the core.layer_data.NewLayer list to add;
an error leaves the image as it was.
"""
from __future__ import annotations

import dataclasses
import time

import gi

gi.require_version("Gimp", "3.0")
from gi.repository import Gimp, GObject  # noqa: E402

import gimp_io  # noqa: E402
from core import actions, attributes, observer  # noqa: E402
from core import settings as settings_file  # noqa: E402
from core.connection import CallError, TransportError, connect  # noqa: E402
from core.errors import Cancelled, UserError  # noqa: E402
from core.latents import latent_of  # noqa: E402
from core.layer_data import Options  # noqa: E402
from core.messages import one_line  # noqa: E402
from core.outcome import EXPECTED, Outcome, outcome_of  # noqa: E402
from core.session import Session  # noqa: E402
from procedures.returns import answer  # noqa: E402
from ui import dialogs, edit_dialog  # noqa: E402

PREFIX = "python-fu-gan-collage-"
INDEXED = ("GAN Collage works on RGB and grayscale images; this one is indexed (a palette of colours), and its "
           "results would be reduced to that palette. Convert it with Image > Mode > RGB, then run this again.")


def settings_path():
    return settings_file.path_in(Gimp.directory())


def options_of(config) -> Options:
    return Options(config.get_property("method"), config.get_property("steps"), config.get_property("seed"))


def realize_options(config, method: str, steps: int = 0, seed: int = 0) -> Options:
    return Options(method, steps, seed, config.get_property("feather"), config.get_property("margin"))


def _canvas(session, image, config, options):
    session.limits().check_canvas(image.get_width(), image.get_height())
    resolution = session.resolution()
    selected_only = config.get_property("layers") == "selected"
    with_results = config.get_property("include-results")
    return session.timings.timed("read", lambda: gimp_io.read_canvas(image, resolution, selected_only, with_results,
                                                                     options.margin))


def realize_fast(session, image, drawables, config):
    options = realize_options(config, "regressor")
    return actions.realize(session, _canvas(session, image, config, options), options)


def realize_refine(session, image, drawables, config):
    options = realize_options(config, config.get_property("method"), config.get_property("steps"),
                              config.get_property("seed"))
    return actions.realize(session, _canvas(session, image, config, options), options)


def project_layer(session, image, drawables, config):
    return actions.project(session, gimp_io.one_layer(image, drawables), options_of(config))


def interpolate_layers(session, image, drawables, config):
    lower, upper = gimp_io.two_layers(image, drawables)
    return actions.interpolate(session, lower, upper, options_of(config), config.get_property("frames"),
                               config.get_property("mode"), config.get_property("frame-ms"))


def mix_styles(session, image, drawables, config):
    content, style = gimp_io.two_layers(image, drawables)
    return actions.style_mix(session, content, style, options_of(config), config.get_property("split"))


def blend_locally(session, image, drawables, config):
    base, other = gimp_io.two_layers(image, drawables)
    return actions.local_blend(session, base, other, lambda square: gimp_io.read_selection(image, square),
                               options_of(config), config.get_property("start-layer"),
                               config.get_property("mix-space"))


def edit_attributes(session, image, drawables, config, interactive: bool, setup: settings_file.Config):
    """Interactive: the layer's latent (projected first when it has none), then the dialog with the last
    edits; the edits chosen are kept in the config (GIMP remembers them for the next run)."""
    layer = gimp_io.one_layer(image, drawables)
    options, text, rows = options_of(config), config.get_property("edits"), config.get_property("rows")
    if not interactive:
        return attributes.edit(session, layer, options, text, rows)
    stored = latent_of(session, layer, options)
    directions = attributes.list_directions(session)
    try:
        last = attributes.parse(text, directions)
    except UserError:  # written for another model
        last = []
    chosen = edit_dialog.run(session, layer.name, stored, attributes.offered(directions), last, rows,
                             lambda error: one_line(error, setup))
    if chosen is None:
        raise Cancelled()
    edits, rows, result = chosen
    config.set_property("edits", attributes.written(edits))
    config.set_property("rows", rows)
    return [attributes.result_layer(layer, stored, edits, rows, result or attributes.apply(session, stored, edits,
                                                                                           rows))]


BODIES = {"realize": realize_fast, "refine": realize_refine, "project": project_layer,
          "interpolate": interpolate_layers, "style-mix": mix_styles, "local-blend": blend_locally,
          "edit": edit_attributes}
OWN_DIALOG = {"edit"}  # their body shows its dialog itself (it needs the server): body(..., interactive, setup)


def chosen_model(config):
    """The chosen model as ListModels lists it, for the dialog's ranges and the controls that depend on
    its family (split, start-layer, mix-space); None when the dialog has none of them or the server
    cannot say."""
    if not {"split", "start-layer"} & {spec.name for spec in config.list_properties()}:
        return None
    try:
        setup = dataclasses.replace(settings_file.load(settings_path()), timeout=10)
        with connect(setup) as connection:
            return Session(connection, setup.model, setup.timeout, lambda text, fraction: None).model_info()
    except (CallError, TransportError, settings_file.ConfigError, UserError):
        return None  # the run itself will say what is wrong


def refused_image(procedure, image):
    """The answer for an image GAN Collage cannot work on (none, or indexed); None when it can."""
    if image is None:
        return answer(procedure, Outcome.WRONG_CALL, "GAN Collage needs an image.")
    if image.get_base_type() == Gimp.ImageBaseType.INDEXED:
        return answer(procedure, Outcome.FAILED, INDEXED)
    return None


def run_action(procedure, run_mode, image, drawables, config, data):
    """Dialog, read the image, call the server, add the layers; an error leaves the image as it was."""
    entered = time.time()
    name = procedure.get_name().removeprefix(PREFIX)
    refusal = refused_image(procedure, image)
    if refusal is not None:
        return refusal
    if (run_mode == Gimp.RunMode.INTERACTIVE and name not in OWN_DIALOG
            and not dialogs.run(procedure, config, model=chosen_model(config))):
        return answer(procedure, Outcome.CANCELLED)
    progress, setup = None, None
    try:
        setup = settings_file.load(settings_path())
        progress = gimp_io.Progress(procedure.get_menu_label().replace("_", "").rstrip("."))
        with connect(setup) as connection:
            session = Session(connection, setup.model, setup.timeout, progress)
            extra = {"interactive": run_mode == Gimp.RunMode.INTERACTIVE, "setup": setup} if name in OWN_DIALOG else {}
            layers = BODIES[name](session, image, drawables, config, **extra)
        added = session.timings.timed("write", lambda: gimp_io.insert_layers(image, drawables, layers))
    except EXPECTED as exc:
        return answer(procedure, *outcome_of(exc, setup))
    finally:
        if progress is not None:
            progress.end()
    observer.current.record("timings", {"procedure": procedure.get_name(), "entered": entered,
                                        "finished": time.time(), "seconds": session.timings.seconds,
                                        **session.timings.counts})
    if session.notes:
        Gimp.message("\n".join(session.notes))
    return answer(procedure, Outcome.DONE, value=GObject.Value(Gimp.Layer, added[-1]))
