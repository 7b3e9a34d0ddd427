#!/usr/bin/env python3
"""GAN Collage for GIMP 3: turn a rough collage into a realistic image with a local StyleGAN2 server.

Menu: Filters > Generative > GAN Collage. Each procedure is thin: gimp_io reads the image into plain
data, actions builds the requests and names the results, transport reaches the server, gimp_io adds
the new layers. Non-interactive calls (scripts, tests) take the same arguments with working defaults.
"""
import time

STARTED = time.time()  # noqa: E402  (the benchmark's "plug-in start" ends here and at run_action)

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from typing import Callable, NamedTuple  # noqa: E402

import gi  # noqa: E402

gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
from gi.repository import GLib, GObject, Gimp, GimpUi  # noqa: E402

import paths  # noqa: E402,F401  (vendor/ on sys.path first)
import actions  # noqa: E402
from server import defaults  # noqa: E402  (vendored)
import config as settings  # noqa: E402
import gimp_io  # noqa: E402
import transport  # noqa: E402

PREFIX = "python-fu-gan-collage-"
MENU = "<Image>/Filters/Generative/GAN Collage"
RW = GObject.ParamFlags.READWRITE
MAX_INT = 2**31 - 1
TIMINGS_ENV = "GAN_COLLAGE_TIMINGS"  # a file: each run appends a JSON line with its phases (benchmark)


def _choice(*entries):
    choice = Gimp.Choice.new()
    for index, (nick, label) in enumerate(entries):
        choice.add(nick, index, label, "")
    return choice


# ------------------------------------------------------------------------------------ arguments


def add_layers_argument(procedure):
    procedure.add_choice_argument("layers", "La_yers", "Which layers make the collage",
                                  _choice(("visible", "Visible layers"), ("selected", "Selected layers only")),
                                  "visible", RW)


def add_projection_arguments(procedure, methods, default):
    labels = {"regressor": "Regressor (fast)", "hybrid": "Hybrid (regressor, then optimization)",
              "optimize": "Optimization", "scribble": "Scribble (sparse strokes)"}
    procedure.add_choice_argument("method", "_Method", "How to find the latent",
                                  _choice(*[(m, labels[m]) for m in methods]), default, RW)
    procedure.add_int_argument("steps", "S_teps", "Optimization steps (not used by the regressor)",
                               1, defaults.MAX_STEPS, defaults.DEFAULT_STEPS, RW)
    add_seed_argument(procedure)


def add_seed_argument(procedure):
    procedure.add_int_argument("seed", "S_eed", "Same seed, same result", 0, MAX_INT, 0, RW)


def add_feather_argument(procedure):
    procedure.add_double_argument("feather", "_Feather edges (px)", "The new layer's mask fades in over this many "
                                  "pixels inside the selection's edge (0 = the selection as it is)",
                                  0.0, defaults.MAX_FEATHER, defaults.DEFAULT_FEATHER, RW)


def options_of(config) -> actions.Options:
    return actions.Options(config.get_property("method"), config.get_property("steps"), config.get_property("seed"))


def realize_options(config, method: str, steps: int) -> actions.Options:
    return actions.Options(method, steps, config.get_property("seed"), config.get_property("feather"))


# ------------------------------------------------------------------------------------ actions


def _canvas(session, image, config):
    resolution = session.resolution()
    selected_only = config.get_property("layers") == "selected"
    return session.timings.timed("read", lambda: gimp_io.read_canvas(image, resolution, selected_only))


def realize_fast(session, image, drawables, config):
    options = realize_options(config, "regressor", 0)
    return actions.realize(session, _canvas(session, image, config), options)


def realize_refine(session, image, drawables, config):
    options = realize_options(config, config.get_property("method"), config.get_property("steps"))
    return actions.realize(session, _canvas(session, image, config), options)


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
    mask = gimp_io.read_selection(image, base.box.square())
    return actions.local_blend(session, base, other, mask, options_of(config), config.get_property("start-layer"))


def _realize_arguments(procedure):
    add_layers_argument(procedure)
    add_seed_argument(procedure)
    add_feather_argument(procedure)


def _refine_arguments(procedure):
    add_layers_argument(procedure)
    add_projection_arguments(procedure, ("hybrid", "optimize", "scribble"), "hybrid")
    add_feather_argument(procedure)


def _project_arguments(procedure):
    add_projection_arguments(procedure, ("regressor", "hybrid", "optimize"), "regressor")


def _interpolate_arguments(procedure):
    _project_arguments(procedure)
    procedure.add_int_argument("frames", "_Frames", "Frames, both ends included", 2, 256, 8, RW)
    procedure.add_choice_argument("mode", "Interpolation mo_de", "Path between the two latents",
                                  _choice(("linear", "Linear"), ("slerp", "Spherical (around the average)")),
                                  "linear", RW)
    procedure.add_int_argument("frame-ms", "Frame dela_y (ms)", "Written into the frame names for playback",
                               1, 60000, 100, RW)


def _mix_arguments(procedure):
    _project_arguments(procedure)
    procedure.add_int_argument("split", "S_plit", "Latent rows before this come from the lower layer "
                               "(layout, pose), the rest from the upper one (colour, texture)", 0, 64, 4, RW)


def _blend_arguments(procedure):
    _project_arguments(procedure)
    procedure.add_int_argument("start-layer", "_Blend from layer", "Blend from this generator layer on "
                               "(0 = all; higher keeps more of the lower layer's structure)", 0, 64, 0, RW)


ANY = (Gimp.ProcedureSensitivityMask.DRAWABLE | Gimp.ProcedureSensitivityMask.DRAWABLES
       | Gimp.ProcedureSensitivityMask.NO_DRAWABLES)
ONE, TWO = Gimp.ProcedureSensitivityMask.DRAWABLE, Gimp.ProcedureSensitivityMask.DRAWABLES


class Action(NamedTuple):
    label: str
    blurb: str
    run: Callable  # (session, image, drawables, config) -> [actions.NewLayer]
    arguments: Callable  # (procedure) -> None
    sensitivity: Gimp.ProcedureSensitivityMask


ACTIONS = {
    "realize": Action("Realize collage - _fast", "Realize the collage with the latent regressor (one pass) as a "
                      "new layer that fills the selection, or the canvas", realize_fast, _realize_arguments, ANY),
    "refine": Action("Realize collage - _refine", "Realize the collage by optimization (hybrid: starting from "
                     "the regressor): slower, closer to the collage", realize_refine, _refine_arguments, ANY),
    "project": Action("_Project layer", "Add a layer's GAN reconstruction as a new layer above it",
                      project_layer, _project_arguments, ONE),
    "interpolate": Action("_Interpolate two layers", "Frames from the lower selected layer to the upper one, "
                          "as new layers named for animation playback", interpolate_layers,
                          _interpolate_arguments, TWO),
    "style-mix": Action("_Mix styles", "Layout of the lower selected layer with the colours and texture of "
                        "the upper one", mix_styles, _mix_arguments, TWO),
    "local-blend": Action("_Local blend", "Blend the upper selected layer into the lower one where the "
                          "selection is", blend_locally, _blend_arguments, TWO),
}


# ------------------------------------------------------------------------------------ running


def settings_path():
    return settings.path_in(Gimp.directory())


def _failure(procedure, message, status=Gimp.PDBStatusType.EXECUTION_ERROR):
    return procedure.new_return_values(status, GLib.Error(message))


def _dialog(procedure, config, names=None) -> bool:
    GimpUi.init(procedure.get_name())
    dialog = GimpUi.ProcedureDialog(procedure=procedure, config=config)
    dialog.fill(names)
    confirmed = dialog.run()
    dialog.destroy()
    return confirmed


def write_timings(name: str, entered: float, timings: actions.Timings) -> None:
    """Append this run's phases to the file $GAN_COLLAGE_TIMINGS names (the click-to-layer benchmark)."""
    path = os.environ.get(TIMINGS_ENV)
    if path:
        entry = {"procedure": name, "process_started": STARTED, "entered": entered, "finished": time.time(),
                 "seconds": timings.seconds, **timings.counts}
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")


def run_action(procedure, run_mode, image, drawables, config, data):
    """Dialog, read the image, call the server, add the layers; an error leaves the image as it was."""
    entered = time.time()
    action = ACTIONS[procedure.get_name().removeprefix(PREFIX)]
    if image is None:
        return _failure(procedure, "GAN Collage needs an image.", Gimp.PDBStatusType.CALLING_ERROR)
    if run_mode == Gimp.RunMode.INTERACTIVE and not _dialog(procedure, config):
        return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    progress = None
    try:
        setup = settings.load(settings_path())
        progress = gimp_io.Progress(procedure.get_menu_label().replace("_", "").rstrip("."))
        with transport.connect(setup) as connection:
            session = actions.Session(connection.client, setup.model, setup.timeout, progress)
            layers = action.run(session, image, drawables, config)
        added = session.timings.timed("write", lambda: gimp_io.insert_layers(image, drawables, layers))
    except transport.CallError as exc:
        if exc.code == "CANCELLED":
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
        return _failure(procedure, transport.explain(exc, setup))
    except (actions.UserError, settings.ConfigError, transport.TransportError) as exc:
        return _failure(procedure, str(exc))
    finally:
        if progress is not None:
            progress.end()
    write_timings(procedure.get_name(), entered, session.timings)
    values = procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())
    values.remove(1)
    values.insert(1, GObject.Value(Gimp.Layer, added[-1]))
    return values


# ------------------------------------------------------------------------------------ settings

SETTINGS_FIELDS = {"server": "server", "token": "token", "model": "model", "transport": "transport",
                   "bridge-python": "bridge_python", "project-root": "project_root"}


def check_connection(setup) -> str:
    """One line about the server and its models; CallError/TransportError when it cannot be reached."""
    with transport.connect(setup) as connection:
        (info,) = [e["result"] for e in connection.client.call("GetServerInfo", {}, 30)]
        (listing,) = [e["result"] for e in connection.client.call("ListModels", {}, 30)]
        description = connection.description
    models = ", ".join(f"{m['name']} ({m['resolution']} px{', regressor' if m['has_regressor'] else ''}"
                       f"{'' if m['available'] else ', unavailable'})" for m in listing["models"])
    text = (f"GAN Collage server {info['version']} at {setup.server} on {info['device']}, via {description}. "
            f"Models: {models}.")
    if setup.model and setup.model not in {m["name"] for m in listing["models"]}:
        raise actions.UserError(f"{text}\nThe model {setup.model!r} is not on this server.")
    return text


def run_settings(procedure, config, data):
    """Show (interactive) and save the settings file's values, then test the connection. A damaged file
    is replaced; the settings are saved even when the test fails."""
    run_mode = config.get_property("run-mode")
    path = settings_path()
    try:
        setup, note = settings.load(path), ""
    except settings.ConfigError as exc:
        setup, note = settings.Config(), f" (the old file was unreadable and was replaced: {exc})"
    if run_mode != Gimp.RunMode.NONINTERACTIVE:
        for prop, field in SETTINGS_FIELDS.items():
            config.set_property(prop, getattr(setup, field))
    if run_mode == Gimp.RunMode.INTERACTIVE and not _dialog(procedure, config, [*SETTINGS_FIELDS, "test-connection"]):
        return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    for prop, field in SETTINGS_FIELDS.items():
        setattr(setup, field, config.get_property(prop).strip())
    try:
        settings.save(path, setup)
    except (settings.ConfigError, OSError) as exc:
        return _failure(procedure, f"GAN Collage settings were not saved: {exc}")
    report = f"Settings saved in {path}{note}."
    if config.get_property("test-connection"):
        try:
            report += "\n" + check_connection(setup)
        except transport.CallError as exc:
            return _failure(procedure, f"{report}\n{transport.explain(exc, setup)}")
        except (actions.UserError, transport.TransportError) as exc:
            return _failure(procedure, f"{report}\n{exc}")
    if run_mode == Gimp.RunMode.INTERACTIVE:
        Gimp.message(report)
    values = procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())
    values.remove(1)
    values.insert(1, GObject.Value(GObject.TYPE_STRING, report))
    return values


def _settings_arguments(procedure):
    default = settings.Config()
    procedure.add_enum_argument("run-mode", "Run mode", "The run mode", Gimp.RunMode,
                                Gimp.RunMode.NONINTERACTIVE, RW)
    procedure.add_string_argument("server", "Server _address", "HOST:PORT of `python -m server`",
                                  default.server, RW)
    procedure.add_string_argument("token", "_Token", "The server's --token, if it has one", "", RW)
    procedure.add_string_argument("model", "_Model", "A model name the server lists; empty = its default", "", RW)
    procedure.add_choice_argument("transport", "Trans_port", "How GIMP reaches the server",
                                  _choice(("auto", "Automatic"), ("direct", "Direct gRPC"),
                                          ("bridge", "Bridge (the server environment's Python)")),
                                  default.transport, RW)
    procedure.add_string_argument("bridge-python", "_Bridge Python", "The server environment's Python, for "
                                  "the bridge (set by install.py)", "", RW)
    procedure.add_string_argument("project-root", "Project _folder", "The GAN Collage folder, for the bridge "
                                  "(set by install.py)", "", RW)
    procedure.add_boolean_argument("test-connection", "Test the co_nnection", "Ask the server for its models "
                                   "after saving", True, RW)
    procedure.add_string_return_value("report", "Report", "What was saved and what the server said", "", RW)


# ------------------------------------------------------------------------------------ plug-in


class GanCollage(Gimp.PlugIn):
    def do_query_procedures(self):
        return [PREFIX + name for name in ACTIONS] + [PREFIX + "settings"]

    def do_set_i18n(self, name):
        return False

    def do_create_procedure(self, name):
        short = name.removeprefix(PREFIX)
        if short == "settings":
            procedure = Gimp.Procedure.new(self, name, Gimp.PDBProcType.PLUGIN, run_settings, None)
            procedure.set_menu_label("Server _settings...")
            procedure.set_documentation("GAN Collage server settings",
                                        "Server address, token, model and transport, saved in the GIMP profile's "
                                        f"{settings.FILE_NAME}; then a connection test.", name)
            _settings_arguments(procedure)
        else:
            action = ACTIONS[short]
            procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, run_action, None)
            procedure.set_image_types("RGB*, GRAY*")
            procedure.set_sensitivity_mask(action.sensitivity)
            procedure.set_menu_label(action.label + "...")
            procedure.set_documentation(action.blurb, action.blurb + ". Needs a running GAN Collage server "
                                        "(see Server settings).", name)
            action.arguments(procedure)
            procedure.add_layer_return_value("layer", "Layer", "The new layer (the top one when there are several)",
                                             True, RW)
        procedure.add_menu_path(MENU)
        procedure.set_attribution("GAN Collage", "GAN Collage", "2025")
        return procedure


Gimp.main(GanCollage.__gtype__, sys.argv)
